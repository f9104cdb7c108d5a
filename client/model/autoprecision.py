"""`precision="auto"`: INT8 where it is good enough, INT16 for the layers that need it.

The calibration data is split (seeded) into a fitting part and a held-out part (20 %; small
held-out sets are topped up to 2,000 rows with jittered copies of themselves, and half as many
rows again are drawn in the declared margins, which the chain accepts too).  Starting from
INT8 everywhere, the compiler measures on those rows (``assess``) the agreement with the float
model (classifiers: top-1 agreement; regressors: R² of the quantized outputs against the float
ones) and, for classifiers, the fraction of rows *at risk*: rows that agree, but whose float
decision gap is within the largest logit error quantization made on the near-data rows, so
the same error on a neighbouring input could flip the class.  While agreement is below the
target (99 %) or more than 1 in 1,000 rows are at risk, it promotes to INT16 the one dense
layer whose promotion scores best (agreement minus at-risk).  The chosen per-layer precisions
are then compiled on the whole calibration set.  Trees have no weight precision; they compile
as usual.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from .compiler import InputRange, _declared_range, _layer_groups, compile_model, margin_rows
from .conv_compiler import has_sequence_layers, weighted_layer_count
from .ir import DenseLayer, FloatModel, Head, RecurrentLayer
from .qmodel import DType, Layout, QDense, QModel, QSoftmax
from .reference import execute, features_to_q16

F64 = NDArray[np.float64]
TARGET_AGREEMENT = 0.99
# At most this fraction of the evaluation rows (1 in 1,000, a tenth of the 1 % disagreement
# budget) may agree only by less than the logit error bound: agreement that rests on such
# near-ties is luck, and a test set of a few dozen rows that holds one of them loses 2 %.
AT_RISK_LIMIT = 0.001
HOLDOUT = 0.2
EVAL_ROWS = 2000


@dataclass(frozen=True)
class Assessment:
    """How a quantized model tracks the float one on the evaluation rows.

    ``agreement`` is top-1 agreement (classifiers) or R² of the quantized outputs against the
    float ones (regressors).  For classifiers, ``error_bound`` is the largest
    |quantized - float| logit error on the near-data rows, and ``at_risk`` the fraction of
    rows that agree only by less than that: the float decision gap (top-1 minus top-2 logit;
    |logit| for a binary head) is within the error two logits can make (2 x bound; 1 x for a
    binary head), so the same quantization noise on a nearby input could flip the class.
    Auto promotes until agreement >= 99 % and ``at_risk`` <= ``AT_RISK_LIMIT``.  Regressors
    have no decision gap (``at_risk`` 0).
    """

    agreement: float
    at_risk: float = 0.0
    error_bound: float = 0.0

    @property
    def score(self) -> float:
        return self.agreement - self.at_risk

    def meets(self, target: float = TARGET_AGREEMENT) -> bool:
        return self.agreement >= target and self.at_risk <= AT_RISK_LIMIT


@dataclass(frozen=True)
class Trial:
    precisions: tuple[str, ...]
    agreement: float
    at_risk: float = 0.0


@dataclass(frozen=True)
class AutoResult:
    qmodel: QModel
    precisions: tuple[str, ...]  # per dense layer, "int8" / "int16" (empty for trees)
    agreement: float  # held-out agreement of the chosen precisions
    metric: str  # "top-1 agreement" or "R² vs float"
    n_holdout: int
    trials: list[Trial] = field(default_factory=list)
    at_risk: float = 0.0  # fraction of agreeing rows within the logit error bound
    error_bound: float = 0.0  # logit error bound (classifiers; 0 for regressors and trees)

    @property
    def score(self) -> float:
        return self.agreement - self.at_risk

    @property
    def meets_target(self) -> bool:
        return Assessment(self.agreement, self.at_risk).meets()


def agreement(model: FloatModel, qm: QModel, x: F64) -> float:
    """Classifiers: top-1 agreement with the float model; regressors: R² of the quantized
    outputs against the float outputs (1.0 when they are identical)."""
    return assess(model, qm, x).agreement


def assess(model: FloatModel, qm: QModel, x: F64, n_near: int | None = None) -> Assessment:
    """Agreement plus, for softmax/logistic networks, the decision-margin check
    (``Assessment``); the error bound is taken over the first ``n_near`` rows (the rows near
    the data; default all), so saturating far-margin rows count as disagreements where they
    flip a class but do not inflate the bound for the others."""
    x_fx = np.clip(features_to_q16(x), qm.input.lo, qm.input.hi)
    trace = execute(qm, x_fx)
    fl = model.forward(x)
    if model.head is Head.NONE:
        q = trace.outputs.astype(np.float64) * 2.0**-qm.out_frac_bits
        f = fl.outputs
        ss = float(((f - f.mean(axis=0)) ** 2).sum())
        err = float(((q - f) ** 2).sum())
        return Assessment(1.0 - err / ss if ss > 0 else (1.0 if err == 0 else 0.0))
    agree = trace.classes == fl.classes
    logits = _quantized_logits(qm, trace.layers)
    if logits is None:  # trees: no logits to compare
        return Assessment(float(agree.mean()))
    f = fl.outputs
    row_err = np.abs(logits - f).max(axis=1)
    near = row_err[: x.shape[0] if n_near is None else n_near]
    bound = float(near.max()) if near.size else 0.0
    if f.shape[1] == 1:
        gap, reach = np.abs(f[:, 0]), bound
    else:
        top2 = np.sort(f, axis=1)[:, -2:]
        gap, reach = top2[:, 1] - top2[:, 0], 2.0 * bound
    risky = agree & (gap <= reach)
    return Assessment(float(agree.mean()), float(risky.mean()), bound)


def _quantized_logits(qm: QModel, layers: list[NDArray[np.int64]]) -> F64 | None:
    """The last dense layer's output in real units; its scale is the one the softmax's K
    encodes (K 2^-(16 + k_shift) = scale log2 e)."""
    dense = [i for i, op in enumerate(qm.ops) if isinstance(op, QDense)]
    soft = [op for op in qm.ops if isinstance(op, QSoftmax)]
    if not dense or not soft:
        return None
    scale = soft[0].k * 2.0 ** -(16 + soft[0].k_shift) / math.log2(math.e)
    out: F64 = layers[dense[-1]].astype(np.float64) * scale
    return out


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
    n_near = hold.shape[0]
    if trial_range is not None:
        # Inputs in the declared margins are accepted by the chain too: half as many of them.
        lo_fx = features_to_q16(
            np.broadcast_to(np.asarray(trial_range[0], float), (calib.shape[1],))
        )
        hi_fx = features_to_q16(
            np.broadcast_to(np.asarray(trial_range[1], float), (calib.shape[1],))
        )
        hold = np.vstack([hold, margin_rows(calib, lo_fx, hi_fx, n=hold.shape[0] // 2, seed=seed)])
    if isinstance(model.layers[0], RecurrentLayer):
        # The recurrent op's weights (and the input) first, then each dense layer of the head.
        n_layers = 1 + sum(isinstance(layer, DenseLayer) for layer in model.layers[1:])
    elif has_sequence_layers(model):
        n_layers = weighted_layer_count(model)
    else:
        n_layers = len(_layer_groups(model))
    trials: list[Trial] = []

    def measure(p: tuple[DType, ...]) -> Assessment:
        qm = build(fit_rows, p, trial_range, False)
        a = assess(model, qm, hold, n_near)
        trials.append(Trial(tuple(_name(d) for d in p), a.agreement, a.at_risk))
        return a

    current = tuple([DType.I8] * n_layers)
    best = measure(current)
    while not best.meets(target) and DType.I8 in current:
        options = []
        for k in range(n_layers):
            if current[k] is DType.I8:
                p = (*current[:k], DType.I16, *current[k + 1 :])
                a = measure(p)
                options.append((a.score, -k, p, a))
        _, _, current, best = max(options, key=lambda o: (o[0], o[1]))
    qm = build(calib, current, input_range, check_feasible)
    return AutoResult(
        qmodel=qm,
        precisions=tuple(_name(d) for d in current),
        agreement=best.agreement,
        metric=_metric(model),
        n_holdout=hold.shape[0],
        trials=trials,
        at_risk=best.at_risk,
        error_bound=best.error_bound,
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


__all__ = [
    "TARGET_AGREEMENT",
    "Assessment",
    "AutoResult",
    "Trial",
    "agreement",
    "assess",
    "compile_auto",
]
