"""CONV1D and POOL: the numpy reference (the specification), their op-record encoding and the
loader's checks. docs/model-format.md, section "Conv1D and pooling", is normative.

Activations are flat, channels-last and time-major: value ``(t, c)`` of a ``T x C`` sequence
is at index ``t * C + c``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from .errors import ModelFormatError
from .layouts import compact_encode, packed_encode
from .qmodel import DType, Layout, PoolMode, QConv1d, QPool

I64 = NDArray[np.int64]

# Geometry limits of the op record (one byte each for K, stride, dilation and both pads).
MAX_GEOM = 255
# PACKED CONV1D: a 32-bit lane sums at most K * C_in products of two int8 (each <= 2^14).
PACKED_MAX_WINDOW = (1 << 17) - 1
# AVG pooling: |sum| * M < 2^62 keeps the product and the rounding term inside i64.
AVG_PRODUCT_LIMIT = 1 << 62


def _rshift_round(v: I64, s: int) -> I64:
    out: I64 = (v + (np.int64(1) << np.int64(s - 1))) >> np.int64(s)
    return out


def conv1d_windows(op: QConv1d) -> I64:
    """(t_out, k) padded-time index read by tap ``j`` of output position ``t``:
    ``t * stride + j * dilation`` (subtract ``pad_left`` for the input time step)."""
    t = np.arange(op.t_out, dtype=np.int64)[:, None] * op.stride
    out: I64 = t + np.arange(op.k, dtype=np.int64)[None, :] * op.dilation
    return out


def conv1d_segment_positions(op: QConv1d) -> int:
    """Output positions whose window is not ``K * C_in`` consecutive input words (a padded tap,
    or dilation > 1): the kernel's per-tap path (`kernels::conv::Geom::segment_positions`)."""
    start = np.arange(op.t_out) * op.stride
    inside = (op.dilation == 1) & (start >= op.pad_left) & (start - op.pad_left + op.k <= op.t_in)
    return int(op.t_out - np.count_nonzero(inside))


def conv1d_acc(op: QConv1d, q: I64) -> I64:
    """Exact accumulators ``b_o + sum_{j, c} w[o, j, c] * x_pad[t * stride + j * dil, c]``,
    shape (B, t_out, c_out); padded positions read ``pad_value``."""
    b = q.shape[0]
    x = q.reshape(b, op.t_in, op.c_in)
    xp = np.full((b, op.t_in + op.pad_left + op.pad_right, op.c_in), op.pad_value, np.int64)
    xp[:, op.pad_left : op.pad_left + op.t_in, :] = x
    win = xp[:, conv1d_windows(op), :].reshape(b, op.t_out, op.k * op.c_in)
    w = op.weight.reshape(op.c_out, op.k * op.c_in)
    out: I64 = win @ w.T + op.bias
    return out


def run_conv1d(op: QConv1d, q: I64) -> I64:
    acc = conv1d_acc(op, q)
    y = op.zp_out + _rshift_round(acc * op.multiplier, op.shift)
    out: I64 = np.clip(y, op.lo, op.hi).reshape(q.shape[0], op.n_out)
    return out


def run_pool(op: QPool, v: I64) -> I64:
    b = v.shape[0]
    x = v.reshape(b, op.t_in, op.channels)
    idx = np.arange(op.t_out, dtype=np.int64)[:, None] * op.stride + np.arange(op.kernel)
    win = x[:, idx, :]  # (B, t_out, kernel, C)
    if op.mode is PoolMode.MAX:
        y = win.max(axis=2)
    else:
        y = _rshift_round(win.sum(axis=2) * op.multiplier, op.shift)
    out: I64 = np.clip(y, op.lo, op.hi).reshape(b, op.n_out)
    return out


def avg_multiplier(kernel: int, max_abs: int) -> tuple[int, int]:
    """``(M, S)`` with ``M / 2^S ~= 1 / kernel``: the largest ``S`` in 62..1 such that
    ``M = rint(2^S / kernel) < 2^31`` and ``kernel * max_abs * M < 2^62`` (``max_abs`` bounds
    |input|). A power-of-two kernel is exact."""
    if kernel < 1:
        raise ValueError(f"pool kernel must be >= 1, got {kernel}")
    for s in range(62, 0, -1):
        m = int(np.rint(2.0**s / kernel)) if s < 53 else (2**s + kernel // 2) // kernel
        if 1 <= m < 1 << 31 and kernel * max(max_abs, 1) * m < AVG_PRODUCT_LIMIT:
            return m, s
    raise ValueError(f"no average multiplier for kernel {kernel} over |x| <= {max_abs}")


# ---------------------------------------------------------------- op records


def conv1d_record(op: QConv1d) -> tuple[int, ...]:
    """``(dtype, layout, mode, n_in, n_out, p0, p1, p2, shift, p3, zp, lo, hi)``."""
    for name, v in (
        ("kernel", op.k),
        ("stride", op.stride),
        ("dilation", op.dilation),
    ):
        if not 1 <= v <= MAX_GEOM:
            raise ValueError(f"CONV1D {name} {v} outside 1..{MAX_GEOM}")
    for name, v in (("pad_left", op.pad_left), ("pad_right", op.pad_right)):
        if not 0 <= v <= MAX_GEOM:
            raise ValueError(f"CONV1D {name} {v} outside 0..{MAX_GEOM}")
    if not (1 <= op.c_in <= 0xFFFF and 1 <= op.c_out <= 0xFFFF):
        raise ValueError(f"CONV1D channels {op.c_in} -> {op.c_out} outside 1..65535")
    if op.t_out < 1:
        raise ValueError(f"CONV1D window {op.span} is longer than the padded input")
    if op.layout is Layout.PACKED and not packed_conv_ok(op.dtype, op.c_out, op.k * op.c_in):
        raise ValueError(
            f"PACKED CONV1D needs INT8, an even C_out and K * C_in <= {PACKED_MAX_WINDOW}"
        )
    if op.layout not in (Layout.COMPACT, Layout.PACKED):
        raise ValueError(f"CONV1D layout {op.layout.name} (COMPACT or PACKED)")
    p0 = op.c_in | op.c_out << 16
    p1 = op.pad_value & 0xFFFFFFFF
    p2 = op.k | op.stride << 8 | op.dilation << 16 | op.pad_left << 24
    return (
        int(op.dtype), int(op.layout), 0, op.n_in, op.n_out, p0, p1, p2, op.shift, op.pad_right,
        op.zp_out, op.lo, op.hi,
    )  # fmt: skip


def packed_conv_ok(dtype: DType, c_out: int, window: int) -> bool:
    return dtype is DType.I8 and c_out % 2 == 0 and window <= PACKED_MAX_WINDOW


def conv1d_arrays(op: QConv1d) -> list[tuple[I64, str, str]]:
    w = op.weight.reshape(op.c_out, op.k * op.c_in)
    if op.layout is Layout.PACKED:
        words = (packed_encode(w), "<i8", "weights")
    else:
        words = (compact_encode(w, op.dtype), "u1" if op.dtype is DType.I8 else "<i2", "weights")
    return [
        words,
        (op.bias, "<i4", "bias"),
        (op.multiplier, "<u4", "multiplier"),
    ]


def pool_record(op: QPool) -> tuple[int, ...]:
    if op.channels < 1 or not 1 <= op.kernel <= op.t_in or op.stride < 1:
        raise ValueError(
            f"POOL needs channels >= 1, kernel in 1..{op.t_in} and stride >= 1, got "
            f"{op.channels}, {op.kernel}, {op.stride}"
        )
    if op.stride > 0xFFFF:
        raise ValueError(f"POOL stride {op.stride} > 65535")
    m, s = (op.multiplier, op.shift) if op.mode is PoolMode.AVG else (0, 0)
    return (0, 0, int(op.mode), op.n_in, op.n_out, op.channels, op.kernel, m, s, op.stride, 0,
            op.lo, op.hi)  # fmt: skip


# ---------------------------------------------------------------- loader checks

Require = Callable[[bool, int, str, str], None]
ReadArr = Callable[[int, int, str], I64]


def decode_conv1d(
    req: Require,
    arr: ReadArr,
    name: str,
    base: int,
    fields: tuple[int, ...],
    dtype: DType,
) -> QConv1d:
    """Validate a CONV1D record (``fields`` as ``OP_STRUCT`` unpacks them, without the
    offsets) and read its arrays. The caller has checked ``dtype`` and ``n_in``."""
    _, _, layout, mode, n_in, n_out, p0, p1, p2, shift, _, p3, zp, lo, hi = fields
    req(
        layout in (1, 2), base + 2, f"{name}.layout", "CONV1D weights are COMPACT (1) or PACKED (2)"
    )
    req(mode == 0, base + 3, f"{name}.mode", "must be 0 for CONV1D")
    c_in, c_out = p0 & 0xFFFF, p0 >> 16
    req(c_in >= 1 and c_out >= 1, base + 12, f"{name}.p0", "CONV1D needs C_in, C_out >= 1")
    req(n_in % c_in == 0, base + 4, f"{name}.n_in", f"n_in {n_in} is not T_in * C_in {c_in}")
    t_in = n_in // c_in
    k, stride, dil, pad_l = p2 & 0xFF, (p2 >> 8) & 0xFF, (p2 >> 16) & 0xFF, p2 >> 24
    req(
        k >= 1 and stride >= 1 and dil >= 1,
        base + 20,
        f"{name}.p2",
        f"kernel {k}, stride {stride}, dilation {dil} must be >= 1",
    )
    req(p3 <= MAX_GEOM, base + 26, f"{name}.p3", f"pad_right {p3} > {MAX_GEOM}")
    pad_value = p1 - (1 << 32) if p1 >= 1 << 31 else p1
    req(
        dtype.qmin <= pad_value <= dtype.qmax,
        base + 16,
        f"{name}.p1",
        f"pad value {pad_value} outside {dtype.name}",
    )
    span = dil * (k - 1) + 1
    padded = t_in + pad_l + p3
    req(span <= padded, base + 20, f"{name}.p2", f"window {span} > padded input {padded}")
    t_out = (padded - span) // stride + 1
    req(
        n_out == t_out * c_out,
        base + 8,
        f"{name}.n_out",
        f"n_out {n_out}, the geometry gives T_out {t_out} * C_out {c_out}",
    )
    req(1 <= shift <= 62, base + 24, f"{name}.shift", f"shift {shift} outside 1..62")
    req(lo <= hi, base + 32, f"{name}.lo", f"clamp lo {lo} > hi {hi}")
    if layout == 2:
        req(
            packed_conv_ok(dtype, c_out, k * c_in),
            base + 2,
            f"{name}.layout",
            f"PACKED CONV1D needs INT8, an even C_out and K * C_in <= {PACKED_MAX_WINDOW}",
        )
        words = arr(0, c_out // 2 * k * c_in, "<i8").reshape(-1, k * c_in)
        lo_l = ((words & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000
        hi_l = (words - lo_l) >> 32
        ok = (lo_l >= -128) & (lo_l <= 127) & (hi_l >= -128) & (hi_l <= 127)
        req(
            bool(ok.all()), base + 40, f"{name}.weights", "packed word does not hold two int8 lanes"
        )
        w = np.stack([lo_l, hi_l], axis=1).reshape(-1)
    else:
        w = arr(0, c_out * k * c_in, "u1" if dtype is DType.I8 else "<i2")
        if dtype is DType.I8:
            w = w - 128
    bias = arr(1, c_out, "<i4")
    mult = arr(2, c_out, "<u4")
    bad = np.nonzero((mult == 0) | (mult >= 1 << 31))[0]
    req(
        not bad.size,
        base + 48,
        f"{name}.multiplier",
        f"multiplier of channel {int(bad[0]) if bad.size else 0} not in 1..2^31-1",
    )
    return QConv1d(
        dtype=dtype,
        weight=w.reshape(c_out, k, c_in),
        bias=bias,
        multiplier=mult,
        shift=shift,
        zp_out=zp,
        lo=lo,
        hi=hi,
        t_in=t_in,
        stride=stride,
        dilation=dil,
        pad_left=pad_l,
        pad_right=p3,
        pad_value=pad_value,
        layout=Layout(layout),
    )


def decode_pool(
    req: Require,
    name: str,
    base: int,
    fields: tuple[int, ...],
    reads: tuple[int, int] | None,
) -> QPool:
    _, dtype, layout, mode_v, n_in, n_out, p0, p1, p2, shift, _, p3, zp, lo, hi = fields
    req(dtype == 0, base + 1, f"{name}.dtype", "must be 0 for POOL")
    req(layout == 0, base + 2, f"{name}.layout", "must be 0 for POOL")
    req(mode_v in (1, 2), base + 3, f"{name}.mode", f"bad pool mode {mode_v} (1 MAX, 2 AVG)")
    mode = PoolMode(mode_v)
    req(zp == 0, base + 28, f"{name}.zp", "must be 0 for POOL")
    req(p0 >= 1, base + 12, f"{name}.p0", "POOL needs channels >= 1")
    req(n_in % p0 == 0, base + 4, f"{name}.n_in", f"n_in {n_in} is not T_in * C {p0}")
    t_in = n_in // p0
    req(1 <= p1 <= t_in, base + 16, f"{name}.p1", f"kernel {p1} outside 1..{t_in}")
    req(p3 >= 1, base + 26, f"{name}.p3", "stride must be >= 1")
    t_out = (t_in - p1) // p3 + 1
    req(n_out == t_out * p0, base + 8, f"{name}.n_out", f"n_out {n_out} != {t_out} * {p0}")
    req(lo <= hi, base + 32, f"{name}.lo", f"clamp lo {lo} > hi {hi}")
    req(
        reads is not None and lo <= reads[0] and reads[1] <= hi,
        base + 32,
        f"{name}.lo",
        f"POOL clamp [{lo}, {hi}] does not hold the previous op's output range {reads}",
    )
    if mode is PoolMode.MAX:
        req(p2 == 0 and shift == 0, base + 20, f"{name}.p2", "MAX pooling has no multiplier")
    else:
        req(1 <= p2 < 1 << 31, base + 20, f"{name}.p2", f"multiplier {p2} not in 1..2^31-1")
        req(1 <= shift <= 62, base + 24, f"{name}.shift", f"shift {shift} outside 1..62")
        req(
            p1 * max(abs(lo), abs(hi)) * p2 < AVG_PRODUCT_LIMIT,
            base + 20,
            f"{name}.p2",
            "kernel * max|clamp| * multiplier must be < 2^62",
        )
    return QPool(mode, p0, t_in, p1, p3, lo, hi, p2, shift)


__all__ = [
    "ModelFormatError",
    "avg_multiplier",
    "conv1d_acc",
    "conv1d_arrays",
    "conv1d_record",
    "decode_conv1d",
    "decode_pool",
    "pool_record",
    "run_conv1d",
    "run_pool",
]
