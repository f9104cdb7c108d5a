//! 64x64 -> 128-bit multiply-divide without u128.
//!
//! LLVM 22's BPF backend cannot lower u128 (`__multi3`, `__udivti3`), but pool swaps, LP shares
//! and price features multiply two token amounts before dividing. The product is built from
//! 32-bit halves and divided with Knuth's algorithm D on 32-bit digits (Hacker's Delight
//! `divlu`), which needs only the u64 / u64 division BPF has.

const M32: u64 = 0xFFFF_FFFF;

/// `a * b` as (high, low) words.
#[inline(always)]
pub fn mul_wide(a: u64, b: u64) -> (u64, u64) {
    let (a0, a1) = (a & M32, a >> 32);
    let (b0, b1) = (b & M32, b >> 32);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 32) + (p01 & M32) + (p10 & M32);
    let lo = (p00 & M32) | (mid << 32);
    let hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
    (hi, lo)
}

/// `(u1 * 2^64 + u0) / v` for `u1 < v` (so the quotient fits in 64 bits), `v != 0`.
#[inline(never)]
fn div_wide(u1: u64, u0: u64, v: u64) -> u64 {
    const B: u64 = 1 << 32;
    let s = v.leading_zeros();
    let v = v << s;
    let (vn1, vn0) = (v >> 32, v & M32);
    let un32 = if s == 0 {
        u1
    } else {
        (u1 << s) | (u0 >> (64 - s))
    };
    let un10 = u0 << s;
    let (un1, un0) = (un10 >> 32, un10 & M32);
    let mut q1 = un32 / vn1;
    let mut rhat = un32 - q1 * vn1;
    // `q1 >= B` is tested first, so `q1 * vn0` below never overflows.
    while q1 >= B || q1 * vn0 > (rhat << 32) + un1 {
        q1 -= 1;
        rhat += vn1;
        if rhat >= B {
            break;
        }
    }
    let un21 = (un32 << 32)
        .wrapping_add(un1)
        .wrapping_sub(q1.wrapping_mul(v));
    let mut q0 = un21 / vn1;
    rhat = un21 - q0 * vn1;
    while q0 >= B || q0 * vn0 > (rhat << 32) + un0 {
        q0 -= 1;
        rhat += vn1;
        if rhat >= B {
            break;
        }
    }
    (q1 << 32) + q0
}

/// `floor(a * b / d)`, or None when `d == 0` or the quotient does not fit in a u64.
#[inline(always)]
pub fn mul_div_floor(a: u64, b: u64, d: u64) -> Option<u64> {
    if d == 0 {
        return None;
    }
    let (hi, lo) = mul_wide(a, b);
    if hi == 0 {
        return Some(lo / d);
    }
    if hi >= d {
        return None;
    }
    Some(div_wide(hi, lo, d))
}

/// `ceil(a * b / d)`, or None like `mul_div_floor`.
#[inline(always)]
pub fn mul_div_ceil(a: u64, b: u64, d: u64) -> Option<u64> {
    if d == 0 {
        return None;
    }
    let (hi, lo) = mul_wide(a, b);
    // (a*b + d - 1) as a 128-bit sum.
    let (lo2, carry) = lo.overflowing_add(d - 1);
    let hi2 = hi + carry as u64;
    if hi2 == 0 {
        return Some(lo2 / d);
    }
    if hi2 >= d {
        return None;
    }
    Some(div_wide(hi2, lo2, d))
}

/// `floor((hi * 2^64 + lo) / d)`, or None when `d == 0` or the quotient does not fit in a u64.
#[inline(always)]
pub fn div_wide_floor(hi: u64, lo: u64, d: u64) -> Option<u64> {
    if d == 0 {
        return None;
    }
    if hi == 0 {
        return Some(lo / d);
    }
    if hi >= d {
        return None;
    }
    Some(div_wide(hi, lo, d))
}

/// `(hi, lo) + (bh, bl)` modulo 2^128 (the pool's cumulative price wraps, like Uniswap v2's:
/// only differences of two readings are meaningful, and they stay exact across a wrap).
#[inline(always)]
pub fn add_wide(a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
    let (lo, carry) = a.1.overflowing_add(b.1);
    (a.0.wrapping_add(b.0).wrapping_add(carry as u64), lo)
}

/// `(hi, lo) - (bh, bl)` modulo 2^128.
#[inline(always)]
pub fn sub_wide(a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
    let (lo, borrow) = a.1.overflowing_sub(b.1);
    (a.0.wrapping_sub(b.0).wrapping_sub(borrow as u64), lo)
}

/// `floor(sqrt(a * b))` (the first LP mint of a pool), by Newton's method from above on the
/// 128-bit product: every iterate stays >= the root, so `n / x` fits in a u64.
#[inline(never)]
pub fn isqrt_mul(a: u64, b: u64) -> u64 {
    let (hi, lo) = mul_wide(a, b);
    if hi == 0 && lo < 2 {
        return lo;
    }
    let bits = if hi != 0 {
        128 - hi.leading_zeros()
    } else {
        64 - lo.leading_zeros()
    };
    let half = bits.div_ceil(2);
    let mut x = if half >= 64 { u64::MAX } else { 1u64 << half };
    loop {
        // x >= sqrt(n) > hi, so the quotient fits.
        let q = if hi == 0 { lo / x } else { div_wide(hi, lo, x) };
        let y = (x >> 1) + (q >> 1) + (x & q & 1);
        if y >= x {
            return x;
        }
        x = y;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(s: &mut u64) -> u64 {
        *s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let hi = *s >> 32;
        *s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (hi << 32) | (*s >> 32)
    }

    #[test]
    fn matches_u128_arithmetic() {
        let mut s = 7u64;
        let edges = [0u64, 1, 2, 3, M32, M32 + 1, u64::MAX, u64::MAX - 1, 1 << 63];
        let mut cases = std::vec::Vec::new();
        for &a in &edges {
            for &b in &edges {
                for &d in &edges {
                    cases.push((a, b, d));
                }
            }
        }
        for i in 0..200_000 {
            let shift = |x: u64, k: u64| x >> (k % 64);
            let (a, b, d) = (lcg(&mut s), lcg(&mut s), lcg(&mut s));
            let k = lcg(&mut s);
            cases.push((shift(a, k), shift(b, k >> 6), shift(d, k >> 12).max(i % 3)));
        }
        for (a, b, d) in cases {
            let p = a as u128 * b as u128;
            let (hi, lo) = mul_wide(a, b);
            assert_eq!(((hi as u128) << 64) | lo as u128, p);
            let floor = if d == 0 {
                None
            } else {
                u64::try_from(p / d as u128).ok()
            };
            assert_eq!(mul_div_floor(a, b, d), floor, "{a} * {b} / {d}");
            let ceil = if d == 0 {
                None
            } else {
                u64::try_from(p.div_ceil(d as u128)).ok()
            };
            assert_eq!(mul_div_ceil(a, b, d), ceil, "ceil {a} * {b} / {d}");
            let r = isqrt_mul(a, b);
            assert!((r as u128) * (r as u128) <= p, "isqrt {a} * {b}");
            let next = (r as u128 + 1).checked_mul(r as u128 + 1);
            assert!(next.is_none_or(|n| n > p), "isqrt {a} * {b}");
            let w = add_wide((a, b), (d, a));
            let sum =
                (((a as u128) << 64) | b as u128).wrapping_add(((d as u128) << 64) | a as u128);
            assert_eq!(((w.0 as u128) << 64) | w.1 as u128, sum);
            assert_eq!(sub_wide(w, (d, a)), (a, b));
            let q = if d == 0 {
                None
            } else {
                u64::try_from((((hi as u128) << 64) | lo as u128) / d as u128).ok()
            };
            assert_eq!(div_wide_floor(hi, lo, d), q);
        }
    }
}
