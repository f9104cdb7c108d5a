"""`precision="auto"`: INT8 where it is good enough, INT16 for the layers that need it.

The calibration data is split (seeded) into a fitting part and a held-out part (20 %; small
held-out sets are topped up to 1,000 rows with jittered copies of themselves, and half as many
rows again are drawn in the declared margins, which the chain accepts too).  Starting from
INT8 everywhere, the compiler measures agreement with the float model on the held-out rows
(classifiers: top-1 agreement; regressors: R² of the quantized outputs against the float ones)
and, while it is below the target (99 %), promotes to INT16 the one dense layer whose promotion
raises agreement the most.  The chosen per-layer precisions are then compiled on the whole
calibration set.  Trees have no weight precision; they compile as usual.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from .compiler import InputRange, _declared_range, _layer_groups, compile_model, margin_rows
from .ir import FloatModel, Head
from .qmodel import DType, Layout, QModel
from .reference import execute, features_to_q16

F64 = NDArray[np.float64]
TARGET_AGREEMENT = 0.99
HOLDOUT = 0.2
EVAL_ROWS = 1000


@dataclass(frozen=True)
class Trial:
    precisions: tuple[str, ...]
    agreement: float


@dataclass(frozen=True)
class AutoResult:
    qmodel: QModel
    precisions: tuple[str, ...]  # per dense layer, "int8" / "int16" (empty for trees)
    agreement: float  # held-out agreement of the chosen precisions
    metric: str  # "top-1 agreement" or "R² vs float"
    n_holdout: int
    trials: list[Trial] = field(default_factory=list)

    @property
    def meets_target(self) -> bool:
        return self.agreement >= TARGET_AGREEMENT


def agreement(model: FloatModel, qm: QModel, x: F64) -> float:
    """Classifiers: top-1 agreement with the float model; regressors: R² of the quantized
    outputs against the float outputs (1.0 when they are identical)."""
    x_fx = np.clip(features_to_q16(x), qm.input.lo, qm.input.hi)
    trace = execute(qm, x_fx)
    fl = model.forward(x)
    if model.head is not Head.NONE:
        return float((trace.classes == fl.classes).mean())
    q = trace.outputs.astype(np.float64) * 2.0**-qm.out_frac_bits
    f = fl.outputs
    ss = float(((f - f.mean(axis=0)) ** 2).sum())
    err = float(((q - f) ** 2).sum())
    return 1.0 - err / ss if ss > 0 else (1.0 if err == 0 else 0.0)


def _name(d: DType) -> str:
    return f"int{8 * d.nbytes}"


def compile_auto(
    model: FloatModel,
    calibration: NDArray[np.floating],
    *,
    input_range: InputRange | None = None,
    range_margin: float = 0.25,
    prefer: str = "size",
    layout: Layout | None = None,
    check_feasible: bool = True,
    target: float = TARGET_AGREEMENT,
    seed: int = 0,
) -> AutoResult:
    calib = np.asarray(calibration, dtype=np.float64)

    def build(
        rows: F64, p: int | tuple[DType, ...], rng_: InputRange | None, check: bool
    ) -> QModel:
        return compile_model(
            model,
            rows,
            p,
            input_range=rng_,
            range_margin=range_margin,
            prefer=prefer,
            layout=layout,
            check_feasible=check,
        )

    if model.is_trees:
        qm = build(calib, 8, input_range, check_feasible)
        return AutoResult(qm, (), agreement(model, qm, calib), _metric(model), calib.shape[0])
    # The final model is compiled (and its ranges derived) from all the data; trials declare
    # the same range explicitly so the split does not narrow it.
    if input_range is None and calib.ndim == 2 and calib.shape[0] >= 2:
        lo, hi = _declared_range(calib, None, range_margin, model.n_features)
        trial_range: InputRange | None = (list(lo / 65536.0), list(hi / 65536.0))
    else:
        trial_range = input_range
    n = calib.shape[0]
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    n_hold = round(HOLDOUT * n)
    if n < 10 or n_hold < 1:
        fit_rows, hold = calib, calib  # too few rows to hold any out: measure on all of them
    else:
        fit_rows, hold = calib[perm[n_hold:]], calib[perm[:n_hold]]
    hold = _evaluation_rows(hold, calib, rng)
    if trial_range is not None:
        # Inputs in the declared margins are accepted by the chain too: half as many of them.
        lo_fx = features_to_q16(
            np.broadcast_to(np.asarray(trial_range[0], float), (calib.shape[1],))
        )
        hi_fx = features_to_q16(
            np.broadcast_to(np.asarray(trial_range[1], float), (calib.shape[1],))
        )
        hold = np.vstack([hold, margin_rows(calib, lo_fx, hi_fx, n=hold.shape[0] // 2, seed=seed)])
    n_layers = len(_layer_groups(model))
    trials: list[Trial] = []

    def score(p: tuple[DType, ...]) -> float:
        qm = build(fit_rows, p, trial_range, False)
        a = agreement(model, qm, hold)
        trials.append(Trial(tuple(_name(d) for d in p), a))
        return a

    current = tuple([DType.I8] * n_layers)
    best = score(current)
    while best < target and DType.I8 in current:
        options = []
        for k in range(n_layers):
            if current[k] is DType.I8:
                p = (*current[:k], DType.I16, *current[k + 1 :])
                options.append((score(p), -k, p))
        best, _, current = max(options)
    qm = build(calib, current, input_range, check_feasible)
    return AutoResult(
        qmodel=qm,
        precisions=tuple(_name(d) for d in current),
        agreement=best,
        metric=_metric(model),
        n_holdout=hold.shape[0],
        trials=trials,
    )


def _evaluation_rows(
    hold: F64, calib: F64, rng: np.random.Generator, n_min: int = EVAL_ROWS
) -> F64:
    """The held-out rows, plus jittered copies of them (Gaussian noise of 5 % of each feature's
    spread, kept inside the calibrated box) until there are ``n_min``: a few dozen held-out rows
    would let one unlucky row decide, and inputs near the data are what the model will see."""
    if hold.shape[0] >= n_min:
        return hold
    copies = -(-n_min // hold.shape[0]) - 1
    spread = calib.std(axis=0)
    jitter = hold[None] + rng.normal(0, 0.05, (copies, *hold.shape)) * spread
    jitter = np.clip(jitter, calib.min(axis=0), calib.max(axis=0))
    out: F64 = np.vstack([hold, jitter.reshape(-1, hold.shape[1])])
    return out


def _metric(model: FloatModel) -> str:
    return "top-1 agreement" if model.head is not Head.NONE else "R² vs float"


__all__ = ["TARGET_AGREEMENT", "AutoResult", "Trial", "agreement", "compile_auto"]
