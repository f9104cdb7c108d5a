"""Compile a float GRU / LSTM window model (a ``RecurrentLayer`` then a dense head) into the
integer IR: the input affine per feature replicated over the window, the recurrent op's two
weight matrices with per-row scales and one shared requantization shift, and the dense head
reading the Q15 hidden state as an INT16 activation.

docs/model-format.md "GRU and LSTM" is the numeric contract; this module only chooses its
parameters.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from .errors import QuantizationError, UnsupportedModelError
from .fixedpoint import I32_MAX, I32_MIN
from .ir import Activation, ActivationLayer, CellKind, DenseLayer, FloatModel, Head, RecurrentLayer
from .qmodel import (
    DType,
    InputSpec,
    Layout,
    OpKind,
    QDense,
    QLut,
    QModel,
    QOp,
    QRecurrent,
)
from .quantize import ActQuant, accumulator_bound, choose_requant, quantize_dense
from .recurrent import GATE_BITS, H8_MAX_HIDDEN, H8_SHIFT, PAIR_MAX_COLS, STATE_BITS, gate_table

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


def _check_finite(layer: RecurrentLayer) -> None:
    for name in ("w_ih", "w_hh", "b_ih", "b_hh"):
        arr = getattr(layer, name)
        if not np.all(np.isfinite(arr)):
            raise UnsupportedModelError(f"{layer.cell.value} {name} has non-finite values")


def quantize_recurrent(
    layer: RecurrentLayer,
    step: F64,
    offset: F64,
    in_dtype: DType,
    dtype: DType,
    gate_bits: int = GATE_BITS,
    *,
    speed: bool = False,
) -> QRecurrent:
    """The recurrent op for inputs quantized as ``x_f = offset_f + step_f * q`` (per feature;
    the input zero point is 0) with ``dtype`` weights."""
    _check_finite(layer)
    feats, hid = layer.features, layer.hidden
    if dtype is DType.I8 and max(feats, hid) > PAIR_MAX_COLS:
        raise UnsupportedModelError(
            f"{layer.cell.value}: INT8 weights take at most {PAIR_MAX_COLS} features and hidden "
            f"units (got {feats} and {hid}); use INT16"
        )
    name = f"{layer.cell.value} layer"
    # Fold the input affine into W_x and b_x: the op multiplies the input levels q.
    wx_real = layer.w_ih * step[None, :]
    bx_real = layer.b_ih + layer.w_ih @ offset
    wxq, sx, bx = quantize_dense(wx_real, bx_real, 1.0, 0, dtype, f"{name} input weights")
    # h is Q15 (one level 2^-15); the speed mode's h part reads it rounded to Q7.
    h8 = speed and dtype is DType.I8 and hid <= H8_MAX_HIDDEN
    h_scale = 2.0 ** -(STATE_BITS - H8_SHIFT if h8 else STATE_BITS)
    whq, sh, bh = quantize_dense(layer.w_hh, layer.b_hh, h_scale, 0, dtype, f"{name} weights")
    in_q = DType.I16 if in_dtype is DType.I16 else DType.I8
    ax = accumulator_bound(wxq, bx, in_q)
    ah = accumulator_bound(whq, bh, DType.I8 if h8 else DType.I16)
    gate_unit = 2.0**gate_bits
    real = np.concatenate([sx * gate_unit, sh * h_scale * gate_unit])
    mult, shift = choose_requant(real, np.concatenate([ax, ah]), name)
    rows = whq.shape[0]
    half = 1 << (shift - 1)
    # |b * M| <= A * M < 2^62 (choose_requant), so the offsets fit in i64.
    cx = np.array([int(b) * int(m) + half for b, m in zip(bx, mult[:rows], strict=True)])
    ch = np.array([int(b) * int(m) + half for b, m in zip(bh, mult[rows:], strict=True)])
    return QRecurrent(
        kind=OpKind.GRU if layer.cell is CellKind.GRU else OpKind.LSTM,
        dtype=dtype,
        steps=layer.steps,
        features=feats,
        hidden=hid,
        sequence=layer.sequence,
        wx=wxq,
        wh=whq,
        cx=cx.astype(np.int64),
        ch=ch.astype(np.int64),
        mx=mult[:rows],
        mh=mult[rows:],
        shift=shift,
        gate_bits=gate_bits,
        sigmoid=gate_table("sigmoid", gate_bits),
        tanh=gate_table("tanh", gate_bits),
        h8=h8,
    )


def window_range(
    calib: F64, steps: int, feats: int, input_range: object, margin: float
) -> tuple[I64, I64]:
    """Declared ranges per feature (over every step of the calibration windows), tiled over
    the window, so every step shares one input affine."""
    from .compiler import _declared_range

    per_step = calib.reshape(-1, feats)
    rng = input_range
    if rng is not None:
        lo_a = np.asarray(rng[0], dtype=np.float64)  # type: ignore[index]
        hi_a = np.asarray(rng[1], dtype=np.float64)  # type: ignore[index]
        if lo_a.size == steps * feats:
            # One range per feature over every step: the widest one declared.
            lo_a = lo_a.reshape(steps, feats).min(axis=0)
            hi_a = hi_a.reshape(steps, feats).max(axis=0)
        rng = (lo_a, hi_a)
    lo, hi = _declared_range(per_step, rng, margin, feats)  # type: ignore[arg-type]
    return np.tile(lo, steps), np.tile(hi, steps)


def compile_recurrent(
    model: FloatModel,
    calib: F64,
    dtypes: tuple[DType, ...],
    input_range: object = None,
    margin: float = 0.25,
    prefer: str = "size",
) -> QModel:
    """A float ``[RecurrentLayer, (DenseLayer, [activation])...]`` model with a classifier or
    regression head. ``dtypes``: one dtype (everything) or one per op group (the recurrent op
    and the input, then each dense layer). The first dense layer reads the Q15 state and is
    INT16 whatever its entry says."""
    from .compiler import (
        _LUT_KIND,
        _hidden_params,
        _input_affine,
        _lut_output,
        _lut_table,
        _output_frac_bits,
        neural_qmodel,
    )

    rec = model.layers[0]
    assert isinstance(rec, RecurrentLayer)
    groups: list[tuple[DenseLayer, ActivationLayer | None]] = []
    for i, layer in enumerate(model.layers[1:], start=1):
        if isinstance(layer, DenseLayer):
            groups.append((layer, None))
        elif isinstance(layer, ActivationLayer) and groups and groups[-1][1] is None:
            groups[-1] = (groups[-1][0], layer)
        else:
            raise UnsupportedModelError(
                f"layer {i}: after a {rec.cell.value} only dense layers and their activations "
                f"are supported (got {type(layer).__name__})"
            )
    if model.n_features != rec.n_in:
        raise UnsupportedModelError(
            f"the model takes {model.n_features} features, the {rec.cell.value} reads "
            f"{rec.steps} x {rec.features} = {rec.n_in}"
        )
    if model.scaling is not None:
        raise UnsupportedModelError(
            "feature scaling in front of a recurrent layer is not supported; fold it into w_ih"
        )
    n_groups = 1 + len(groups)
    if len(dtypes) not in (1, n_groups):
        raise ValueError(f"precision needs 1 or {n_groups} entries, got {len(dtypes)}")

    def dt(i: int) -> DType:
        return dtypes[0] if len(dtypes) == 1 else dtypes[i]

    lo, hi = window_range(calib, rec.steps, rec.features, input_range, margin)
    in_dtype = dt(0)
    spec, offset, step = _input_affine(calib, lo, hi, in_dtype)
    feats = rec.features
    # prefer="speed": INT8 weights with at most 64 hidden units take the PACKED3 h part.
    qrec = quantize_recurrent(
        rec, step[:feats], offset[:feats], in_dtype, dt(0), speed=prefer == "speed"
    )
    ops: list[QOp] = [qrec]

    # The head reads h (Q15, symmetric): scale 2^-15 as an INT16 activation.
    h_cal = rec.forward(calib)
    q_in = ActQuant(scale=2.0**-STATE_BITS, zp=0, dtype=DType.I16)
    out_frac_bits = 0
    last_scale = q_in.scale
    for li, (dense, act) in enumerate(groups):
        name = f"dense layer {li}"
        dtype = DType.I16 if li == 0 else dt(li + 1)
        z = dense.forward(h_cal)
        last = li == len(groups) - 1
        out_dtype = dtype if last else dt(li + 2)
        zmin, zmax = float(z.min()), float(z.max())
        if last:
            frac = _output_frac_bits(max(abs(zmin), abs(zmax)), model.head is not Head.NONE)
            q_out = ActQuant(scale=2.0**-frac, zp=0, dtype=out_dtype)
            lo_c, hi_c = I32_MIN, I32_MAX
            out_frac_bits = frac
        elif act is not None and act.kind is Activation.RELU:
            q_out = _hidden_params(0.0, zmax, out_dtype)
            lo_c, hi_c = max(out_dtype.qmin, q_out.zp), out_dtype.qmax
        else:
            q_out = _hidden_params(zmin, zmax, out_dtype)
            lo_c, hi_c = out_dtype.qmin, out_dtype.qmax
        wq, w_scale, bias = quantize_dense(
            dense.weight,
            dense.bias,
            q_in.scale,
            q_in.zp,
            dtype,
            name,
            in_mean=h_cal.mean(axis=0),
            in_var=h_cal.var(axis=0),
        )
        bound = accumulator_bound(wq, bias, dtype)
        mult, shift = choose_requant(q_in.scale * w_scale / q_out.scale, bound, name)
        ops.append(
            QDense(
                dtype=dtype,
                layout=Layout.COMPACT,
                weight=wq,
                bias=bias,
                multiplier=mult,
                shift=shift,
                zp_out=q_out.zp,
                lo=lo_c,
                hi=hi_c,
            )
        )
        q_in = q_out
        last_scale = q_out.scale
        h_cal = act.forward(z) if act is not None else z
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
    if not groups and model.head is not Head.NONE:
        raise UnsupportedModelError("a recurrent classifier needs a dense head")
    if not groups:
        # Regression straight off h: the outputs are Q15.
        out_frac_bits = STATE_BITS
    n_last = groups[-1][0].n_out if groups else rec.n_out
    if not math.isfinite(last_scale) or last_scale <= 0:
        raise QuantizationError("head output scale is not positive")
    spec = InputSpec(lo=spec.lo, hi=spec.hi, dtype=spec.dtype, zp=0, c=spec.c, m=spec.m, s=spec.s)
    return neural_qmodel(model, spec, ops, n_last, last_scale, out_frac_bits)


__all__ = ["compile_recurrent", "quantize_recurrent", "window_range"]
