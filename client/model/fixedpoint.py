"""Integer primitives of the numeric contract, in plain Python (no numpy).

These are the scalar definitions every executor (numpy reference, pure Python, Rust kernel)
must reproduce bit for bit; docs/model-format.md states the same formulas.
"""

from __future__ import annotations

from collections.abc import Sequence

Q16_ONE = 1 << 16
I32_MIN = -(1 << 31)
I32_MAX = (1 << 31) - 1
I64_MASK = (1 << 64) - 1

# P[k] = round(2^(30 - k/16)), k = 0..16: the fixed Q30 table of the softmax exp2 interpolation.
# Hard-coded (not computed) because the Rust kernel embeds the same literal table.
SOFTMAX_P: tuple[int, ...] = (
    1073741824,
    1028218693,
    984625594,
    942880699,
    902905651,
    864625413,
    827968132,
    792865000,
    759250125,
    727060411,
    696235434,
    666717336,
    638450708,
    611382493,
    585461881,
    560640218,
    536870912,
)

# A logit gap of 2^32 units or more contributes e = 0; the compiler guarantees such a gap is
# worth more than 31 binary orders of magnitude, so this shortcut keeps d * K inside u64.
SOFTMAX_GAP_LIMIT = 1 << 32


def rshift_round(v: int, s: int) -> int:
    """``(v + 2^(s-1)) >> s``: arithmetic shift, round half up; s >= 1."""
    return (v + (1 << (s - 1))) >> s


def clamp(v: int, lo: int, hi: int) -> int:
    return lo if v < lo else hi if v > hi else v


def wrap_i64(v: int) -> int:
    """Two's-complement wrap to i64, as Rust's wrapping arithmetic does."""
    v &= I64_MASK
    return v - (1 << 64) if v >= 1 << 63 else v


def sign_extend_21(v: int) -> int:
    """The low 21 bits of ``v`` as a signed value (a PACKED3 lane)."""
    v &= 0x1FFFFF
    return v - (1 << 21) if v >= 1 << 20 else v


def sign_extend_32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def exp2_neg_q30(a: int) -> int:
    """2^(-a / 2^16) in Q30 via the 17-entry table; a >= 0 (u64)."""
    n = a >> 16
    if n >= 31:
        return 0
    f = a & 0xFFFF
    idx = f >> 12
    r = f & 0xFFF
    m = SOFTMAX_P[idx] - (((SOFTMAX_P[idx] - SOFTMAX_P[idx + 1]) * r) >> 12)
    return m >> n


def softmax_q16(x: Sequence[int], k: int, k_shift: int) -> list[int]:
    """Q16 probabilities of integer logits; k * 2^-(16 + k_shift) = log2(e) * (logit unit)."""
    x_max = max(x)
    e = []
    for xi in x:
        d = x_max - xi
        e.append(0 if d >= SOFTMAX_GAP_LIMIT else exp2_neg_q30((d * k) >> k_shift))
    total = sum(e)
    return [(ei << 16) // total for ei in e]


def argmax_first(v: Sequence[int]) -> int:
    best = 0
    for i in range(1, len(v)):
        if v[i] > v[best]:
            best = i
    return best


def lut16(table: Sequence[int], q: int) -> int:
    """INT16 activation: 513-entry table, linear interpolation on the low 7 bits of q + 32768."""
    u = q + 32768
    idx = u >> 7
    frac = u & 127
    return table[idx] + (((table[idx + 1] - table[idx]) * frac + 64) >> 7)


def float_to_q16(x: float) -> int:
    """Client-side conversion of a raw feature to Q16.16: floor(x * 65536 + 0.5)."""
    import math

    v = math.floor(x * 65536.0 + 0.5)
    if not I32_MIN <= v <= I32_MAX:
        raise OverflowError(f"feature value {x!r} does not fit in i32 Q16.16")
    return v
