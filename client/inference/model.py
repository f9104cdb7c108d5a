"""A registered model resolved for inference: header, active weights and the decoded file."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from solders.pubkey import Pubkey

from ..chain.base import Chain
from ..model.format import decode
from ..model.qmodel import QModel, Task
from ..program import PROGRAM_ID
from ..registry.accounts import ModelInfo, VersionInfo
from .errors import InferenceError


@dataclass(frozen=True)
class ModelHandle:
    """What `infer` needs about a model: its accounts, and the file for local checks."""

    address: Pubkey
    weights: Pubkey
    version: int
    data: bytes
    qmodel: QModel

    @property
    def n_features(self) -> int:
        return self.qmodel.n_features

    @property
    def is_classifier(self) -> bool:
        return self.qmodel.task is Task.CLASSIFICATION

    @property
    def out_frac_bits(self) -> int:
        return self.qmodel.out_frac_bits

    @property
    def lo_fx(self) -> NDArray[np.int64]:
        return self.qmodel.input.lo

    @property
    def hi_fx(self) -> NDArray[np.int64]:
        return self.qmodel.input.hi

    def label(self, class_id: int) -> str | None:
        labels = self.qmodel.labels
        if not self.is_classifier or not 0 <= class_id < len(labels):
            return None
        return str(labels[class_id])


async def load_model(chain: Chain, address: Pubkey) -> ModelHandle:
    """Resolve a model header to its active version and download the model file."""
    acc = await chain.get_account(address)
    if acc is None:
        raise InferenceError(f"model {address} does not exist on {chain.name}")
    if acc.owner != PROGRAM_ID:
        raise InferenceError(f"account {address} is not owned by the ml_agent program")
    try:
        info = ModelInfo.decode(address, bytes(acc.data), acc.lamports)
    except ValueError as e:
        raise InferenceError(f"{address} is not a model header: {e}") from None
    if info.status not in ("ready", "frozen") or info.active_weights is None:
        raise InferenceError(f"model {address} has no active version (status {info.status})")
    wacc = await chain.get_account(info.active_weights)
    if wacc is None:
        raise InferenceError(f"active weights account {info.active_weights} is missing")
    raw = bytes(wacc.data)
    version = VersionInfo.decode(info.active_weights, raw, wacc.lamports, len(raw))
    if version.data is None:
        raise InferenceError(f"weights account {info.active_weights} is shorter than its model")
    return ModelHandle(
        address=address,
        weights=info.active_weights,
        version=version.version,
        data=version.data,
        qmodel=decode(version.data),
    )
