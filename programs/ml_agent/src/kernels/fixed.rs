//! Integer helpers of the numeric contract (docs/model-format.md).

/// `(v + 2^(s-1)) >> s` with an arithmetic shift: round half up. `s` in 1..=62.
#[inline(always)]
pub fn rshift_round(v: i64, s: u32) -> i64 {
    (v + (1i64 << (s - 1))) >> s
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
}
