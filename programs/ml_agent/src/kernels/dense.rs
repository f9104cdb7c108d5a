//! Dense matrix-vector kernels: the hot loop of every MLP.
//!
//! sBPF charges one CU per instruction and has no sign-extending loads, so the layouts trade
//! bytes for instructions:
//! - PACKED (INT8): two output rows share one i64 word per input column,
//!   `w[2p][j] + w[2p+1][j] * 2^32`. One load, one 64-bit multiply and one add do two MACs; the
//!   lanes are split once per row pair. Exact while each lane's |sum| < 2^31, which the compiler
//!   proves before choosing this layout.
//! - COMPACT INT8: offset-binary bytes `u = w + 128` (a zero-extending load is then correct);
//!   `sum(w*x) = sum(u*x) - 128*sum(x)`, and `sum(x)` is computed once per layer.
//! - COMPACT INT16: little-endian i16 read as u16 and corrected the same way with 32768.

/// PACKED kernel. `w` holds `pairs * n_in` words (pair-major), `x` the `n_in` inputs (already
/// sign-extended to i64), `acc` receives `2 * pairs` exact row sums (the caller adds biases).
///
/// Two row pairs are processed per pass so each input load feeds four MACs, and columns are
/// unrolled by four so loads use immediate offsets instead of per-element pointer arithmetic.
/// Always inlined: its three slices are six arguments, one more than an out-of-line BPF call
/// can pass.
#[inline(always)]
pub fn packed_i8(w: &[i64], x: &[i64], acc: &mut [i64]) {
    let n_in = x.len();
    let pairs = acc.len() / 2;
    assert!(w.len() >= pairs * n_in && acc.len() == pairs * 2);
    let mut p = 0;
    while p + 1 < pairs {
        // SAFETY: rows p and p+1 lie within w (checked above).
        let (s0, s1) = unsafe { dot2(w.as_ptr().add(p * n_in), n_in, x) };
        split(s0, &mut acc[2 * p..2 * p + 2]);
        split(s1, &mut acc[2 * p + 2..2 * p + 4]);
        p += 2;
    }
    if p < pairs {
        // SAFETY: row p lies within w.
        let s = unsafe { dot1(w.as_ptr().add(p * n_in), x) };
        split(s, &mut acc[2 * p..2 * p + 2]);
    }
}

/// Dot products of rows `r0` and `r0 + n_in` with `x`, sharing each input load.
///
/// # Safety
/// `r0` must point to `2 * n_in` readable i64 words.
#[inline(always)]
unsafe fn dot2(r0: *const i64, n_in: usize, x: &[i64]) -> (i64, i64) {
    let mut a = r0;
    let mut b = r0.add(n_in);
    let mut xp = x.as_ptr();
    let end4 = xp.add(n_in & !3);
    let end = xp.add(n_in);
    let (mut s0, mut s1) = (0i64, 0i64);
    while xp < end4 {
        let (x0, x1, x2, x3) = (*xp, *xp.add(1), *xp.add(2), *xp.add(3));
        s0 = s0
            .wrapping_add((*a).wrapping_mul(x0))
            .wrapping_add((*a.add(1)).wrapping_mul(x1))
            .wrapping_add((*a.add(2)).wrapping_mul(x2))
            .wrapping_add((*a.add(3)).wrapping_mul(x3));
        s1 = s1
            .wrapping_add((*b).wrapping_mul(x0))
            .wrapping_add((*b.add(1)).wrapping_mul(x1))
            .wrapping_add((*b.add(2)).wrapping_mul(x2))
            .wrapping_add((*b.add(3)).wrapping_mul(x3));
        a = a.add(4);
        b = b.add(4);
        xp = xp.add(4);
    }
    while xp < end {
        s0 = s0.wrapping_add((*a).wrapping_mul(*xp));
        s1 = s1.wrapping_add((*b).wrapping_mul(*xp));
        a = a.add(1);
        b = b.add(1);
        xp = xp.add(1);
    }
    (s0, s1)
}

/// # Safety
/// `r` must point to `x.len()` readable i64 words.
#[inline(always)]
unsafe fn dot1(r: *const i64, x: &[i64]) -> i64 {
    let mut s = 0i64;
    let mut j = 0;
    while j < x.len() {
        s = s.wrapping_add((*r.add(j)).wrapping_mul(*x.get_unchecked(j)));
        j += 1;
    }
    s
}

/// Split a packed two-lane sum into its exact lane values.
#[inline(always)]
fn split(s: i64, out: &mut [i64]) {
    let lo = (s << 32) >> 32;
    out[0] = lo;
    out[1] = (s.wrapping_sub(lo)) >> 32;
}

fn sum(x: &[i64]) -> i64 {
    let mut s = 0i64;
    for v in x {
        s += *v;
    }
    s
}

/// COMPACT INT8 kernel: `w` is row-major offset-binary (`n_out * n_in` bytes).
///
/// One row at a time, columns unrolled by eight: BPF's two-operand ALU makes sharing an input
/// across rows cost a register copy per MAC, while a single row keeps load-multiply-add at three
/// instructions plus the input load (measured: ~4.4 CU/MAC vs ~5.3 for row pairs).
pub fn compact_i8(w: &[u8], x: &[i64], acc: &mut [i64]) {
    let n_in = x.len();
    assert!(w.len() >= acc.len() * n_in);
    let correction = sum(x) << 7;
    for (i, a) in acc.iter_mut().enumerate() {
        // SAFETY: row i lies within w (checked above).
        *a = unsafe { dot_u8(w.as_ptr().add(i * n_in), x) } - correction;
    }
}

/// # Safety
/// `r` must point to `x.len()` readable bytes.
#[inline(always)]
unsafe fn dot_u8(mut r: *const u8, x: &[i64]) -> i64 {
    let mut xp = x.as_ptr();
    let end8 = xp.add(x.len() & !7);
    let end = xp.add(x.len());
    let mut s = 0i64;
    while xp < end8 {
        s += *r as i64 * *xp
            + *r.add(1) as i64 * *xp.add(1)
            + *r.add(2) as i64 * *xp.add(2)
            + *r.add(3) as i64 * *xp.add(3)
            + *r.add(4) as i64 * *xp.add(4)
            + *r.add(5) as i64 * *xp.add(5)
            + *r.add(6) as i64 * *xp.add(6)
            + *r.add(7) as i64 * *xp.add(7);
        r = r.add(8);
        xp = xp.add(8);
    }
    while xp < end {
        s += *r as i64 * *xp;
        r = r.add(1);
        xp = xp.add(1);
    }
    s
}

/// COMPACT INT16 kernel: `w` is row-major little-endian i16 (`n_out * n_in` values), read as
/// u16 so loads stay zero-extending; `^ 0x8000` turns that into offset binary.
pub fn compact_i16(w: &[i16], x: &[i64], acc: &mut [i64]) {
    let n_in = x.len();
    assert!(w.len() >= acc.len() * n_in);
    let correction = sum(x) << 15;
    for (i, a) in acc.iter_mut().enumerate() {
        // SAFETY: row i lies within w (checked above).
        *a = unsafe { dot_u16(w.as_ptr().add(i * n_in) as *const u16, x) } - correction;
    }
}

/// # Safety
/// `r` must point to `x.len()` readable u16 values.
#[inline(always)]
unsafe fn dot_u16(mut r: *const u16, x: &[i64]) -> i64 {
    let mut xp = x.as_ptr();
    let end4 = xp.add(x.len() & !3);
    let end = xp.add(x.len());
    let mut s = 0i64;
    while xp < end4 {
        s += ((*r ^ 0x8000) as i64) * *xp
            + ((*r.add(1) ^ 0x8000) as i64) * *xp.add(1)
            + ((*r.add(2) ^ 0x8000) as i64) * *xp.add(2)
            + ((*r.add(3) ^ 0x8000) as i64) * *xp.add(3);
        r = r.add(4);
        xp = xp.add(4);
    }
    while xp < end {
        s += ((*r ^ 0x8000) as i64) * *xp;
        r = r.add(1);
        xp = xp.add(1);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> i64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*seed >> 33) as i64
    }

    fn naive(w: &[i64], n_out: usize, x: &[i64]) -> std::vec::Vec<i64> {
        (0..n_out)
            .map(|i| (0..x.len()).map(|j| w[i * x.len() + j] * x[j]).sum())
            .collect()
    }

    #[test]
    fn layouts_agree_with_naive_matvec() {
        let mut seed = 7u64;
        for &(n_out, n_in) in &[(1, 1), (3, 4), (8, 4), (5, 17), (128, 128), (7, 300)] {
            let w: std::vec::Vec<i64> = (0..n_out * n_in)
                .map(|_| lcg(&mut seed) % 256 - 128)
                .collect();
            let x: std::vec::Vec<i64> = (0..n_in).map(|_| lcg(&mut seed) % 256 - 128).collect();
            let want = naive(&w, n_out, &x);

            let pairs = n_out.div_ceil(2);
            let mut packed = std::vec![0i64; pairs * n_in];
            for p in 0..pairs {
                for j in 0..n_in {
                    let lo = w[2 * p * n_in + j];
                    let hi = if 2 * p + 1 < n_out {
                        w[(2 * p + 1) * n_in + j]
                    } else {
                        0
                    };
                    packed[p * n_in + j] = lo + hi * (1i64 << 32);
                }
            }
            let mut acc = std::vec![0i64; pairs * 2];
            packed_i8(&packed, &x, &mut acc);
            assert_eq!(&acc[..n_out], &want[..], "packed {n_out}x{n_in}");

            let compact: std::vec::Vec<u8> = w.iter().map(|v| (v + 128) as u8).collect();
            let mut acc = std::vec![0i64; n_out];
            compact_i8(&compact, &x, &mut acc);
            assert_eq!(acc, want, "compact i8 {n_out}x{n_in}");

            let w16: std::vec::Vec<i16> = w.iter().map(|v| (*v * 200) as i16).collect();
            let want16: std::vec::Vec<i64> = want.iter().map(|v| v * 200).collect();
            let mut acc = std::vec![0i64; n_out];
            compact_i16(&w16, &x, &mut acc);
            assert_eq!(acc, want16, "compact i16 {n_out}x{n_in}");
        }
    }
}
