//! Softmax probabilities (Q16) without per-model tables, and argmax with its confidence modes.
//!
//! Only unsigned division is used: LLVM's BPF backend cannot emit signed division.

/// `P[k] = round(2^(30 - k/16))`, k = 0..=16: the Q30 table of the exp2 interpolation. The same
/// literal table is in the Python reference (`client/model/fixedpoint.py`).
pub const SOFTMAX_P: [u64; 17] = [
    1073741824, 1028218693, 984625594, 942880699, 902905651, 864625413, 827968132, 792865000,
    759250125, 727060411, 696235434, 666717336, 638450708, 611382493, 585461881, 560640218,
    536870912,
];

/// A logit gap of 2^32 units or more contributes 0 (the compiler guarantees such a gap is worth
/// more than 31 octaves), which keeps `gap * K` inside u64.
pub const GAP_LIMIT: u64 = 1 << 32;

/// `2^(-a / 2^16)` in Q30.
#[inline(always)]
pub fn exp2_neg_q30(a: u64) -> u64 {
    let n = a >> 16;
    if n >= 31 {
        return 0;
    }
    let f = a & 0xFFFF;
    let idx = (f >> 12) as usize;
    let r = f & 0xFFF;
    let p0 = SOFTMAX_P[idx];
    let m = p0 - (((p0 - SOFTMAX_P[idx + 1]) * r) >> 12);
    m >> n
}

/// Q16 probabilities of the logits in `v`, in place (`v` not empty):
/// `p_i = (e_i << 16) / sum(e)` with `e_i = exp2_neg_q30(((max - v_i) * k) >> k_shift)`.
/// Returns `argmax(v)` of the probabilities, so a following ARGMAX needs no pass of its own.
#[inline(never)]
pub fn softmax(v: &mut [i64], k: u32, k_shift: u32) -> usize {
    assert!(!v.is_empty() && k_shift <= 63);
    // SAFETY: v.len() readable and writable words; input and output may be the same.
    unsafe { softmax_into(v.as_ptr(), v.as_mut_ptr(), v.len(), k, k_shift) }
}

/// `softmax` reading the logits at `x` and writing the probabilities to `y` (which may be `x`:
/// each logit is read before its probability is written), so a caller whose logits sit in
/// another buffer needs no copy.
///
/// # Safety
/// `x` points to `n >= 1` readable words, `y` to `n` writable words, and `k_shift <= 63`.
#[inline(always)]
pub unsafe fn softmax_into(x: *const i64, y: *mut i64, n: usize, k: u32, k_shift: u32) -> usize {
    let end = x.add(n);
    let mut max = *x;
    let mut p = x.add(1);
    while p < end {
        if *p > max {
            max = *p;
        }
        p = p.add(1);
    }
    let mut total = 0u64;
    let mut p = x;
    let mut o = y;
    while p < end {
        let d = max.wrapping_sub(*p) as u64;
        // The maximum itself (d = 0) is exactly 2^30: no table lookup.
        let e = if d == 0 {
            1 << 30
        } else if d < GAP_LIMIT {
            exp2_neg_q30((d * k as u64) >> k_shift)
        } else {
            0
        };
        *o = e as i64;
        total += e;
        p = p.add(1);
        o = o.add(1);
    }
    // The maximum contributes 2^30, so total >= 2^30: no division by zero.
    // The same pass ranks the probabilities: first index of the largest (what `argmax` of the
    // result returns; probabilities are >= 0, so index 0 always beats the initial -1).
    let (mut best, mut top) = (0usize, -1i64);
    for i in 0..n {
        let o = y.add(i);
        let pr = (((*o as u64) << 16) / total) as i64;
        *o = pr;
        if pr > top {
            (best, top) = (i, pr);
        }
    }
    best
}

/// How argmax turns the winning value into a confidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfMode {
    /// Regression-like heads: confidence 0.
    None,
    /// The input is already Q16 probabilities.
    Prob,
    /// `floor(v / divisor)` (forests: summed leaf probabilities / tree count).
    Div(u32),
}

/// First index of the maximum of `v` (not empty).
#[inline(always)]
pub fn argmax(v: &[i64]) -> usize {
    let mut best = 0usize;
    for i in 1..v.len() {
        if v[i] > v[best] {
            best = i;
        }
    }
    best
}

/// Confidence of the winning value `top` under `mode`.
#[inline(always)]
pub fn confidence(top: i64, mode: ConfMode) -> i64 {
    match mode {
        ConfMode::None => 0,
        ConfMode::Prob => top,
        ConfMode::Div(d) => floor_div(top, d),
    }
}

/// `floor(a / d)` for `d >= 1` with unsigned division only (numpy's `//`).
#[inline(always)]
pub fn floor_div(a: i64, d: u32) -> i64 {
    let d = d as u64;
    if a >= 0 {
        (a as u64 / d) as i64
    } else {
        let m = a.unsigned_abs();
        m.div_ceil(d).wrapping_neg() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp2_hits_table_points_and_underflows() {
        assert_eq!(exp2_neg_q30(0), 1 << 30);
        assert_eq!(exp2_neg_q30(1 << 16), 1 << 29);
        assert_eq!(exp2_neg_q30(1 << 12), SOFTMAX_P[1]);
        assert_eq!(exp2_neg_q30(31 << 16), 0);
        // Halfway between P[0] and P[1].
        let mid = exp2_neg_q30(1 << 11);
        assert_eq!(mid, SOFTMAX_P[0] - ((SOFTMAX_P[0] - SOFTMAX_P[1]) >> 1));
    }

    #[test]
    fn softmax_of_equal_logits_is_uniform_and_big_gaps_vanish() {
        let mut v = [7i64; 4];
        assert_eq!(softmax(&mut v, 94548, 0), 0);
        assert_eq!(v, [16384; 4]);
        let mut v = [0, i64::from(i32::MIN), 5, 5];
        assert_eq!(softmax(&mut v, 1, 0), 2);
        assert_eq!(v[1], 0);
        assert_eq!(v[2], v[3]);
    }

    #[test]
    fn argmax_takes_first_maximum_and_floors_negative_quotients() {
        assert_eq!(argmax(&[1, 9, 9, 3]), 1);
        assert_eq!(argmax(&[4]), 0);
        assert_eq!(argmax(&[-5, -2, -2]), 1);
        assert_eq!(confidence(9, ConfMode::Prob), 9);
        assert_eq!(confidence(9, ConfMode::None), 0);
        assert_eq!(confidence(10, ConfMode::Div(3)), 3);
        assert_eq!(floor_div(-7, 2), -4);
        assert_eq!(floor_div(-6, 2), -3);
        assert_eq!(floor_div(i64::MIN, 1), i64::MIN);
    }
}
