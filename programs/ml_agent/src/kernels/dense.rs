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
//! - PACKED3 (INT8): three rows share one i64 word, `w[r][j] + w[r+1][j] * 2^21 +
//!   w[r+2][j] * 2^42`, four such words per column for a group of twelve rows. One load, one
//!   multiply and one add do three MACs; the lanes are split once per chunk of `span` columns,
//!   which the compiler proves short enough for no lane to carry (see `packed3_i8`).

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

/// Rows of one PACKED3 group: four words of three lanes.
pub const P3_ROWS: usize = 12;
/// Words per column of a PACKED3 group.
pub const P3_WORDS: usize = 4;
/// Width of a PACKED3 lane: three lanes fill 63 bits of the word.
pub const P3_LANE_BITS: u32 = 21;
/// The largest |lane sum| a chunk may reach, `2^20 - 1`: the compiler (and the Python loader)
/// require `128 * sum_{j in chunk} |w_ij| <= P3_LANE_LIMIT` for every row and chunk.
pub const P3_LANE_LIMIT: i64 = (1 << 20) - 1;

/// Operands of `packed3_i8`: one register argument (BPF passes at most five).
pub struct Packed3 {
    /// `groups * n_in * 4` words: group by group, column by column, four words per column.
    pub w: *const i64,
    /// The `n_in` inputs.
    pub x: *const i64,
    pub n_in: usize,
    /// Columns per chunk, `>= 1`; the last chunk of a row takes what is left.
    pub span: usize,
    /// `n_out` writable words: the row sums (a last, partial group's padding rows are
    /// computed on the stack and dropped, so the caller's buffer needs no room for them).
    pub y: *mut i64,
    pub n_out: usize,
}

/// PACKED3 kernel: the exact row sums (without bias) of an `n_out` x `n_in` INT8 matrix.
///
/// Each word holds three rows: `W = a + b * 2^21 + c * 2^42`. Over a chunk of columns the
/// kernel sums `T = sum_j W_j * x_j` in wrapping i64 arithmetic; as integers
/// `T = A + B * 2^21 + C * 2^42` with `A = sum_j a_j x_j` and so on, and modulo 2^64 the same
/// identity holds. The lanes come back as
///
/// ```text
/// A = sext21(T)             (T << 43) >> 43
/// T' = (T - A) >> 21        = B + C * 2^21, exact: T - A is a multiple of 2^21
/// B = sext21(T'), C = (T' - B) >> 21
/// ```
///
/// which is exact when `A` and `B` lie in `[-2^20, 2^20)` and `C` in `[-2^21, 2^21)`
/// (`sext21` is the identity there; `C` keeps the word's top 22 bits). **Accumulator bound**:
/// INT8 weights satisfy `|w| <= 127` (the compiler never emits -128) and INT8 activations
/// `-128 <= x <= 127`, so `|lane| <= 128 * sum_{j in chunk} |w_ij|`. The compiler picks `span`
/// so that this is at most `P3_LANE_LIMIT = 2^20 - 1` for every row and every chunk, and the
/// Python loader refuses a file where it is not; `span = 64` always qualifies
/// (`64 * 127 * 128 = 1,040,384 < 2^20`). Under that bound no lane carries into the next and
/// every decoded lane is the exact partial dot product; chunk results are added in i64, so the
/// row sum is exact for any `n_in`. For a file that breaks the bound the kernel computes the
/// same wrapped lanes as the numpy reference, which simulates this arithmetic
/// (the `packed3_*` host tests below).
///
/// Cost per column of a group: one input load and four (load, multiply, add): 13 instructions
/// for 12 MACs; eight columns per iteration share the two pointer updates and the branch (107
/// instructions for 96 MACs, see `cols`). The words of a chunk are contiguous and chunks and
/// groups follow each other, so `w` only moves forward.
///
/// # Safety
/// `w` points to `ceil(n_out / 12) * n_in * 4` readable words, `x` to `n_in >= 1` words, `y`
/// to `n_out >= 1` writable words not overlapping `x`; `span >= 1`.
#[inline(never)]
pub unsafe fn packed3_i8(p: &Packed3) {
    let x = p.x;
    let x_end = x.add(p.n_in);
    let span = p.span;
    let mut w = p.w;
    let mut y = p.y;
    let full_end = y.add(p.n_out / P3_ROWS * P3_ROWS);
    while y < full_end {
        group(&mut w, x, x_end, span, y);
        y = y.add(P3_ROWS);
    }
    let rest = p.n_out % P3_ROWS;
    if rest != 0 {
        // A last group with padding rows: all twelve here, then its `rest` rows (an element
        // loop: a small copy_from_slice becomes a memcpy call).
        let mut last = [0i64; P3_ROWS];
        group(&mut w, x, x_end, span, last.as_mut_ptr());
        let mut r = 0;
        while r < rest {
            *y.add(r) = last[r];
            r += 1;
        }
    }
}

/// One group: its twelve row sums to `dst`, chunk by chunk; advances `w` past the group.
#[inline(always)]
unsafe fn group(w: &mut *const i64, x: *const i64, x_end: *const i64, span: usize, dst: *mut i64) {
    // The first chunk stores its lanes, the others add to them.
    let mut xs = x;
    let s = dot4(w, &mut xs, x_end, span);
    put_lanes::<false>(dst, &s);
    while xs < x_end {
        let s = dot4(w, &mut xs, x_end, span);
        put_lanes::<true>(dst, &s);
    }
}

/// One chunk of one group: `min(span, x_end - xs)` columns from `*xs`, four words each from
/// `*w`; advances both.
#[inline(always)]
unsafe fn dot4(
    w: &mut *const i64,
    xs: &mut *const i64,
    x_end: *const i64,
    span: usize,
) -> [i64; 4] {
    let mut wp = *w;
    let mut xp = *xs;
    let rest = x_end.offset_from(xp) as usize;
    let len = if rest < span { rest } else { span };
    let end = xp.add(len);
    // The columns left over by four first, then four if eight do not divide the rest, so the
    // main loop needs only `end`.
    let odd = xp.add(len & 3);
    let (mut s0, mut s1, mut s2, mut s3) = (0i64, 0i64, 0i64, 0i64);
    while xp < odd {
        col4(wp, *xp, &mut s0, &mut s1, &mut s2, &mut s3);
        wp = wp.add(4);
        xp = xp.add(1);
    }
    let mut acc = [s0, s1, s2, s3];
    if len & 4 != 0 {
        let four = xp.add(4);
        cols::<false>(&mut wp, &mut xp, four, &mut acc);
    }
    if xp < end {
        cols::<true>(&mut wp, &mut xp, end, &mut acc);
    }
    *w = wp;
    *xs = xp;
    acc
}

/// One column of a group in BPF assembly: input `c` of the iteration (at `x + 8c`) times its
/// four words (at `w + 32c`), added to the four accumulators: 13 instructions for 12 MACs.
#[cfg(target_arch = "bpf")]
macro_rules! bpf_column {
    ($x:literal, $w0:literal, $w1:literal, $w2:literal, $w3:literal) => {
        concat!(
            "{v} = *(u64 *)({x} + ",
            $x,
            ")\n",
            "{t} = *(u64 *)({w} + ",
            $w0,
            ")\n{t} *= {v}\n{s0} += {t}\n",
            "{t} = *(u64 *)({w} + ",
            $w1,
            ")\n{t} *= {v}\n{s1} += {t}\n",
            "{t} = *(u64 *)({w} + ",
            $w2,
            ")\n{t} *= {v}\n{s2} += {t}\n",
            "{t} = *(u64 *)({w} + ",
            $w3,
            ")\n{t} *= {v}\n{s3} += {t}\n",
        )
    };
}

/// Columns `*xp..end` of a group: four (`EIGHT = false`, exactly one step) or a positive
/// multiple of eight (`EIGHT = true`, eight per iteration).
///
/// On BPF this is written out instruction by instruction: from the same arithmetic in Rust,
/// LLVM reassociates the columns' products into per-accumulator trees or commutes the adds so
/// the accumulators move between registers, and with nine values live in BPF's ten registers
/// that costs a spilled accumulator, a reload of `end` and four copies per iteration (61-66
/// instructions per four columns instead of 55; measured on the disassembly). Here a column is
/// one input load and four (load, multiply, add), and an iteration of eight columns adds three
/// instructions of loop control (107 for 96 MACs).
///
/// # Safety
/// `*wp` points to `4 * (end - *xp)` readable words, and `end - *xp` is 4 (`EIGHT = false`) or
/// a positive multiple of 8.
#[cfg(target_arch = "bpf")]
#[inline(always)]
unsafe fn cols<const EIGHT: bool>(
    wp: &mut *const i64,
    xp: &mut *const i64,
    end: *const i64,
    s: &mut [i64; 4],
) {
    if EIGHT {
        // SAFETY: each iteration reads 32 words at *wp and 8 at *xp and runs (end - *xp) / 8
        // >= 1 times (the caller's contract); it writes only its registers.
        core::arch::asm!(
            "2:",
            bpf_column!("0", "0", "8", "16", "24"),
            bpf_column!("8", "32", "40", "48", "56"),
            bpf_column!("16", "64", "72", "80", "88"),
            bpf_column!("24", "96", "104", "112", "120"),
            bpf_column!("32", "128", "136", "144", "152"),
            bpf_column!("40", "160", "168", "176", "184"),
            bpf_column!("48", "192", "200", "208", "216"),
            bpf_column!("56", "224", "232", "240", "248"),
            "{w} += 256",
            "{x} += 64",
            "if {x} < {end} goto 2b",
            w = inout(reg) *wp,
            x = inout(reg) *xp,
            end = in(reg) end,
            s0 = inout(reg) s[0],
            s1 = inout(reg) s[1],
            s2 = inout(reg) s[2],
            s3 = inout(reg) s[3],
            v = out(reg) _,
            t = out(reg) _,
            options(nostack, readonly),
        );
    } else {
        let _ = end;
        // SAFETY: reads 16 words at *wp and 4 at *xp (the caller's contract); writes only its
        // registers.
        core::arch::asm!(
            bpf_column!("0", "0", "8", "16", "24"),
            bpf_column!("8", "32", "40", "48", "56"),
            bpf_column!("16", "64", "72", "80", "88"),
            bpf_column!("24", "96", "104", "112", "120"),
            "{w} += 128",
            "{x} += 32",
            w = inout(reg) *wp,
            x = inout(reg) *xp,
            s0 = inout(reg) s[0],
            s1 = inout(reg) s[1],
            s2 = inout(reg) s[2],
            s3 = inout(reg) s[3],
            v = out(reg) _,
            t = out(reg) _,
            options(nostack, readonly),
        );
    }
}

/// The same loop in Rust, for host builds (and the host tests that check it against the
/// reference arithmetic).
///
/// # Safety
/// As the BPF version.
#[cfg(not(target_arch = "bpf"))]
#[inline(always)]
unsafe fn cols<const EIGHT: bool>(
    wp: &mut *const i64,
    xp: &mut *const i64,
    end: *const i64,
    s: &mut [i64; 4],
) {
    let [s0, s1, s2, s3] = s;
    while *xp < end {
        col4(*wp, **xp, s0, s1, s2, s3);
        *wp = wp.add(4);
        *xp = xp.add(1);
    }
}

/// One column of a group: four words times the input.
#[inline(always)]
unsafe fn col4(w: *const i64, v: i64, s0: &mut i64, s1: &mut i64, s2: &mut i64, s3: &mut i64) {
    *s0 = s0.wrapping_add((*w).wrapping_mul(v));
    *s1 = s1.wrapping_add((*w.add(1)).wrapping_mul(v));
    *s2 = s2.wrapping_add((*w.add(2)).wrapping_mul(v));
    *s3 = s3.wrapping_add((*w.add(3)).wrapping_mul(v));
}

/// The three lanes of a chunk sum `T = A + B * 2^21 + C * 2^42` (see `packed3_i8`).
#[inline(always)]
pub fn lanes3(t: i64) -> (i64, i64, i64) {
    let a = (t << 43) >> 43;
    let t = t.wrapping_sub(a) >> 21;
    let b = (t << 43) >> 43;
    (a, b, t.wrapping_sub(b) >> 21)
}

/// Split four chunk sums into the group's twelve rows: store them (`ADD = false`, the first
/// chunk) or add them.
#[inline(always)]
unsafe fn put_lanes<const ADD: bool>(y: *mut i64, s: &[i64; 4]) {
    let mut k = 0;
    while k < P3_WORDS {
        let (a, b, c) = lanes3(s[k]);
        let r = y.add(3 * k);
        if ADD {
            *r = (*r).wrapping_add(a);
            *r.add(1) = (*r.add(1)).wrapping_add(b);
            *r.add(2) = (*r.add(2)).wrapping_add(c);
        } else {
            *r = a;
            *r.add(1) = b;
            *r.add(2) = c;
        }
        k += 1;
    }
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
/// Always inlined (into `exec::mv_compact_i8`): three slices are six arguments, one more than
/// an out-of-line BPF call can pass.
#[inline(always)]
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
/// u16 so loads stay zero-extending; `^ 0x8000` turns that into offset binary. Always inlined,
/// as `compact_i8`.
#[inline(always)]
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

    /// PACKED3 words of a row-major `n_out x n_in` matrix (rows padded to groups of 12).
    fn pack3(w: &[i64], n_out: usize, n_in: usize) -> (std::vec::Vec<i64>, usize) {
        let groups = n_out.div_ceil(P3_ROWS);
        let at = |r: usize, j: usize| if r < n_out { w[r * n_in + j] } else { 0 };
        let mut out = std::vec![0i64; groups * n_in * P3_WORDS];
        for g in 0..groups {
            for j in 0..n_in {
                for k in 0..P3_WORDS {
                    let r = g * P3_ROWS + 3 * k;
                    out[(g * n_in + j) * P3_WORDS + k] =
                        at(r, j) + (at(r + 1, j) << 21) + (at(r + 2, j) << 42);
                }
            }
        }
        (out, groups)
    }

    /// The kernel's `n_out` row sums, checking it writes nothing past them.
    fn run3(words: &[i64], n_out: usize, x: &[i64], span: usize) -> std::vec::Vec<i64> {
        let mut y = std::vec![0x5555i64; n_out + 16];
        // SAFETY: the sizes packed3_i8 requires, from pack3.
        unsafe {
            packed3_i8(&Packed3 {
                w: words.as_ptr(),
                x: x.as_ptr(),
                n_in: x.len(),
                span,
                y: y.as_mut_ptr(),
                n_out,
            })
        };
        assert!(y[n_out..].iter().all(|v| *v == 0x5555), "wrote past n_out");
        y.truncate(n_out);
        y
    }

    /// The PACKED3 arithmetic written out plainly (what the numpy reference does): chunk sums
    /// in wrapping i64, split into lanes, added.
    fn simulate3(words: &[i64], groups: usize, x: &[i64], span: usize) -> std::vec::Vec<i64> {
        let n_in = x.len();
        let mut y = std::vec![0i64; groups * P3_ROWS];
        for g in 0..groups {
            for start in (0..n_in).step_by(span) {
                for k in 0..P3_WORDS {
                    let mut t = 0i64;
                    for (j, xj) in x
                        .iter()
                        .enumerate()
                        .take((start + span).min(n_in))
                        .skip(start)
                    {
                        t = t.wrapping_add(words[(g * n_in + j) * P3_WORDS + k].wrapping_mul(*xj));
                    }
                    let (a, b, c) = lanes3(t);
                    let r = g * P3_ROWS + 3 * k;
                    y[r] = y[r].wrapping_add(a);
                    y[r + 1] = y[r + 1].wrapping_add(b);
                    y[r + 2] = y[r + 2].wrapping_add(c);
                }
            }
        }
        y
    }

    #[test]
    fn packed3_agrees_with_naive_matvec_for_every_span() {
        let mut seed = 11u64;
        for &(n_out, n_in) in &[
            (1, 1),
            (3, 4),
            (12, 5),
            (13, 17),
            (128, 128),
            (10, 300),
            (25, 64),
        ] {
            let w: std::vec::Vec<i64> = (0..n_out * n_in)
                .map(|_| lcg(&mut seed) % 255 - 127)
                .collect();
            let x: std::vec::Vec<i64> = (0..n_in).map(|_| lcg(&mut seed) % 256 - 128).collect();
            let want = naive(&w, n_out, &x);
            let (words, groups) = pack3(&w, n_out, n_in);
            assert_eq!(words.len(), groups * n_in * P3_WORDS);
            for span in [1, 2, 3, 4, 5, 7, 8, 12, 33, 64, n_in, n_in + 9] {
                let got = run3(&words, n_out, &x, span);
                assert_eq!(got, want, "{n_out}x{n_in} span {span}");
            }
        }
    }

    /// The accumulator bound, at its worst: every |weight| 127 and every input at -128 or 127,
    /// signs chosen so each lane reaches its largest positive or negative sum. At span 64 (what
    /// the compiler may always choose) every lane is exact; one or two columns more and the
    /// same matrix needs more than 2^20 - 1 in a lane and the split goes wrong, so the bound is
    /// what makes the lanes safe, not slack in this test.
    #[test]
    fn packed3_worst_case_lanes_do_not_carry_within_the_bound() {
        const { assert!(64 * 127 * 128 <= P3_LANE_LIMIT && 65 * 127 * 128 > P3_LANE_LIMIT) };
        let n_in = 130;
        let n_out = 24;
        for (wsign, xval) in [(1i64, -128i64), (-1, -128), (1, 127), (-1, 127)] {
            // Row r: all +-127, alternating the sign row by row so neighbouring lanes pull in
            // opposite directions (the case where a borrow would show).
            let w: std::vec::Vec<i64> = (0..n_out * n_in)
                .map(|i| {
                    if (i / n_in) % 2 == 0 {
                        127 * wsign
                    } else {
                        -127 * wsign
                    }
                })
                .collect();
            let x = std::vec![xval; n_in];
            let want = naive(&w, n_out, &x);
            let (words, groups) = pack3(&w, n_out, n_in);
            for span in [64, 32, 1] {
                let got = run3(&words, n_out, &x, span);
                assert_eq!(got, want, "w {wsign} x {xval} span {span}");
            }
            // Just over the bound (65 * 127 * 128 or 66 * 127 * 127 > 2^20 - 1): the lanes
            // carry, and the kernel still equals the simulation the reference runs.
            let over = if xval == -128 { 65 } else { 66 };
            let got = run3(&words, n_out, &x, over);
            assert_ne!(got, want, "w {wsign} x {xval} span {over}");
            assert_eq!(got, simulate3(&words, groups, &x, over)[..n_out]);
        }
    }

    #[test]
    fn packed3_equals_the_simulated_arithmetic_for_any_words() {
        // Words that are not three INT8 lanes and inputs far outside INT8 (a hostile file):
        // no proof applies, but the kernel must still compute exactly what the reference
        // simulates.
        let mut seed = 5u64;
        for &(groups, n_in, span) in &[(1, 1, 1), (2, 9, 4), (3, 70, 64), (1, 200, 7)] {
            let words: std::vec::Vec<i64> = (0..groups * n_in * P3_WORDS)
                .map(|_| ((lcg(&mut seed) as u64) << 33 ^ lcg(&mut seed) as u64) as i64)
                .collect();
            let x: std::vec::Vec<i64> = (0..n_in).map(|_| lcg(&mut seed) - (1 << 30)).collect();
            for n_out in [groups * P3_ROWS, groups * P3_ROWS - 5] {
                assert_eq!(
                    run3(&words, n_out, &x, span),
                    simulate3(&words, groups, &x, span)[..n_out]
                );
            }
        }
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
