"""Quantization primitives: scales, symmetric weights, requantization multipliers, bounds.

Floats appear only here and in the compiler (choosing parameters); everything these functions
return is an integer parameter of the numeric contract.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .errors import QuantizationError
from .fixedpoint import I32_MAX, I32_MIN
from .qmodel import DType

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

# Requantization: A * M < 2^62 keeps acc * M inside i64 with room for the rounding term.
PRODUCT_LIMIT = 1 << 62
MULTIPLIER_LIMIT = 1 << 31  # M is stored as u32 but kept below 2^31 so it is also a valid i32
MIN_MULTIPLIER_BITS = 12
INPUT_M_LIMIT = 1 << 30
# A channel whose weights are this much smaller than the layer's largest is quantized on a
# coarser grid, so every channel keeps >= 12 multiplier bits under the shared shift.
CHANNEL_SCALE_FLOOR = 2.0**-18
PACKED_LIMIT = 1 << 31
# Clipping ratios tried per channel when input statistics are known: 2^(-k/4), k < 33, i.e.
# down to 1/256 of the channel's largest |w|.
CLIP_STEPS = 33


@dataclass(frozen=True)
class ActQuant:
    """Affine activation quantization: real = scale * (q - zp), q in [qmin, qmax]."""

    scale: float
    zp: int
    dtype: DType

    def quantize(self, x: F64) -> I64:
        q = np.rint(x / self.scale) + self.zp
        return np.clip(q, self.dtype.qmin, self.dtype.qmax).astype(np.int64)

    def dequantize(self, q: I64) -> F64:
        out: F64 = self.scale * (q.astype(np.float64) - self.zp)
        return out


def asymmetric_params(lo: float, hi: float, dtype: DType) -> ActQuant:
    """Scale and zero point covering [lo, hi] (widened to contain 0, so 0 is exact)."""
    lo = min(lo, 0.0)
    hi = max(hi, 0.0)
    if hi - lo < 1e-12:
        hi = lo + 1e-6
    levels = dtype.qmax - dtype.qmin
    scale = (hi - lo) / levels
    zp = int(np.clip(round(dtype.qmin - lo / scale), dtype.qmin, dtype.qmax))
    return ActQuant(scale=scale, zp=zp, dtype=dtype)


def quantize_weights(weight: F64, dtype: DType, in_var: F64 | None = None) -> tuple[I64, F64]:
    """Symmetric per-output-channel quantization: w ~= scale_i * q_ij, |q_ij| <= qmax.

    Without ``in_var`` a channel's scale covers its largest |w| (no weight is clipped).  With
    ``in_var`` (the variance of each input on the calibration data) each channel takes, from
    a grid of clipping ratios, the scale minimising the expected squared pre-activation error
    ``sum_j var_j (w_ij - w^_ij)^2``: a weight that multiplies an input which barely varies
    (a pixel that is almost always 0) no longer sets the grid for all the others.
    """
    qmax = dtype.qmax
    row_max = np.max(np.abs(weight), axis=1) if weight.shape[1] else np.zeros(weight.shape[0])
    top = float(row_max.max()) if row_max.size else 0.0
    if top == 0.0:
        scales = np.ones(weight.shape[0])
    else:
        floor = top / qmax * CHANNEL_SCALE_FLOOR
        scales = np.maximum(row_max / qmax, floor)
        if in_var is not None:
            scales = _mse_scales(weight, scales, floor, qmax, np.asarray(in_var, np.float64))
    q = np.clip(np.rint(weight / scales[:, None]), -qmax, qmax).astype(np.int64)
    return q, scales


def _mse_scales(weight: F64, full: F64, floor: float, qmax: int, var: F64) -> F64:
    best = full.copy()
    best_err = np.full(full.shape, np.inf)
    for k in range(CLIP_STEPS):
        scale = np.maximum(full * 2.0 ** (-k / 4), floor)
        deq = np.clip(np.rint(weight / scale[:, None]), -qmax, qmax) * scale[:, None]
        err = ((weight - deq) ** 2 * var[None, :]).sum(axis=1)
        better = err < best_err * (1 - 1e-9)
        best = np.where(better, scale, best)
        best_err = np.where(better, err, best_err)
    return best


def accumulator_bound(weight: I64, bias: I64, dtype: DType) -> I64:
    """Per-row bound A_i = |b_i| + sum_j |w_ij| * max|q| on |acc_i| for any input in range."""
    q_abs = max(-dtype.qmin, dtype.qmax)
    out: I64 = np.abs(bias) + np.abs(weight).sum(axis=1) * q_abs
    return out


def quantize_dense(
    weight: F64,
    bias: F64,
    in_scale: float,
    in_zp: int,
    dtype: DType,
    layer: str,
    in_mean: F64 | None = None,
    in_var: F64 | None = None,
) -> tuple[I64, F64, I64]:
    """Per-channel weights plus the folded i32 bias ``round(b' / (s_in s_w)) - zp_in sum_j w``.

    ``in_mean`` / ``in_var`` are the layer's real inputs' mean and variance on the calibration
    data (in the units ``weight`` multiplies).  With them the weight scales minimise the
    variance-weighted error (``quantize_weights``) and the bias is corrected for the weights'
    rounding error at the mean input, ``b' = b + sum_j (w_ij - w^_ij) mean_j``, so a typical
    input sees no systematic offset however far its quantization zero lies from its usual
    value (a pixel at 0 is q = -128 when the declared range starts at 0).
    A channel whose folded bias would not fit in i32 (possible at INT16, where acc units are
    tiny) gets a coarser weight scale, i.e. fewer effective weight bits, until it fits.
    """
    wq, w_scale = quantize_weights(weight, dtype, in_var)
    qmax = dtype.qmax

    def corrected(wq_: I64, w_scale_: F64) -> F64:
        if in_mean is None:
            return bias
        err = weight - wq_.astype(np.float64) * w_scale_[:, None]
        out: F64 = bias + err @ np.asarray(in_mean, np.float64)
        return out

    for _ in range(64):
        b_real = corrected(wq, w_scale)
        folded = np.rint(b_real / (in_scale * w_scale)) - in_zp * wq.sum(axis=1).astype(np.float64)
        over = np.abs(folded) > I32_MAX * 0.999
        if not over.any():
            break
        w_scale = np.where(
            over, w_scale * np.maximum(np.abs(folded) / (I32_MAX * 0.5), 2.0), w_scale
        )
        wq = np.clip(np.rint(weight / w_scale[:, None]), -qmax, qmax).astype(np.int64)
    b_real = corrected(wq, w_scale)
    out = np.rint(b_real / (in_scale * w_scale)).astype(np.int64) - in_zp * wq.sum(axis=1)
    check_bias(out, layer)
    return wq, w_scale, out


def check_bias(bias: I64, layer: str) -> None:
    bad = np.nonzero((bias < I32_MIN) | (bias > I32_MAX))[0]
    if bad.size:
        i = int(bad[0])
        raise QuantizationError(
            f"{layer}: folded bias of channel {i} = {int(bias[i])} does not fit in i32; the "
            "bias is too large relative to the channel's weight scale"
        )


def choose_requant(real: F64, bound: I64, layer: str) -> tuple[I64, int]:
    """Per-channel multipliers M_i and one shift S with M_i * 2^-S ~= real_i.

    Picks the largest S in 1..62 such that every M_i < 2^31 and A_i * M_i < 2^62, then
    refuses the layer if any channel keeps fewer than 12 significant multiplier bits.
    """
    if np.any(real <= 0) or not np.all(np.isfinite(real)):
        raise QuantizationError(f"{layer}: requantization scales must be positive and finite")
    bound = np.maximum(bound, 1)
    for shift in range(62, 0, -1):
        mult = np.rint(real * 2.0**shift)
        if np.all(mult < MULTIPLIER_LIMIT) and np.all(
            mult * bound.astype(np.float64) < float(PRODUCT_LIMIT) * (1 - 2.0**-40)
        ):
            m = mult.astype(np.int64)
            # Exact integer re-check: the float screen above must never admit an overflow.
            if all(int(a) * int(mi) < PRODUCT_LIMIT for a, mi in zip(bound, m, strict=True)):
                break
    else:
        raise QuantizationError(
            f"{layer}: requantization scale {float(real.max()):.3g} is too large for a "
            "multiplier below 2^31 with shift >= 1"
        )
    weakest = int(np.argmin(m))
    bits = int(m[weakest]).bit_length()
    if bits < MIN_MULTIPLIER_BITS:
        raise QuantizationError(
            f"{layer}: accumulator bound {int(bound[weakest])} of channel {weakest} leaves only "
            f"{bits} bits of multiplier precision (A * M < 2^62 needs M < "
            f"{PRODUCT_LIMIT // int(bound[weakest])}); at least {MIN_MULTIPLIER_BITS} are "
            "required, so the accumulator could overflow for this fan-in"
        )
    return m, shift


def choose_input_affine(factor: F64) -> tuple[I64, I64]:
    """Per-feature (m, s) with m * 2^-s ~= factor, |m| < 2^30, s in 1..62, maximising
    precision; factor 0 gives (0, 1)."""
    f = np.asarray(factor, dtype=np.float64)
    mag = np.abs(f)
    safe = np.where(mag > 0, mag, 1.0)
    s = np.clip(np.floor(np.log2((INPUT_M_LIMIT - 1) / safe)), 1, 62).astype(np.int64)
    m = np.rint(f * np.exp2(s.astype(np.float64)))
    # log2 rounding can overshoot by one: step back where |m| reached the limit.
    over = np.abs(m) >= INPUT_M_LIMIT
    s = np.where(over & (s > 1), s - 1, s)
    m = np.rint(f * np.exp2(s.astype(np.float64)))
    bad = np.nonzero(np.abs(m) >= INPUT_M_LIMIT)[0]
    if bad.size:
        j = int(bad[0])
        raise QuantizationError(
            f"input feature {j}: scale factor {float(f[j]):.3g} needs |m| >= 2^30 even with "
            "shift 1; the feature's quantization range is narrower than the Q16.16 resolution"
        )
    weak = np.nonzero((mag > 0) & (np.abs(m) < 2 ** (MIN_MULTIPLIER_BITS - 1)))[0]
    if weak.size:
        j = int(weak[0])
        raise QuantizationError(
            f"input feature {j}: scale factor {float(f[j]):.3g} leaves fewer than "
            f"{MIN_MULTIPLIER_BITS} multiplier bits even with shift 62"
        )
    return m.astype(np.int64), np.where(mag > 0, s, 1)


def choose_softmax_k(scale: float) -> tuple[int, int]:
    """K and k_shift with K * 2^-(16 + k_shift) ~= scale * log2(e), K < 2^32."""
    c = scale * math.log2(math.e)
    if not math.isfinite(c) or c <= 0:
        raise QuantizationError(f"softmax: logit scale {scale!r} must be positive and finite")
    if c * 2.0**32 < 31:
        raise QuantizationError(
            f"softmax: logit scale {scale:.3g} is so fine that a gap of 2^32 units is worth less "
            "than 31 octaves; the e = 0 shortcut for such gaps would be wrong"
        )
    for k_shift in range(63, -1, -1):
        k = round(c * 2.0 ** (16 + k_shift))
        if k < 1 << 32:
            if k.bit_length() < MIN_MULTIPLIER_BITS:
                raise QuantizationError(f"softmax: logit scale {scale:.3g} is too coarse for K")
            return k, k_shift
    raise QuantizationError(f"softmax: logit scale {scale:.3g} is too coarse (K >= 2^32)")


def to_q16(x: F64) -> I64:
    """floor(x * 65536 + 0.5) with an error for values outside i32."""
    v = np.floor(np.asarray(x, dtype=np.float64) * 65536.0 + 0.5)
    if np.any(v < I32_MIN) or np.any(v > I32_MAX) or not np.all(np.isfinite(v)):
        raise QuantizationError("a value does not fit in i32 Q16.16 (|x| must be < 32768)")
    return v.astype(np.int64)


def threshold_q16(t: F64) -> I64:
    """Tree thresholds: floor(t * 65536), saturated to i32 (saturation keeps the comparison
    right for every i32 feature except the single value -2^31)."""
    v = np.floor(np.asarray(t, dtype=np.float64) * 65536.0)
    return np.clip(v, I32_MIN, I32_MAX).astype(np.int64)
