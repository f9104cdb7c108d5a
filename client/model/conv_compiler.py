"""Compile a float model with Conv1D / pooling layers into CONV1D, POOL and DENSE ops.

Layer order: one or more ``Conv1dLayer`` (each optionally followed by ReLU) and
``Pool1dLayer`` stages, then dense layers as in any MLP. Quantization follows the dense
contract of docs/model-format.md 1.4 per output channel (a CONV1D output position is a dense
layer over its window); see "Conv1D and pooling" there for the parts specific to sequences:

* the input affine is **per channel**, replicated over the window's time steps (the weights are
  shared across time, so every step of a channel must have the same quantization step); the
  channel's range is the union of its steps' declared ranges;
* when the first convolution pads, the input affine is centred (``q = 0`` is the scaled input
  0), so a padded position, which reads the zero point, is exactly the zero the float model
  pads with; hidden convolutions pad with their input's zero point, whose real value is 0;
* average pooling keeps its input's scale and zero point (the average of levels is the level
  of the average), max pooling too.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .conv import avg_multiplier, packed_conv_ok
from .errors import UnsupportedModelError
from .fixedpoint import I32_MAX, I32_MIN
from .ir import (
    Activation,
    ActivationLayer,
    Conv1dLayer,
    DenseLayer,
    FloatModel,
    Head,
    Pool1dLayer,
    PoolKind,
)
from .qmodel import (
    DType,
    InputSpec,
    Layout,
    PoolMode,
    QConv1d,
    QDense,
    QLut,
    QModel,
    QOp,
    QPool,
)
from .quantize import (
    ActQuant,
    accumulator_bound,
    choose_input_affine,
    choose_requant,
    quantize_dense,
    to_q16,
)

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

Stage = tuple[Conv1dLayer | Pool1dLayer | DenseLayer, ActivationLayer | None]


def has_sequence_layers(model: FloatModel) -> bool:
    return any(isinstance(layer, Conv1dLayer | Pool1dLayer) for layer in model.layers)


def weighted_layer_count(model: FloatModel) -> int:
    """Conv1d and dense layers: one precision each (``compile_model``'s per-layer list)."""
    return sum(isinstance(layer, Conv1dLayer | DenseLayer) for layer in model.layers)


def _stages(model: FloatModel) -> list[Stage]:
    stages: list[Stage] = []
    seen_dense = False
    for i, layer in enumerate(model.layers):
        if isinstance(layer, ActivationLayer):
            if not stages or stages[-1][1] is not None:
                raise UnsupportedModelError(f"layer {i}: activation without a layer before it")
            prev = stages[-1][0]
            if isinstance(prev, Pool1dLayer):
                raise UnsupportedModelError(f"layer {i}: an activation after pooling")
            if isinstance(prev, Conv1dLayer) and layer.kind is not Activation.RELU:
                raise UnsupportedModelError(
                    f"layer {i}: Conv1d takes ReLU or no activation, got {layer.kind.value}"
                )
            stages[-1] = (prev, layer)
        elif isinstance(layer, DenseLayer):
            seen_dense = True
            stages.append((layer, None))
        elif isinstance(layer, Conv1dLayer | Pool1dLayer):
            if seen_dense:
                raise UnsupportedModelError(
                    f"layer {i}: convolution or pooling after a dense layer"
                )
            stages.append((layer, None))
        else:
            raise UnsupportedModelError(f"layer {i}: {type(layer).__name__} in a conv network")
    if not isinstance(stages[0][0], Conv1dLayer):
        raise UnsupportedModelError("a conv network starts with a Conv1d layer")
    width = model.n_features
    for i, (layer, _) in enumerate(stages):
        n_in = layer.n_in if not isinstance(layer, Pool1dLayer) else layer.t_in * layer.channels
        if n_in != width:
            raise UnsupportedModelError(
                f"stage {i} reads {n_in} values, the previous writes {width}"
            )
        width = layer.n_out
    last = stages[-1]
    if not isinstance(last[0], DenseLayer):
        raise UnsupportedModelError("a conv network ends with a dense (Linear) layer")
    if last[1] is not None and last[1].kind is not Activation.RELU:
        raise UnsupportedModelError(f"a trailing {last[1].kind.value} is only a classifier head")
    return stages


def _channel_affine(
    lo: I64, hi: I64, c_in: int, dtype: DType, centre: F64 | None
) -> tuple[InputSpec, F64, F64]:
    """One affine per input channel over the union of its steps' declared ranges, replicated
    over time. ``centre`` (per channel, raw units): q = 0 there exactly, range symmetric."""
    lo_c = (lo.reshape(-1, c_in).min(axis=0) / 65536.0).astype(np.float64)
    hi_c = (hi.reshape(-1, c_in).max(axis=0) / 65536.0).astype(np.float64)
    t = lo.size // c_in
    if centre is None:
        width = hi_c - lo_c
        live = width > 0
        sc = np.where(live, width / (dtype.qmax - dtype.qmin), 1.0)
        c_fx = to_q16(np.where(live, lo_c - dtype.qmin * sc, lo_c))
    else:
        c_fx = to_q16(centre)
        cen = c_fx / 65536.0
        half = np.maximum(np.abs(hi_c - cen), np.abs(cen - lo_c))
        live = half > 0
        sc = np.where(live, half / dtype.qmax, 1.0)
    m, s = choose_input_affine(np.where(live, 1.0 / (65536.0 * sc), 0.0))
    offset = c_fx / 65536.0
    step = np.where(m != 0, np.exp2(s.astype(np.float64)) / (np.where(m != 0, m, 1) * 65536.0), 0.0)
    spec = InputSpec(
        lo=lo, hi=hi, dtype=dtype, zp=0, c=np.tile(c_fx, t), m=np.tile(m, t), s=np.tile(s, t)
    )
    return spec, offset, step


def compile_conv(
    model: FloatModel, calib: F64, lo: I64, hi: I64, dtypes: tuple[DType, ...]
) -> QModel:
    """Quantize a conv network (``compiler.compile_model`` dispatches here)."""
    from .compiler import _LUT_KIND as LUT_KIND
    from .compiler import (
        _SCALING,
        _hidden_params,
        _lut_output,
        _lut_table,
        _output_frac_bits,
        margin_rows,
        neural_qmodel,
    )

    stages = _stages(model)
    for i, (layer, _) in enumerate(stages):
        if isinstance(layer, Conv1dLayer | DenseLayer) and not (
            np.isfinite(layer.weight).all() and np.isfinite(layer.bias).all()
        ):
            raise UnsupportedModelError(f"layer {i}: non-finite weights or bias")
    weighted = [i for i, (layer, _) in enumerate(stages) if not isinstance(layer, Pool1dLayer)]
    if len(dtypes) not in (1, len(weighted)):
        raise ValueError(
            f"per-layer precision needs one entry per conv/dense layer ({len(weighted)}), got "
            f"{len(dtypes)}"
        )

    def dtype_at(stage: int) -> DType:
        later = [k for k, i in enumerate(weighted) if i >= stage]
        k = later[0] if later else len(weighted) - 1
        return dtypes[0] if len(dtypes) == 1 else dtypes[k]

    conv0 = stages[0][0]
    assert isinstance(conv0, Conv1dLayer)
    c_in = conv0.c_in
    if model.scaling is not None:
        sc_off = model.scaling.offset.reshape(-1, c_in)[0]
        sc_mul = model.scaling.scale.reshape(-1, c_in)[0]
        if not (
            np.allclose(model.scaling.offset.reshape(-1, c_in), sc_off)
            and np.allclose(model.scaling.scale.reshape(-1, c_in), sc_mul)
        ):
            raise UnsupportedModelError("feature scaling of a conv model must be the same per step")
    else:
        sc_off, sc_mul = np.zeros(c_in), np.ones(c_in)
    padded = conv0.pad_left + conv0.pad_right > 0
    spec, offset, step = _channel_affine(lo, hi, c_in, dtype_at(0), sc_off if padded else None)
    if model.scaling is not None:
        spec.scaling = _SCALING[model.scaling.kind]

    # Float calibration of every stage's output (INT16 activations also on margin rows).
    wide = np.vstack([calib, margin_rows(calib, lo, hi)])
    h_cal, h_wide = model.scale_inputs(calib), model.scale_inputs(wide)
    levels0 = np.where(step > 0, (calib.reshape(calib.shape[0], -1, c_in) - offset), 0.0)
    levels0 = levels0 / np.where(step > 0, step, 1.0)
    ch_mean = levels0.reshape(-1, c_in).mean(axis=0)
    ch_var = levels0.reshape(-1, c_in).var(axis=0)
    outs: list[tuple[F64, F64, F64, F64]] = []  # (pre-act cal, pre-act wide, post cal, post wide)
    for layer, act in stages:
        z_cal, z_wide = layer.forward(h_cal), layer.forward(h_wide)
        h_cal = act.forward(z_cal) if act is not None else z_cal
        h_wide = act.forward(z_wide) if act is not None else z_wide
        outs.append((z_cal, z_wide, h_cal, h_wide))

    ops: list[QOp] = []
    q_in = ActQuant(scale=1.0, zp=spec.zp, dtype=dtype_at(0))
    lo_in, hi_in = dtype_at(0).qmin, dtype_at(0).qmax
    out_frac_bits = 0
    last_scale = 1.0
    for si, (layer, act) in enumerate(stages):
        name = f"layer {si} ({type(layer).__name__})"
        if isinstance(layer, Pool1dLayer):
            if layer.kind is PoolKind.MAX:
                ops.append(
                    QPool(
                        PoolMode.MAX,
                        layer.channels,
                        layer.t_in,
                        layer.kernel,
                        layer.stride,
                        lo_in,
                        hi_in,
                    )
                )
            else:
                m, s = avg_multiplier(layer.kernel, max(abs(lo_in), abs(hi_in)))
                ops.append(
                    QPool(
                        PoolMode.AVG,
                        layer.channels,
                        layer.t_in,
                        layer.kernel,
                        layer.stride,
                        lo_in,
                        hi_in,
                        m,
                        s,
                    )
                )
            ch = layer.channels
            post = outs[si][2].reshape(-1, ch)
            ch_mean, ch_var = post.mean(axis=0), post.var(axis=0)
            continue
        dtype = dtype_at(si)
        last = si == len(stages) - 1
        out_dtype = dtype if last else dtype_at(si + 1)
        if isinstance(layer, Conv1dLayer):
            w, b = layer.matrix(), layer.bias.copy()
            k, cin = layer.k, layer.c_in
            mean, var = np.tile(ch_mean, k), np.tile(ch_var, k)
        else:
            w, b = layer.weight, layer.bias.copy()
            cin = 0
            # Input statistics per flat index: the channel statistics replicated over time
            # when the dense layer reads a sequence, else the previous stage's outputs.
            prev = outs[si - 1][2]
            mean, var = prev.mean(axis=0), prev.var(axis=0)
        if si == 0:
            assert isinstance(layer, Conv1dLayer)
            cols_mul = np.tile(sc_mul, layer.k)
            w_x = w * cols_mul[None, :]
            b = b + w_x @ np.tile(offset - sc_off, layer.k)
            w = w_x * np.tile(step, layer.k)[None, :]
        z_cal, z_wide = outs[si][0], outs[si][1]
        z = z_wide if out_dtype is DType.I16 else z_cal
        zmin, zmax = float(z.min()), float(z.max())
        relu = act is not None and act.kind is Activation.RELU
        if last:
            zmin, zmax = float(z_cal.min()), float(z_cal.max())
            frac = _output_frac_bits(max(abs(zmin), abs(zmax)), model.head is not Head.NONE)
            q_out = ActQuant(scale=2.0**-frac, zp=0, dtype=out_dtype)
            lo_c, hi_c = I32_MIN, I32_MAX
            out_frac_bits = frac
        else:
            q_out = _hidden_params(0.0 if relu else zmin, zmax, out_dtype)
            lo_c, hi_c = out_dtype.qmin, out_dtype.qmax
        if relu:
            lo_c = max(lo_c, q_out.zp)
        wq, w_scale, bias = quantize_dense(
            w, b, q_in.scale, q_in.zp, dtype, name, in_mean=mean, in_var=var
        )
        bound = accumulator_bound(wq, bias, dtype)
        mult, shift = choose_requant(q_in.scale * w_scale / q_out.scale, bound, name)
        if isinstance(layer, Conv1dLayer):
            ops.append(
                QConv1d(
                    dtype=dtype,
                    weight=wq.reshape(layer.c_out, layer.k, cin),
                    bias=bias,
                    multiplier=mult,
                    shift=shift,
                    zp_out=q_out.zp,
                    lo=lo_c,
                    hi=hi_c,
                    t_in=layer.t_in,
                    stride=layer.stride,
                    dilation=layer.dilation,
                    pad_left=layer.pad_left,
                    pad_right=layer.pad_right,
                    pad_value=q_in.zp,
                    # Two channels per i64 word: ~2.5x fewer CU per MAC than COMPACT; conv
                    # weights are few (reused at every position), so the 4x bytes are cheap.
                    layout=Layout.PACKED
                    if packed_conv_ok(dtype, layer.c_out, layer.k * cin)
                    else Layout.COMPACT,
                )
            )
            post = outs[si][2].reshape(-1, layer.c_out)
            ch_mean, ch_var = post.mean(axis=0), post.var(axis=0)
        else:
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
        q_in, lo_in, hi_in = q_out, lo_c, hi_c
        last_scale = q_out.scale
        if act is not None and not relu:
            lut_out = _lut_output(act.kind, out_dtype)
            ops.append(
                QLut(
                    dtype=out_dtype,
                    kind=LUT_KIND[act.kind],
                    table=_lut_table(act, q_out, lut_out, out_dtype),
                    n=layer.n_out,
                )
            )
            q_in = lut_out
            lo_in, hi_in = out_dtype.qmin, out_dtype.qmax
    return neural_qmodel(model, spec, ops, stages[-1][0].n_out, last_scale, out_frac_bits)
