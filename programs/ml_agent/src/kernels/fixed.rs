//! Integer helpers of the numeric contract (docs/model-format.md): rounding shifts, clamps,
//! input quantization and per-channel requantization.
//!
//! Arithmetic wraps like the numpy reference's int64 arrays. The compiler proves that valid
//! models never overflow; wrapping keeps even a hostile model's results equal to the
//! reference's (and keeps debug host builds from panicking on them).

/// `(v + 2^(s-1)) >> s` with an arithmetic shift: round half up. `s` in 1..=62.
#[inline(always)]
pub fn rshift_round(v: i64, s: u32) -> i64 {
    v.wrapping_add(1i64 << (s - 1)) >> s
}

#[inline(always)]
pub fn clamp(v: i64, lo: i64, hi: i64) -> i64 {
    if v < lo {
        lo
    } else if v > hi {
        hi
    } else {
        v
    }
}

/// Requantization of a dense layer's accumulators, one multiplier per output channel and a
/// shift shared by the layer.
pub struct Requant<'a> {
    pub bias: &'a [i32],
    pub mult: &'a [u32],
    /// 1..=62 (validated by the caller).
    pub shift: u32,
    pub zp: i64,
    pub lo: i64,
    pub hi: i64,
}

/// `acc[i] = clamp(zp + rshift_round((acc[i] + bias[i]) * mult[i], shift), lo, hi)` in place.
///
/// `rshift_round(v, s)` is computed as `((v >> (s - 1)) + 1) >> 1`, which keeps no rounding
/// constant live. With `v = q * 2^(s-1) + r` both are `floor((q + 1) / 2)`, for every `v` where
/// `v + 2^(s-1)` does not overflow, which the compiler's `A * M < 2^62` bound guarantees.
#[inline(never)]
pub fn requantize(acc: &mut [i64], r: &Requant) {
    let n = acc.len();
    assert!(r.bias.len() >= n && r.mult.len() >= n && (1..=62).contains(&r.shift));
    // SAFETY: n words and at least n bias/multiplier entries (asserted), shift in 1..=62.
    unsafe {
        let y = acc.as_mut_ptr();
        requantize_raw(y, y.add(n), r.bias.as_ptr(), r.mult.as_ptr(), &r.out());
    }
}

/// A layer's shift, zero point and clamp: what `requantize_raw` applies to every channel.
pub struct RequantOut {
    /// `shift - 1`, in 0..=61.
    pub s1: u32,
    pub zp: i64,
    pub lo: i64,
    pub hi: i64,
}

impl Requant<'_> {
    #[inline(always)]
    fn out(&self) -> RequantOut {
        RequantOut {
            s1: self.shift - 1,
            zp: self.zp,
            lo: self.lo,
            hi: self.hi,
        }
    }
}

/// The requantization loop over the words `y..end`, with one bias and one multiplier per word.
/// Always inlined, so the marked executor can call it with parameters read from an op record
/// and keep them in registers.
///
/// # Safety
/// `y..end` are writable words, `bias` and `mult` point to as many entries, and `o.s1 <= 61`.
#[inline(always)]
pub unsafe fn requantize_raw(
    mut y: *mut i64,
    end: *mut i64,
    mut bias: *const i32,
    mut mult: *const u32,
    o: &RequantOut,
) {
    let (s1, zp, lo, hi) = (o.s1, o.zp, o.lo, o.hi);
    while y < end {
        let v = (*y).wrapping_add(*bias as i64).wrapping_mul(*mult as i64);
        *y = clamp(
            zp.wrapping_add(v.unchecked_shr(s1).wrapping_add(1) >> 1),
            lo,
            hi,
        );
        y = y.add(1);
        bias = bias.add(1);
        mult = mult.add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_half_up_for_both_signs() {
        assert_eq!(rshift_round(5, 1), 3); // 2.5 -> 3
        assert_eq!(rshift_round(-5, 1), -2); // -2.5 -> -2
        assert_eq!(rshift_round(-6, 2), -1); // -1.5 -> -1
        assert_eq!(rshift_round(7, 2), 2); // 1.75 -> 2
        assert_eq!(rshift_round(i64::MAX >> 1, 62), 1);
    }

    #[test]
    fn shift_then_halve_equals_rshift_round() {
        for s in 1..=62u32 {
            for v in [
                0i64,
                1,
                -1,
                2,
                -2,
                3,
                -3,
                1 << 40,
                -(1 << 40) - 1,
                i64::MAX >> 2,
                i64::MIN >> 2,
            ] {
                for d in -3i64..=3 {
                    let v = v.wrapping_add(d << (s - 1));
                    if v.checked_add(1 << (s - 1)).is_none() {
                        continue; // outside the domain the compiler's bound guarantees
                    }
                    assert_eq!(((v >> (s - 1)) + 1) >> 1, rshift_round(v, s), "v={v} s={s}");
                }
            }
        }
    }

    #[test]
    fn requantize_rounds_offsets_and_clamps() {
        let mut acc = [10i64, -10, 1000, -1000];
        let r = Requant {
            bias: &[1, 1, 0, 0],
            mult: &[3, 3, 1, 1],
            shift: 2,
            zp: -5,
            lo: -128,
            hi: 127,
        };
        requantize(&mut acc, &r);
        // (11*3+2)>>2 = 8; (-9*3+2)>>2 = -7 (floor of -6.25); 1000>>2 = 250 -> clamp.
        assert_eq!(acc, [3, -12, 127, -128]);
    }
}
