//! Checked arithmetic the BPF backend can lower.
//!
//! `u64::checked_mul` widens to u128 and calls `__multi3`, which LLVM 22's BPF backend rejects.
//! LLVM also rewrites the `b > MAX / a` idiom back into that intrinsic, so overflow is detected
//! from 32-bit halves, where no partial product can overflow.

/// `a * b`, or None on overflow.
#[inline(always)]
pub fn mul_u64(a: u64, b: u64) -> Option<u64> {
    let (ah, al) = (a >> 32, a & 0xFFFF_FFFF);
    let (bh, bl) = (b >> 32, b & 0xFFFF_FFFF);
    if ah != 0 && bh != 0 {
        return None;
    }
    // At most one of the two cross terms is non-zero, and each is < 2^64.
    let cross = ah * bl + al * bh;
    if cross > 0xFFFF_FFFF {
        return None;
    }
    (al * bl).checked_add(cross << 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_overflow_like_checked_mul() {
        let cases = [
            (0u64, u64::MAX),
            (1, u64::MAX),
            (2, u64::MAX / 2),
            (2, u64::MAX / 2 + 1),
            (u64::MAX, u64::MAX),
            (1 << 32, 1 << 32),
            ((1 << 32) - 1, (1 << 32) + 1),
        ];
        for (a, b) in cases {
            assert_eq!(mul_u64(a, b), a.checked_mul(b), "{a} * {b}");
            assert_eq!(mul_u64(b, a), b.checked_mul(a), "{b} * {a}");
        }
    }
}
