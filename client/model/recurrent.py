"""GRU and LSTM: the integer reference (the spec of docs/model-format.md "GRU and LSTM") and
the activation tables the compiler stores with the op.

Everything here is int64 numpy arithmetic over a batch; ``reference.run_op`` calls
``run_recurrent``. The pure-Python walker has its own scalar copy (``pure.py``) that reads the
file bytes, so the two executors check each other.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .qmodel import OpKind, QRecurrent

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]

# Hidden state and gate outputs are Q15: 1.0 is 2^15 (never reached: tables stop at 32767).
STATE_BITS = 15
I16_MIN, I16_MAX = -32768, 32767
# Default fraction bits of the gate pre-activations (Q12: range +-8, where sigmoid and tanh are
# within 3.4e-4 of their limits).
GATE_BITS = 12
TABLE_LEN = 513
# Speed mode: the h part reads h >> 8 (Q7), so PACKED3's three 21-bit lanes stay exact for up
# to this many hidden units (128 * 127 * 64 < 2^20).
H8_SHIFT = 8
H8_MAX_HIDDEN = 64
# INT8 weights are stored in row pairs (PACKED); a lane stays exact while
# n * 128 * 32768 < 2^31, i.e. at most this many columns (features, hidden units).
PAIR_MAX_COLS = 511


def _rshift_round(v: I64, s: int) -> I64:
    out: I64 = (v + (np.int64(1) << np.int64(s - 1))) >> np.int64(s)
    return out


def _clamp16(v: I64) -> I64:
    out: I64 = np.clip(v, I16_MIN, I16_MAX)
    return out


def lut16(table: I64, q: I64) -> I64:
    """The INT16 LUT of 1.6: 513 entries, linear interpolation on the low 7 bits."""
    u = q + 32768
    idx = u >> 7
    frac = u & 127
    out: I64 = table[idx] + (((table[idx + 1] - table[idx]) * frac + 64) >> 7)
    return out


def gate_table(fn: str, gate_bits: int) -> I64:
    """Entry k = round(f(q / 2^G) * 2^15) at q = 128k - 32768, clipped to i16 (sigmoid to
    [0, 32767], tanh to [-32767, 32767])."""
    q = np.arange(TABLE_LEN, dtype=np.float64) * 128 - 32768
    x = q / 2.0**gate_bits
    if fn == "sigmoid":
        y = 0.5 * (1.0 + np.tanh(0.5 * x))
        lo = 0
    else:
        y = np.tanh(x)
        lo = -I16_MAX
    out: I64 = np.clip(np.rint(y * 2.0**STATE_BITS), lo, I16_MAX).astype(np.int64)
    return out


def h8_of(h: I64) -> I64:
    """The speed mode's Q7 copy of the Q15 state: clamp(rshift_round(h, 8), -128, 127)."""
    out: I64 = np.clip(_rshift_round(h, H8_SHIFT), -128, 127)
    return out


def _h_acc(op: QRecurrent, h: I64) -> I64:
    """The h part's exact row sums; in speed mode as the PACKED3 kernel forms them (one chunk
    of all H columns per group, lanes split as in 1.5), so even a file that breaks the lane
    bound gives the kernel's numbers."""
    if not op.h8:
        out: I64 = h @ op.wh.T
        return out
    from .layouts import P3_WORDS, lanes3, packed3_encode, packed3_groups

    perm = unit_major(op.gates, op.hidden)
    groups = packed3_groups(op.rows)
    words = packed3_encode(op.wh[perm]).reshape(groups, op.hidden, P3_WORDS)
    t = h8_of(h) @ words.transpose(1, 0, 2).reshape(op.hidden, -1)
    lanes = np.stack(lanes3(t), axis=2).reshape(h.shape[0], -1)[:, : op.rows]
    out = lanes[:, np.argsort(perm)]
    return out


def _gate_parts(op: QRecurrent, x_t: I64, h: I64) -> tuple[I64, I64]:
    """(px, ph), each (B, rows): the requantized x and h parts of every gate row,
    ``(acc * M + c) >> S``."""
    s = np.int64(op.shift)
    px: I64 = ((x_t @ op.wx.T) * op.mx + op.cx) >> s
    ph: I64 = (_h_acc(op, h) * op.mh + op.ch) >> s
    return px, ph


def gru_step(op: QRecurrent, x_t: I64, h: I64) -> I64:
    hid = op.hidden
    px, ph = _gate_parts(op, x_t, h)
    pre = px + ph
    r = lut16(op.sigmoid, _clamp16(pre[:, :hid]))
    z = lut16(op.sigmoid, _clamp16(pre[:, hid : 2 * hid]))
    hn = _clamp16(ph[:, 2 * hid :])
    n = lut16(op.tanh, _clamp16(px[:, 2 * hid :] + _rshift_round(r * hn, STATE_BITS)))
    return _clamp16(n + _rshift_round(z * (h - n), STATE_BITS))


def lstm_step(op: QRecurrent, x_t: I64, h: I64, c: I64) -> tuple[I64, I64]:
    hid = op.hidden
    px, ph = _gate_parts(op, x_t, h)
    pre = _clamp16(px + ph)
    i = lut16(op.sigmoid, pre[:, :hid])
    f = lut16(op.sigmoid, pre[:, hid : 2 * hid])
    g = lut16(op.tanh, pre[:, 2 * hid : 3 * hid])
    o = lut16(op.sigmoid, pre[:, 3 * hid :])
    c = _rshift_round(f * c, STATE_BITS) + _rshift_round(i * g, STATE_BITS)
    tc = lut16(op.tanh, _clamp16(_rshift_round(c, STATE_BITS - op.gate_bits)))
    return _clamp16(_rshift_round(o * tc, STATE_BITS)), c


def run_recurrent(op: QRecurrent, x: I64) -> I64:
    """(B, steps * features) -> (B, hidden) or (B, steps * hidden)."""
    batch = x.shape[0]
    xs = x.reshape(batch, op.steps, op.features)
    h = np.zeros((batch, op.hidden), dtype=np.int64)
    c = np.zeros((batch, op.hidden), dtype=np.int64)
    seq = []
    for t in range(op.steps):
        if op.kind is OpKind.GRU:
            h = gru_step(op, xs[:, t], h)
        else:
            h, c = lstm_step(op, xs[:, t], h, c)
        if op.sequence:
            seq.append(h)
    if op.sequence:
        return np.concatenate(seq, axis=1)
    return h


# INT8 weights: rows in groups of 8 (four row pairs), rows padded with zeros to a multiple of 8.
GROUP_ROWS = 8
GROUP_WORDS = 4


def padded_rows(rows: int) -> int:
    return -(-rows // GROUP_ROWS) * GROUP_ROWS


def unit_major(gates: int, hidden: int) -> I64:
    """File row ``k * gates + g`` holds logical (gate-major) row ``g * hidden + k``: a hidden
    unit's gates are adjacent, so the kernel reads them at fixed offsets."""
    k, g = np.divmod(np.arange(gates * hidden), gates)
    out: I64 = g * hidden + k
    return out


def group_encode(w: I64) -> I64:
    """INT8 rows (already in file order) as paired words grouped by four pairs:
    ``P[grp][j][q] = w[8grp + 2q][j] + w[8grp + 2q + 1][j] * 2^32``, group by group, column by
    column, ``q`` fastest; rows padded with zeros to a multiple of 8."""
    rows, cols = w.shape
    full = np.zeros((padded_rows(rows), cols), dtype=np.int64)
    full[:rows] = w
    g = full.reshape(-1, GROUP_WORDS, 2, cols)  # (groups, q, lane, cols)
    words = g[:, :, 0, :] + (g[:, :, 1, :] << 32)  # (groups, q, cols)
    out: I64 = words.transpose(0, 2, 1).reshape(-1)
    return out


def group_decode(words: I64, rows: int, cols: int) -> tuple[I64, bool]:
    """Rows (file order) of a grouped array and whether every word held two int8 lanes with
    zero padding rows."""
    groups = padded_rows(rows) // GROUP_ROWS
    wd = words.reshape(groups, cols, GROUP_WORDS).transpose(0, 2, 1)  # (groups, q, cols)
    lo = ((wd & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000
    hi = (wd - lo) >> 32
    ok = bool(((lo >= -128) & (lo <= 127) & (hi >= -128) & (hi <= 127)).all())
    w = np.stack([lo, hi], axis=2).reshape(-1, cols)
    ok = ok and not w[rows:].any()
    return w[:rows], ok


__all__ = [
    "GATE_BITS",
    "H8_MAX_HIDDEN",
    "PAIR_MAX_COLS",
    "STATE_BITS",
    "gate_table",
    "group_decode",
    "group_encode",
    "gru_step",
    "h8_of",
    "lstm_step",
    "padded_rows",
    "run_recurrent",
    "unit_major",
]
