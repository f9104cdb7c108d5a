"""PyTorch importer: ``nn.Sequential`` of Linear / ReLU / Sigmoid / Tanh (plus Hardsigmoid,
Softmax as the last module, and the no-ops Identity, Flatten, Dropout).

torch is imported lazily; tests exercise this path only where torch imports, and the same
architectures are covered through ONNX files exported from torch (tests/fixtures).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import UnsupportedModelError
from ..ir import Activation, ActivationLayer, DenseLayer, Head, Layer
from ._chain import finish_chain

_ACTS = {"ReLU": Activation.RELU, "Sigmoid": Activation.SIGMOID, "Tanh": Activation.TANH}
_NOOPS = {"Identity", "Flatten", "Dropout"}


def import_torch(
    module: Any,
    *,
    labels: Sequence[int | str] | None = None,
    task: str | None = None,
    name: str = "torch",
) -> Any:
    """Convert an ``nn.Sequential``; returns a FloatModel (see ``finish_chain`` for heads)."""
    import torch  # noqa: F401  (fail early with ImportError when torch is absent)

    if type(module).__name__ != "Sequential":
        raise UnsupportedModelError(f"only nn.Sequential is supported, got {type(module).__name__}")
    layers: list[Layer] = []
    head = Head.NONE
    width = 0
    n_features = 0
    for idx, sub in enumerate(module):
        kind = type(sub).__name__
        label = f"module {idx} ({kind})"
        if head is not Head.NONE:
            raise UnsupportedModelError(f"{label} after the final Softmax is not supported")
        if kind == "Linear":
            w = sub.weight.detach().cpu().double().numpy()
            b = (
                sub.bias.detach().cpu().double().numpy()
                if sub.bias is not None
                else np.zeros(w.shape[0])
            )
            if layers and w.shape[1] != width:
                raise UnsupportedModelError(f"{label}: expects {w.shape[1]} inputs, got {width}")
            if not layers:
                n_features = int(w.shape[1])
            layers.append(DenseLayer(w.copy(), b.copy()))
            width = int(w.shape[0])
        elif kind in _ACTS or kind == "Hardsigmoid":
            if not layers:
                raise UnsupportedModelError(f"{label}: activation before the first Linear")
            if kind == "Hardsigmoid":
                layers.append(ActivationLayer(Activation.HARD_SIGMOID, 1.0 / 6.0, 0.5))
            else:
                layers.append(ActivationLayer(_ACTS[kind]))
        elif kind == "Softmax":
            if getattr(sub, "dim", -1) not in (-1, 1, None):
                raise UnsupportedModelError(f"{label}: Softmax over dim {sub.dim} unsupported")
            head = Head.SOFTMAX
        elif kind in _NOOPS:
            continue
        else:
            raise UnsupportedModelError(f"unsupported module {label}")
    if not layers:
        raise UnsupportedModelError("the Sequential has no Linear layer")
    return finish_chain(layers, head, width, n_features, labels, task, name, "torch")
