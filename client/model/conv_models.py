"""Random quantized Conv1D models, valid by construction (every accumulator bound of the
numeric contract holds): the golden vectors, the host parity tests and the on-chain parity
tests draw from here. Not a compiler: weights are random integers, not trained ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .conv import avg_multiplier
from .qmodel import (
    Arch,
    ConfMode,
    DType,
    InputSpec,
    Layout,
    PoolMode,
    QArgmax,
    QConv1d,
    QDense,
    QModel,
    QOp,
    QPool,
    Scaling,
    Task,
)


@dataclass(frozen=True)
class ConvSpec:
    t: int  # window length T
    f: int  # features per step F
    c_out: int
    k: int
    stride: int = 1
    dilation: int = 1
    pad_left: int = 0
    pad_right: int = 0
    dtype: DType = DType.I8
    pool: PoolMode | None = PoolMode.MAX
    pool_kernel: int = 0  # 0: global (the whole sequence)
    pool_stride: int = 0  # 0: = kernel
    n_classes: int = 3  # 0: regression head
    packed: bool = False  # PACKED CONV1D (INT8, even c_out)


def _shift_for(acc: np.ndarray, mult: np.ndarray, target: float) -> int:
    """A shift that maps typical |acc * M| to about ``target``."""
    typical = float(np.percentile(np.abs(acc * mult), 90)) + 1.0
    return int(np.clip(np.round(np.log2(typical / target)), 1, 62))


def _safe_shift(bound: np.ndarray, mult: np.ndarray, shift: int) -> int:
    """The overflow rule of format 1.4: every A_i * M_i < 2^62; raise the shift until the
    rounding term also leaves room (the multipliers here are < 2^16, so it always holds)."""
    if int(np.max(bound.astype(object) * mult.astype(object))) >= 1 << 62:
        raise ValueError("random model breaks the accumulator bound")
    return shift


def random_conv_model(spec: ConvSpec, seed: int) -> QModel:
    rng = np.random.default_rng(seed)
    dt = spec.dtype
    qmax = dt.qmax
    wmax = 127 if dt is DType.I8 else 2000
    n = spec.t * spec.f
    lo = np.full(n, -8 << 16, dtype=np.int64)
    hi = np.full(n, 8 << 16, dtype=np.int64)
    # Input affine: q = rshift_round(x * m, s) maps [-8, 8] to about the dtype range.
    s_in = 20
    m_in = int((qmax / (8 << 16)) * (1 << s_in))
    zp_in = 3 if dt is DType.I8 else 0
    inp = InputSpec(
        lo=lo,
        hi=hi,
        dtype=dt,
        zp=zp_in,
        c=np.zeros(n, dtype=np.int64),
        m=np.full(n, m_in, dtype=np.int64),
        s=np.full(n, s_in, dtype=np.int64),
        scaling=Scaling.AFFINE,
    )
    w = rng.integers(-wmax, wmax + 1, size=(spec.c_out, spec.k, spec.f), dtype=np.int64)
    bias = rng.integers(-5000, 5000, size=spec.c_out, dtype=np.int64)
    mult = rng.integers(1 << 14, 1 << 16, size=spec.c_out, dtype=np.int64)
    conv = QConv1d(
        dtype=dt,
        weight=w,
        bias=bias,
        multiplier=mult,
        shift=1,
        zp_out=-20 if dt is DType.I8 else 0,
        lo=-20 if dt is DType.I8 else 0,  # fused ReLU at the zero point
        hi=qmax,
        t_in=spec.t,
        stride=spec.stride,
        dilation=spec.dilation,
        pad_left=spec.pad_left,
        pad_right=spec.pad_right,
        pad_value=zp_in,
        layout=Layout.PACKED if spec.packed else Layout.COMPACT,
    )
    big = np.abs(w).reshape(spec.c_out, -1).sum(axis=1) * (qmax + 1) + np.abs(bias)
    sample = rng.integers(dt.qmin, qmax + 1, size=(64, spec.k * spec.f))
    acc = sample @ w.reshape(spec.c_out, -1).T + bias
    conv.shift = _safe_shift(big, mult, _shift_for(acc, mult, qmax / 3))
    ops: list[QOp] = [conv]
    width, t_cur, lo_c, hi_c = conv.n_out, conv.t_out, conv.lo, conv.hi
    if spec.pool is not None:
        kernel = spec.pool_kernel or t_cur
        stride = spec.pool_stride or kernel
        m, s = (0, 0)
        if spec.pool is PoolMode.AVG:
            m, s = avg_multiplier(kernel, max(abs(lo_c), abs(hi_c)))
        pool = QPool(spec.pool, spec.c_out, t_cur, kernel, stride, lo_c, hi_c, m, s)
        ops.append(pool)
        width = pool.n_out
    n_head = spec.n_classes or 2
    wd = rng.integers(-wmax, wmax + 1, size=(n_head, width), dtype=np.int64)
    bd = rng.integers(-5000, 5000, size=n_head, dtype=np.int64)
    md = rng.integers(1 << 14, 1 << 16, size=n_head, dtype=np.int64)
    bound = np.abs(wd).sum(axis=1) * (qmax + 1) + np.abs(bd)
    dense = QDense(
        dtype=dt,
        layout=Layout.COMPACT,
        weight=wd,
        bias=bd,
        multiplier=md,
        shift=_safe_shift(bound, md, 8),
        zp_out=0,
        lo=-(1 << 31),
        hi=(1 << 31) - 1,
    )
    ops.append(dense)
    task = Task.REGRESSION
    if spec.n_classes:
        ops.append(QArgmax(n_in=n_head, mode=ConfMode.NONE))
        task = Task.CLASSIFICATION
    return QModel(
        arch=Arch.NEURAL,
        task=task,
        input=inp,
        ops=ops,
        n_classes=spec.n_classes,
        out_frac_bits=0,
        name="conv",
    )


def random_features(model: QModel, rows: int, seed: int) -> np.ndarray:
    """Q16.16 inputs spread over the declared range, corners included."""
    rng = np.random.default_rng(seed)
    lo, hi = model.input.lo, model.input.hi
    x = rng.integers(lo, hi + 1, size=(rows, lo.size), dtype=np.int64)
    if rows >= 2:
        x[0], x[1] = lo, hi
    return x


# Golden models: every geometry path of the kernel (contiguous windows, padding on both sides,
# dilation, strides) with max, average and global pooling, at INT8 and INT16.
GOLDEN_SPECS: dict[str, tuple[str, ConvSpec]] = {
    "conv1d_i8_maxpool": (
        "CONV1D INT8 12x3 -> 4 channels, K=3, stride 1, no padding; max pool 2/2; dense 3",
        ConvSpec(t=12, f=3, c_out=4, k=3, pool=PoolMode.MAX, pool_kernel=2),
    ),
    "conv1d_i8_pad_dil_avg": (
        "CONV1D INT8 10x2 -> 5, K=3, stride 2, dilation 2, padding 2/1; average pool 3/2",
        ConvSpec(
            t=10,
            f=2,
            c_out=5,
            k=3,
            stride=2,
            dilation=2,
            pad_left=2,
            pad_right=1,
            pool=PoolMode.AVG,
            pool_kernel=3,
            pool_stride=2,
        ),
    ),
    "conv1d_i16_global_avg": (
        "CONV1D INT16 9x4 -> 3, K=2, padding 1/1; global average pool; regression head",
        ConvSpec(
            t=9,
            f=4,
            c_out=3,
            k=2,
            pad_left=1,
            pad_right=1,
            dtype=DType.I16,
            pool=PoolMode.AVG,
            n_classes=0,
        ),
    ),
    "conv1d_i16_global_max": (
        "CONV1D INT16 8x2 -> 6, K=4, stride 3, padding 3/0; global max pool; dense 4",
        ConvSpec(
            t=8,
            f=2,
            c_out=6,
            k=4,
            stride=3,
            pad_left=3,
            dtype=DType.I16,
            pool=PoolMode.MAX,
            n_classes=4,
        ),
    ),
    "conv1d_i8_packed_pad": (
        "PACKED CONV1D INT8 14x3 -> 6, K=3, padding 2/2 (packed edges and windows); max pool 2/2",
        ConvSpec(
            t=14,
            f=3,
            c_out=6,
            k=3,
            pad_left=2,
            pad_right=2,
            pool=PoolMode.MAX,
            pool_kernel=2,
            packed=True,
        ),
    ),
    "conv1d_i8_packed_dil_avg": (
        "PACKED CONV1D INT8 16x2 -> 4, K=4, stride 2, dilation 2, padding 1/3; global average",
        ConvSpec(
            t=16,
            f=2,
            c_out=4,
            k=4,
            stride=2,
            dilation=2,
            pad_left=1,
            pad_right=3,
            pool=PoolMode.AVG,
            packed=True,
        ),
    ),
    # Windows over 256 words (kernels::conv::GATHER) run tap by tap: every layout.
    "conv1d_wide_packed": (
        "PACKED CONV1D INT8 2x20 -> 4, K=13, padding 6/6: 260-word windows, tap by tap",
        ConvSpec(t=2, f=20, c_out=4, k=13, pad_left=6, pad_right=6, pool=None, packed=True),
    ),
    "conv1d_wide_i8": (
        "COMPACT CONV1D INT8 2x20 -> 3, K=13, padding 6/6: tap by tap; global max",
        ConvSpec(t=2, f=20, c_out=3, k=13, pad_left=6, pad_right=6, pool=PoolMode.MAX),
    ),
    "conv1d_wide_i16": (
        "CONV1D INT16 2x20 -> 3, K=13, padding 5/7: tap by tap; global average",
        ConvSpec(
            t=2, f=20, c_out=3, k=13, pad_left=5, pad_right=7, dtype=DType.I16, pool=PoolMode.AVG
        ),
    ),
    "conv1d_i8_nopool": (
        "CONV1D INT8 6x2 -> 3, K=2, dilation 3, no pooling; flatten into dense 2",
        ConvSpec(t=6, f=2, c_out=3, k=2, dilation=3, pool=None, n_classes=2),
    ),
}
