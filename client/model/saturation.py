"""How often a compiled network's clamps bite: per dense layer, the fraction of outputs that
sit at a saturating bound, on the calibration data and on inputs in the declared margins.

Input quantization never saturates (it covers exactly the declared range the chain accepts,
docs/model-format.md 1.3), so what is left are the hidden activations: INT8 ones are calibrated
on the calibration data and may saturate on margin inputs; INT16 ones also cover the margins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .compiler import margin_rows
from .qmodel import QDense, QModel
from .reference import execute, features_to_q16

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class LayerSaturation:
    op: int  # index in the op table
    layer: str  # "dense 0 (4->8 I8)"
    calibration: float  # fraction of (row, unit) outputs at a saturating bound
    margin: float


def _saturated(op: QDense, out: NDArray[np.int64]) -> float:
    # A fused ReLU's lower bound is the zero point: reaching it is the ReLU, not saturation.
    at = out >= op.hi
    if op.lo != op.zp_out:
        at |= out <= op.lo
    return float(at.mean()) if out.size else 0.0


def saturation_rates(qm: QModel, calibration: F64, *, seed: int = 0) -> list[LayerSaturation]:
    """Per dense layer, the saturation rate on ``calibration`` and on margin inputs."""
    x_cal = np.clip(features_to_q16(calibration), qm.input.lo, qm.input.hi)
    x_margin = np.clip(
        features_to_q16(margin_rows(calibration, qm.input.lo, qm.input.hi, seed=seed)),
        qm.input.lo,
        qm.input.hi,
    )
    cal = execute(qm, x_cal)
    mar = execute(qm, x_margin)
    out = []
    k = 0
    for i, op in enumerate(qm.ops):
        if isinstance(op, QDense):
            out.append(
                LayerSaturation(
                    op=i,
                    layer=f"dense {k} ({op.n_in}->{op.n_out} {op.dtype.name})",
                    calibration=_saturated(op, cal.layers[i]),
                    margin=_saturated(op, mar.layers[i]),
                )
            )
            k += 1
    return out


__all__ = ["LayerSaturation", "saturation_rates"]
