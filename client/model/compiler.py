"""Compile a float ``FloatModel`` plus calibration data into an integer ``QModel``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .conv_compiler import compile_conv, has_sequence_layers
from .errors import QuantizationError, UnsupportedModelError
from .feasibility import check, check_calibration, check_declared_range
from .fixedpoint import I32_MAX, I32_MIN
from .ir import (
    Activation,
    ActivationLayer,
    DenseLayer,
    FloatModel,
    Head,
    RecurrentLayer,
    ScalingKind,
    TreeEnsemble,
    apply_activation,
)
from .ir import TreeMode as FloatTreeMode
from .layouts import compact_bytes, packed3_span, sparse_bytes
from .qmodel import (
    LEAF,
    Arch,
    ConfMode,
    DType,
    InputSpec,
    Layout,
    LutKind,
    QArgmax,
    QDense,
    QLut,
    QModel,
    QOp,
    QSoftmax,
    QTrees,
    Scaling,
    Task,
    TreeMode,
)
from .quantize import (
    PACKED_LIMIT,
    ActQuant,
    accumulator_bound,
    asymmetric_params,
    choose_input_affine,
    choose_requant,
    choose_softmax_k,
    quantize_dense,
    threshold_q16,
    to_q16,
)

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

# Wide final layer: the largest calibrated |output| lands near 2^23, far from the i32 clamp.
OUTPUT_TARGET_BITS = 23
MAX_VALUE_FRAC_BITS = 24
MAX_REGRESSION_FRAC_BITS = 40
# With prefer="speed", INT8 layers at least this large (MACs and rows) take PACKED3, smaller ones
# PACKED (see _packed3_preferred).
PACKED3_MIN_MACS = 128
PACKED3_MIN_ROWS = 8

_LUT_KIND = {
    Activation.SIGMOID: LutKind.SIGMOID,
    Activation.TANH: LutKind.TANH,
    Activation.HARD_SIGMOID: LutKind.HARD_SIGMOID,
}
_SCALING = {
    ScalingKind.NONE: Scaling.NONE,
    ScalingKind.STANDARD: Scaling.STANDARD,
    ScalingKind.MINMAX: Scaling.MINMAX,
    ScalingKind.AFFINE: Scaling.AFFINE,
}


# (lo, hi): scalars for every feature or one value per feature, in raw feature units.
InputRange = tuple[float | Sequence[float], float | Sequence[float]]


@dataclass(frozen=True)
class CompileOptions:
    # One dtype per dense layer (its weights and the activation it reads); a single entry
    # applies to every layer.
    dtypes: tuple[DType, ...] = (DType.I8,)
    # Declared per-feature range = calibration range widened by this fraction of its span
    # on each side, unless ``input_range`` is given.
    range_margin: float = 0.25
    prefer: str = "size"  # "size": COMPACT/SPARSE; "speed": PACKED3 or PACKED where allowed
    layout: Layout | None = None  # force one layout for every dense layer

    def dtype_of(self, layer: int) -> DType:
        return self.dtypes[layer] if len(self.dtypes) > 1 else self.dtypes[0]


Precision = int | str | DType


def parse_dtype(bits: int | str | DType) -> DType:
    if isinstance(bits, DType):
        return bits
    key = str(bits).lower().removeprefix("int")
    if key == "8":
        return DType.I8
    if key == "16":
        return DType.I16
    raise ValueError(f"precision must be int8 or int16, got {bits!r}")


def parse_precision(precision: Precision | Sequence[Precision]) -> tuple[DType, ...]:
    """8 / 16 / "int8" / DType for every layer, or a sequence with one per dense layer."""
    if isinstance(precision, str | int | DType):
        return (parse_dtype(precision),)
    out = tuple(parse_dtype(p) for p in precision)
    if not out:
        raise ValueError("per-layer precision needs one entry per dense layer, got none")
    return out


def compile_model(
    model: FloatModel,
    calibration: NDArray[np.floating],
    precision: Precision | Sequence[Precision] = 8,
    *,
    input_range: InputRange | None = None,
    range_margin: float = 0.25,
    prefer: str = "size",
    layout: Layout | None = None,
    check_feasible: bool = True,
) -> QModel:
    """Quantize ``model`` into the integer IR.

    ``calibration`` is a float batch (n, n_features) of typical inputs (the training set);
    ``input_range`` declares the per-feature domain the chain accepts (default: calibration
    min/max widened by ``range_margin`` of the span on each side).  ``precision`` is 8 or 16,
    a sequence with one of them per dense layer, or ``"auto"`` (``autoprecision.compile_auto``:
    INT8 where held-out agreement stays >= 99 %, INT16 for the layers that need it);
    ``prefer="speed"`` picks PACKED3 (large) or PACKED (small) INT8 layers where allowed;
    ``layout`` forces one layout.
    Raises QuantizationError when a layer's arithmetic could overflow, and (unless
    ``check_feasible=False``) InfeasibleModelError when the calibration data cannot define the
    accepted ranges or the model could never run on chain (``feasibility.assess``).
    """
    if isinstance(precision, str) and precision.lower() == "auto":
        from .autoprecision import compile_auto

        return compile_auto(
            model,
            calibration,
            input_range=input_range,
            range_margin=range_margin,
            prefer=prefer,
            layout=layout,
            check_feasible=check_feasible,
        ).qmodel
    check_finite(model)
    opts = CompileOptions(parse_precision(precision), range_margin, prefer, layout)
    if not (math.isfinite(range_margin) and range_margin >= 0):
        raise ValueError(f"range margin must be a finite number >= 0, got {range_margin}")
    if prefer not in ("size", "speed"):
        raise ValueError(f"prefer must be 'size' or 'speed', got {prefer!r}")
    calib = np.asarray(calibration, dtype=np.float64)
    if calib.ndim != 2 or calib.shape[1] != model.n_features or calib.shape[0] == 0:
        raise ValueError(
            f"calibration data must have shape (n>0, {model.n_features}), got {calib.shape}"
        )
    if check_feasible:
        declared = None if input_range is None else [True] * model.n_features
        check_calibration(calib, declared=declared)
    if isinstance(model.layers[0], RecurrentLayer):
        from .rnn_compile import compile_recurrent

        qm = compile_recurrent(
            model, calib, opts.dtypes, input_range, opts.range_margin, prefer=opts.prefer
        )
        if check_feasible:
            check(qm)
        return qm
    lo, hi = _declared_range(calib, input_range, opts.range_margin, model.n_features)
    if model.is_trees:
        qm = _compile_trees(model, lo, hi)
    elif has_sequence_layers(model):
        qm = compile_conv(model, calib, lo, hi, opts.dtypes)
    else:
        qm = _compile_neural(model, calib, lo, hi, opts)
    if check_feasible:
        check(qm)
    return qm


def _first_bad(name: str, arr: NDArray[np.floating]) -> str | None:
    bad = np.argwhere(~np.isfinite(np.asarray(arr, dtype=np.float64)))
    if not bad.size:
        return None
    idx = tuple(int(v) for v in bad[0])
    where = ", ".join(str(i) for i in idx)
    return f"{name}[{where}] is {np.asarray(arr)[idx]} ({len(bad)} non-finite value(s))"


def check_finite(model: FloatModel) -> None:
    """Refuse NaN/inf parameters, naming the layer, the array and the first bad index."""
    found: list[str | None] = []
    if model.scaling is not None:
        found += [
            _first_bad("feature scaling offset", model.scaling.offset),
            _first_bad("feature scaling scale", model.scaling.scale),
        ]
    dense_i = 0
    for layer in model.layers:
        if isinstance(layer, DenseLayer):
            found += [
                _first_bad(f"dense layer {dense_i} weight", layer.weight),
                _first_bad(f"dense layer {dense_i} bias", layer.bias),
            ]
            dense_i += 1
        elif isinstance(layer, TreeEnsemble):
            found.append(_first_bad("tree ensemble base", layer.base))
            for t, tree in enumerate(layer.trees):
                internal = tree.feature >= 0
                found += [
                    _first_bad(f"tree {t} threshold", np.where(internal, tree.threshold, 0.0)),
                    _first_bad(f"tree {t} leaf value", tree.value),
                ]
        elif isinstance(layer, ActivationLayer):
            if not (math.isfinite(layer.alpha) and math.isfinite(layer.beta)):
                found.append(f"{layer.kind.value} alpha/beta ({layer.alpha}, {layer.beta})")
    problems = [f for f in found if f is not None]
    if problems:
        raise UnsupportedModelError(
            "the model has non-finite parameters (a diverged training run?): " + "; ".join(problems)
        )


def _declared_range(
    calib: F64,
    input_range: InputRange | None,
    margin: float,
    n: int,
) -> tuple[I64, I64]:
    if input_range is not None:
        lo_f = np.broadcast_to(np.asarray(input_range[0], dtype=np.float64), (n,))
        hi_f = np.broadcast_to(np.asarray(input_range[1], dtype=np.float64), (n,))
        check_declared_range(lo_f, hi_f)
    else:
        cmin = calib.min(axis=0)
        cmax = calib.max(axis=0)
        span = cmax - cmin
        span = np.where(span > 0, span, np.maximum(np.abs(cmax), 1.0))
        lo_f = cmin - margin * span
        hi_f = cmax + margin * span
    lo_f = np.clip(lo_f, I32_MIN / 65536.0, I32_MAX / 65536.0)
    hi_f = np.clip(hi_f, I32_MIN / 65536.0, I32_MAX / 65536.0)
    lo = to_q16(lo_f)
    hi = to_q16(hi_f)
    bad = np.nonzero(lo > hi)[0]
    if bad.size:
        raise ValueError(f"input range of feature {int(bad[0])} is empty (lo > hi)")
    return lo, hi


# ---------------------------------------------------------------- neural networks


def _input_affine(calib: F64, lo: I64, hi: I64, dtype: DType) -> tuple[InputSpec, F64, F64]:
    """Per-feature affine q = clamp(zp + rshift_round((x - c) * m, s)).

    Returns the spec plus the *realised* real offset and step of each feature, so the first
    dense layer folds exactly the integers that were stored.
    """
    # One input range: the quantization covers exactly the declared range the chain accepts,
    # so no accepted input saturates (a value past the calibration data keeps moving the
    # output instead of silently sticking at qmin/qmax).
    cmin, cmax = lo / 65536.0, hi / 65536.0
    degenerate = cmax - cmin <= 0
    cmin = np.where(degenerate, lo / 65536.0, cmin)
    cmax = np.where(degenerate, hi / 65536.0, cmax)
    levels = dtype.qmax - dtype.qmin
    width = cmax - cmin
    live = width > 0
    sc = np.where(live, width / levels, 1.0)
    # A constant feature: q is always zp (m = 0) and its value lives in the bias via c.
    c = to_q16(np.where(live, cmin - dtype.qmin * sc, cmin))
    m, s = choose_input_affine(np.where(live, 1.0 / (65536.0 * sc), 0.0))
    offset = c / 65536.0
    step = np.where(m != 0, np.exp2(s.astype(np.float64)) / (np.where(m != 0, m, 1) * 65536.0), 0.0)
    spec = InputSpec(lo=lo, hi=hi, dtype=dtype, zp=0, c=c, m=m, s=s)
    return spec, offset, step


def _layer_groups(model: FloatModel) -> list[tuple[DenseLayer, ActivationLayer | None]]:
    groups: list[tuple[DenseLayer, ActivationLayer | None]] = []
    for i, layer in enumerate(model.layers):
        if isinstance(layer, DenseLayer):
            groups.append((layer, None))
        elif isinstance(layer, ActivationLayer):
            if groups[-1][1] is not None:
                raise UnsupportedModelError(
                    f"layer {i}: two activations in a row ({groups[-1][1].kind.value}, "
                    f"{layer.kind.value}) are not supported"
                )
            groups[-1] = (groups[-1][0], layer)
        else:
            raise UnsupportedModelError(f"layer {i}: {type(layer).__name__} inside a network")
    for i in range(1, len(groups)):
        if groups[i - 1][0].n_out != groups[i][0].n_in:
            raise UnsupportedModelError(
                f"dense layer {i} expects {groups[i][0].n_in} inputs but layer {i - 1} "
                f"produces {groups[i - 1][0].n_out}"
            )
    last_act = groups[-1][1]
    if last_act is not None and last_act.kind is not Activation.RELU:
        raise UnsupportedModelError(
            f"a trailing {last_act.kind.value} activation is only supported as a classifier head "
            "(importers turn a final sigmoid/softmax into the head)"
        )
    return groups


def _lut_table(act: ActivationLayer, q_in: ActQuant, q_out: ActQuant, dtype: DType) -> I64:
    if dtype is DType.I8:
        qs = np.arange(-128, 128, dtype=np.int64)
    else:
        qs = np.arange(513, dtype=np.int64) * 128 - 32768
    real = q_in.scale * (qs.astype(np.float64) - q_in.zp)
    y = apply_activation(act.kind, real, act.alpha, act.beta)
    table = np.clip(np.rint(y / q_out.scale) + q_out.zp, dtype.qmin, dtype.qmax)
    return table.astype(np.int64)


def _lut_output(kind: Activation, dtype: DType) -> ActQuant:
    if kind is Activation.TANH or dtype is DType.I16:
        return ActQuant(scale=1.0 / dtype.qmax, zp=0, dtype=dtype)
    levels = dtype.qmax - dtype.qmin
    return ActQuant(scale=1.0 / levels, zp=dtype.qmin, dtype=dtype)


def _packed3_preferred(n_out: int, n_in: int) -> bool:
    """Whether PACKED3 beats PACKED on chain for this shape. Its fixed cost per group of 12 rows
    (lane splits, loop setup) and its padding rows lose on small layers; measured on LiteSVM
    (op CU, PACKED vs PACKED3): 12x8 597 vs 648, 24x3 658 vs 768, 32x3 738 vs 878, but 16x12
    995 vs 790, 32x32 4,038 vs 2,588, 128x8 3,153 vs 2,313."""
    return n_out * n_in >= PACKED3_MIN_MACS and n_out >= PACKED3_MIN_ROWS


def _choose_layout(
    weight: I64, bound: I64, opts: CompileOptions, name: str, dtype: DType
) -> Layout:
    n_out, n_in = weight.shape
    packed_ok = dtype is DType.I8 and int(bound.max()) < PACKED_LIMIT
    # PACKED3 needs no accumulator proof of its own: its lane bound holds for some chunk
    # length (at worst 64 columns) for any INT8 weights; `packed3_span` finds the longest.
    packed3_ok = dtype is DType.I8
    sparse_ok = n_in <= 1 << 16
    if opts.layout is not None:
        if opts.layout is Layout.PACKED and not packed_ok:
            raise QuantizationError(
                f"{name}: PACKED layout needs INT8 weights and a proven |acc| < 2^31 "
                f"(bound is {int(bound.max())})"
            )
        if opts.layout is Layout.PACKED3 and not packed3_ok:
            raise QuantizationError(f"{name}: PACKED3 layout needs INT8 weights")
        if opts.layout is Layout.SPARSE and not sparse_ok:
            raise QuantizationError(f"{name}: SPARSE layout needs fan-in <= 65536")
        return opts.layout
    nnz = int(np.count_nonzero(weight))
    if sparse_ok and sparse_bytes(n_out, nnz, dtype) < compact_bytes(n_out, n_in, dtype):
        return Layout.SPARSE
    if opts.prefer == "speed" and packed3_ok and (_packed3_preferred(n_out, n_in) or not packed_ok):
        return Layout.PACKED3
    if opts.prefer == "speed" and packed_ok:
        return Layout.PACKED
    return Layout.COMPACT


def _hidden_params(lo: float, hi: float, dtype: DType) -> ActQuant:
    """INT8 activations are asymmetric (every level counts); INT16 ones are symmetric, since a
    zero point of -32768 folded into the bias (-zp * sum w) would overflow i32."""
    if dtype is DType.I8:
        return asymmetric_params(lo, hi, dtype)
    top = max(abs(lo), abs(hi), 1e-12)
    return ActQuant(scale=top / dtype.qmax, zp=0, dtype=dtype)


def _output_frac_bits(max_abs: float, classifier: bool) -> int:
    """Fraction bits F of the last layer (scale 2^-F): the largest calibrated |output| lands
    near 2^23.  Classifier logits stop at F = 24 (the softmax needs a gap of 2^32 units to be
    worth >= 31 octaves); regression outputs at F = 40 (requant multipliers must stay < 2^31)."""
    cap = MAX_VALUE_FRAC_BITS if classifier else MAX_REGRESSION_FRAC_BITS
    if max_abs <= 0:
        return cap
    f = OUTPUT_TARGET_BITS - math.ceil(math.log2(max_abs))
    return int(np.clip(f, -64, cap))


def margin_rows(calib: F64, lo: I64, hi: I64, n: int = 512, seed: int = 0) -> F64:
    """Inputs the chain accepts but the calibration data never shows: calibration rows with
    about a third of their features moved into the declared margin (between the calibrated
    min/max and the declared bounds) or onto the declared bounds."""
    rng = np.random.default_rng(seed)
    n = max(8, min(n, (1 << 22) // max(1, calib.shape[1])))  # bounded memory for huge fan-ins
    lo_f, hi_f = lo / 65536.0, hi / 65536.0
    rows = calib[rng.integers(0, calib.shape[0], n)].copy()
    cmin, cmax = calib.min(axis=0), calib.max(axis=0)
    move = rng.random(rows.shape) < 1 / 3
    up = rng.random(rows.shape) < 0.5
    t = rng.random(rows.shape)
    high = cmax + t * np.maximum(hi_f - cmax, 0.0)
    low = cmin - t * np.maximum(cmin - lo_f, 0.0)
    out: F64 = np.clip(np.where(move, np.where(up, high, low), rows), lo_f, hi_f)
    return out


def _compile_neural(
    model: FloatModel, calib: F64, lo: I64, hi: I64, opts: CompileOptions
) -> QModel:
    groups = _layer_groups(model)
    if len(opts.dtypes) not in (1, len(groups)):
        raise ValueError(
            f"per-layer precision needs one entry per dense layer ({len(groups)}), got "
            f"{len(opts.dtypes)}"
        )
    spec, offset, step = _input_affine(calib, lo, hi, opts.dtype_of(0))
    if model.scaling is not None:
        spec.scaling = _SCALING[model.scaling.kind]
        sc_off, sc_mul = model.scaling.offset, model.scaling.scale
    else:
        sc_off, sc_mul = np.zeros(model.n_features), np.ones(model.n_features)

    # Calibrate every group's pre-activation range on the float model.  Activations read by an
    # INT16 layer also cover the declared margins (16 bits can afford it, and an accepted input
    # must not saturate them); INT8 ones cover the calibration data (8 bits cannot; the
    # compiler reports how often they saturate, `saturation.py`).
    wide = np.vstack([calib, margin_rows(calib, lo, hi)])
    pre_ranges = []
    h_cal, h_wide = model.scale_inputs(calib), model.scale_inputs(wide)
    # Each dense layer's input statistics on the calibration data, in the units its (folded)
    # weights multiply: the first layer reads the input levels (x - offset) / step.
    live = step > 0
    levels0 = np.where(live, (calib - offset) / np.where(live, step, 1.0), 0.0)
    in_stats = [(levels0.mean(axis=0), levels0.var(axis=0))]
    for dense, act in groups:
        z_cal, z_wide = dense.forward(h_cal), dense.forward(h_wide)
        pre_ranges.append(
            ((float(z_cal.min()), float(z_cal.max())), (float(z_wide.min()), float(z_wide.max())))
        )
        h_cal = act.forward(z_cal) if act is not None else z_cal
        h_wide = act.forward(z_wide) if act is not None else z_wide
        in_stats.append((h_cal.mean(axis=0), h_cal.var(axis=0)))

    ops: list[QOp] = []
    q_in = ActQuant(scale=1.0, zp=spec.zp, dtype=opts.dtype_of(0))
    out_frac_bits = 0
    last_scale = 1.0
    for li, (dense, act) in enumerate(groups):
        name = f"dense layer {li}"
        dtype = opts.dtype_of(li)
        w = dense.weight
        b = dense.bias
        if li == 0:
            # x = offset + step * (q - zp) and u = (x - sc_off) * sc_mul, folded into W and b.
            w_x = w * sc_mul[None, :]
            b = b + w_x @ (offset - sc_off)
            w = w_x * step[None, :]
        last = li == len(groups) - 1
        # The activation this layer writes is read by the next layer, in the next one's dtype.
        out_dtype = dtype if last else opts.dtype_of(li + 1)
        (zmin, zmax) = pre_ranges[li][1 if out_dtype is DType.I16 else 0]
        if last:
            zmin, zmax = pre_ranges[li][0]
            frac = _output_frac_bits(max(abs(zmin), abs(zmax)), model.head is not Head.NONE)
            out_scale = 2.0**-frac
            q_out = ActQuant(scale=out_scale, zp=0, dtype=out_dtype)
            lo_c, hi_c = I32_MIN, I32_MAX
            out_frac_bits = frac
        elif act is not None and act.kind is Activation.RELU:
            q_out = _hidden_params(0.0, zmax, out_dtype)
            lo_c, hi_c = out_dtype.qmin, out_dtype.qmax
        else:
            q_out = _hidden_params(zmin, zmax, out_dtype)
            lo_c, hi_c = out_dtype.qmin, out_dtype.qmax
        if act is not None and act.kind is Activation.RELU:
            lo_c = max(lo_c, q_out.zp)
        in_scale = q_in.scale
        mean, var = in_stats[li]
        wq, w_scale, bias = quantize_dense(
            w, b, in_scale, q_in.zp, dtype, name, in_mean=mean, in_var=var
        )
        bound = accumulator_bound(wq, bias, dtype)
        mult, shift = choose_requant(in_scale * w_scale / q_out.scale, bound, name)
        layout = _choose_layout(wq, bound, opts, name, dtype)
        span = packed3_span(wq) if layout is Layout.PACKED3 else 0
        ops.append(
            QDense(
                dtype=dtype,
                layout=layout,
                weight=wq,
                bias=bias,
                multiplier=mult,
                shift=shift,
                zp_out=q_out.zp,
                lo=lo_c,
                hi=hi_c,
                span=span,
            )
        )
        q_in = q_out
        last_scale = q_out.scale
        if act is not None and act.kind is not Activation.RELU:
            lut_out = _lut_output(act.kind, out_dtype)
            ops.append(
                QLut(
                    dtype=out_dtype,
                    kind=_LUT_KIND[act.kind],
                    table=_lut_table(act, q_out, lut_out, out_dtype),
                    n=dense.n_out,
                )
            )
            q_in = lut_out

    return neural_qmodel(model, spec, ops, groups[-1][0].n_out, last_scale, out_frac_bits)


def neural_qmodel(
    model: FloatModel,
    spec: InputSpec,
    ops: list[QOp],
    n_last: int,
    last_scale: float,
    out_frac_bits: int,
) -> QModel:
    """A neural network's QModel: its quantized ``ops`` (extended here by the classifier head
    over the last layer's ``n_last`` outputs at ``last_scale``), for the dense, conv and
    recurrent compilers alike."""
    task = Task.REGRESSION if model.head is Head.NONE else Task.CLASSIFICATION
    ops.extend(_classifier_head(model, n_last, last_scale))
    return QModel(
        arch=Arch.NEURAL,
        task=task,
        input=spec,
        ops=ops,
        n_classes=model.n_classes,
        labels=model.labels,
        out_frac_bits=out_frac_bits if task is Task.REGRESSION else 0,
        name=model.name,
    )


def _classifier_head(model: FloatModel, n_last: int, scale: float) -> list[QOp]:
    if model.head is Head.NONE:
        return []
    if model.head is Head.VOTE:
        return [QArgmax(n_in=n_last, mode=ConfMode.DIV, divisor=model.vote_divisor)]
    binary = model.head is Head.LOGISTIC
    if binary and n_last != 1:
        raise UnsupportedModelError(f"a logistic head needs one logit, got {n_last}")
    k, k_shift = choose_softmax_k(scale)
    sm = QSoftmax(n_in=n_last, k=k, k_shift=k_shift, binary=binary)
    return [sm, QArgmax(n_in=sm.n_out, mode=ConfMode.PROB)]


# ---------------------------------------------------------------- trees


def _compile_trees(model: FloatModel, lo: I64, hi: I64) -> QModel:
    ens = model.layers[0]
    assert isinstance(ens, TreeEnsemble)
    if model.n_features > LEAF:
        raise UnsupportedModelError(f"trees support at most {LEAF} features")
    scaling = model.scaling
    spec = InputSpec(lo=lo, hi=hi)
    if scaling is not None:
        if np.any(scaling.scale <= 0):
            raise UnsupportedModelError(
                "trees compare raw features, so a feature scaling with a non-positive scale "
                "cannot be folded into the thresholds"
            )
        spec.scaling = _SCALING[scaling.kind]
    roots, feats, thrs, lefts, rights, leaf_rows = [], [], [], [], [], []
    n_nodes = 0
    n_leaves = 0
    max_depth = 0
    for tree in ens.trees:
        roots.append(n_nodes)
        is_leaf = tree.feature < 0
        leaf_id = np.cumsum(is_leaf) - 1 + n_leaves
        t = tree.threshold
        if scaling is not None:
            safe_f = np.where(is_leaf, 0, tree.feature)
            t = t / scaling.scale[safe_f] + scaling.offset[safe_f]
        feats.append(np.where(is_leaf, LEAF, tree.feature))
        thrs.append(np.where(is_leaf, 0, threshold_q16(np.where(is_leaf, 0.0, t))))
        lefts.append(np.where(is_leaf, leaf_id, tree.left + n_nodes))
        rights.append(np.where(is_leaf, 0, tree.right + n_nodes))
        leaf_rows.append(tree.value[is_leaf])
        n_nodes += tree.n_nodes
        n_leaves += int(is_leaf.sum())
        max_depth = max(max_depth, tree.depth())
    if max_depth > 0xFFFF:
        raise UnsupportedModelError(f"tree depth {max_depth} exceeds 65535")
    values = np.vstack(leaf_rows)
    task = Task.REGRESSION if model.head is Head.NONE else Task.CLASSIFICATION
    out_frac_bits = 0
    ops: list[QOp]
    if ens.mode is FloatTreeMode.PROBA:
        if np.any(values < 0) or np.any(values > 1):
            raise UnsupportedModelError("PROBA leaves must hold probabilities in [0, 1]")
        leaves = np.rint(values * 65536).astype(np.int64)
        base = np.zeros(ens.n_outputs, dtype=np.int64)
        mode = TreeMode.PROBA
        scale = 1.0
    else:
        maxabs = max(float(np.abs(values).max()), float(np.abs(ens.base).max()), 1e-30)
        frac = min(MAX_VALUE_FRAC_BITS, math.floor(math.log2(I32_MAX / maxabs)))
        leaves = np.rint(values * 2.0**frac).astype(np.int64)
        base = np.rint(ens.base * 2.0**frac).astype(np.int64)
        mode = TreeMode.VALUE
        scale = 2.0**-frac
        out_frac_bits = frac if task is Task.REGRESSION else 0
        if len(ens.trees) % ens.n_outputs:
            raise UnsupportedModelError(
                f"VALUE ensembles need a multiple of n_outputs={ens.n_outputs} trees"
            )
    trees = QTrees(
        mode=mode,
        n_features=model.n_features,
        n_out=ens.n_outputs,
        max_depth=max_depth,
        roots=np.asarray(roots, dtype=np.int64),
        feature=np.concatenate(feats).astype(np.int64),
        threshold=np.concatenate(thrs).astype(np.int64),
        left=np.concatenate(lefts).astype(np.int64),
        right=np.concatenate(rights).astype(np.int64),
        leaves=leaves,
        base=base,
    )
    ops = [trees, *_classifier_head(model, ens.n_outputs, scale)]
    return QModel(
        arch=Arch.TREES,
        task=task,
        input=spec,
        ops=ops,
        n_classes=model.n_classes,
        labels=model.labels,
        out_frac_bits=out_frac_bits,
        name=model.name,
    )


__all__ = ["CompileOptions", "compile_model", "margin_rows", "parse_dtype", "parse_precision"]
