//! CONV1D and POOL over a channels-last, time-major sequence (docs/model-format.md, "Conv1D and
//! pooling"): value `(t, c)` of a `T x C` activation is word `t * C + c`.
//!
//! CONV1D output position `t` is a dense layer over the window of `K` input steps starting at
//! padded step `t * stride`, `dilation` apart. The weights `[C_out][K][C_in]` are a row-major
//! `C_out x K*C_in` matrix in a dense layout (COMPACT, or PACKED: two channels per word), so the
//! dense kernels run on each window: in place when it is `K * C_in` consecutive words (dilation
//! 1, no padded tap: every position but the padded edges), else gathered on the stack (a padded
//! tap reads the pad value, the input zero point), or, for a window over `GATHER` words, tap by
//! tap (`pad * sum(w[o][j][..])` for a padded tap). Integer sums are exact (the compiler's
//! accumulator bound; PACKED's lane bound), so every path gives the reference's accumulators.
//!
//! Resumable op contract (`job.rs`): `units` = output positions (CONV1D) or 1 (POOL), no state
//! between units, each unit writes only its own output words.

use super::exec::{mv_compact_i16, mv_compact_i8, mv_packed_i8, MatVec, OpBufs, Step};
use super::fixed::{clamp, requantize, Requant};
use super::model::{dtype_range, ModelView, OpRecord, COMPACT, CONV1D, I16, I8, PACKED, POOL};
use super::{ExecError, Why};

/// Pool modes (`OpRecord::mode`).
pub const POOL_MAX: u8 = 1;
pub const POOL_AVG: u8 = 2;

/// CU bound of one CONV1D output position, per MAC (measured on LiteSVM with requantization:
/// PACKED 3.7, COMPACT INT8 6.2, INT16 7.6; tap by tap ~16).
pub const CONV_MAC: u64 = 12;
/// Per tap and output channel of a position that goes tap by tap (window over `GATHER`).
pub const CONV_SEG: u64 = 40;
/// Per word of a gathered window (padded or dilated position, window up to `GATHER`).
pub const CONV_GATHER: u64 = 20;
/// Per output word: requantization, clamp, store (as `cost::DENSE_OUT`).
pub const CONV_OUT: u64 = 120;
/// Per output position: window bounds, slicing, kernel calls.
pub const CONV_POS: u64 = 300;
/// Per POOL input word read (a window step: load, compare or add).
pub const POOL_IN: u64 = 20;
/// Per POOL output word.
pub const POOL_OUT: u64 = 60;

/// A CONV1D record's geometry, decoded from its packed fields (no checks: `check_conv`).
#[derive(Clone, Copy)]
pub struct Geom {
    pub c_in: usize,
    pub c_out: usize,
    pub k: usize,
    pub stride: usize,
    pub dil: usize,
    pub pad_l: usize,
    pub pad_r: usize,
    pub t_in: usize,
    pub t_out: usize,
    pub pad: i64,
}

#[inline(always)]
pub fn geom(op: &OpRecord) -> Geom {
    let c_in = (op.p0 & 0xFFFF) as usize;
    let c_out = (op.p0 >> 16) as usize;
    Geom {
        c_in,
        c_out,
        k: (op.p2 & 0xFF) as usize,
        stride: ((op.p2 >> 8) & 0xFF) as usize,
        dil: ((op.p2 >> 16) & 0xFF) as usize,
        pad_l: (op.p2 >> 24) as usize,
        pad_r: op.p3 as usize,
        t_in: (op.n_in as usize).checked_div(c_in).unwrap_or(0),
        t_out: (op.n_out as usize).checked_div(c_out).unwrap_or(0),
        pad: op.p1 as i32 as i64,
    }
}

impl Geom {
    /// Whether output position `t` reads `K * C_in` consecutive input words (starting at word
    /// `(t * stride - pad_l) * C_in`).
    #[inline(always)]
    fn contiguous(&self, t: usize) -> bool {
        let start = t * self.stride;
        self.dil == 1 && start >= self.pad_l && start - self.pad_l + self.k <= self.t_in
    }

    /// Extra CU bound of a position whose window is not consecutive input words: gathering it
    /// (up to `GATHER` words), else the per-tap setup.
    pub fn off_window_cost(&self) -> u64 {
        let mul = |a: u64, b: u64| crate::math::mul_u64(a, b).unwrap_or(u64::MAX);
        let row = mul(self.k as u64, self.c_in as u64);
        if row <= GATHER as u64 {
            mul(row, CONV_GATHER)
        } else {
            mul(mul(self.k as u64, self.c_out as u64), CONV_SEG)
        }
    }

    /// Positions `t` whose window is not consecutive input words (padded taps, dilation > 1).
    pub fn segment_positions(&self) -> usize {
        if self.dil != 1 || self.stride == 0 || self.k > self.t_in {
            return self.t_out;
        }
        // Contiguous iff pad_l <= t * stride <= t_in + pad_l - k.
        let first = self.pad_l.div_ceil(self.stride);
        let last = (self.t_in + self.pad_l - self.k) / self.stride;
        let inner = if last >= first {
            last.min(self.t_out.saturating_sub(1)) + 1 - first.min(self.t_out)
        } else {
            0
        };
        self.t_out - inner.min(self.t_out)
    }
}

/// Largest window (`K * C_in`) of a PACKED CONV1D: each 32-bit lane sums at most that many
/// products of two int8 values (`|w * x| <= 2^14`), so `|lane| < 2^31` (exact, no carry).
pub const PACKED_MAX_WINDOW: usize = (1 << 17) - 1;

/// Every field of a CONV1D record (docs/model-format.md): dtype and layout, channels, geometry,
/// widths, pad value, shift, clamp, arrays; and the values it reads fit its dtype.
pub fn check_conv(model: &ModelView, op: &OpRecord, range: (i64, i64)) -> Result<(), ExecError> {
    let layout_ok = match op.layout {
        COMPACT => op.dtype == I8 || op.dtype == I16,
        // Two channels per word: INT8 only, an even C_out (no padding row to write past the
        // position's outputs) and a window short enough for exact 32-bit lanes.
        PACKED => {
            let g = geom(op);
            op.dtype == I8 && g.c_out.is_multiple_of(2) && g.k * g.c_in <= PACKED_MAX_WINDOW
        }
        _ => false,
    };
    if op.kind != CONV1D || !layout_ok {
        return Err(ExecError::Model(Why::ConvLayout));
    }
    let (qmin, qmax) = dtype_range(op.dtype)?;
    if range.0 < qmin || range.1 > qmax {
        return Err(ExecError::Model(Why::ConvInput));
    }
    let g = geom(op);
    let bad = op.mode != 0
        || g.c_in == 0
        || g.c_out == 0
        || g.k == 0
        || g.stride == 0
        || g.dil == 0
        || g.pad_r > 255
        || g.pad < qmin
        || g.pad > qmax
        || !(op.n_in as usize).is_multiple_of(g.c_in)
        || (op.shift as u32).wrapping_sub(1) >= 62
        || op.lo > op.hi;
    if bad {
        return Err(ExecError::Model(Why::ConvParams));
    }
    // Widths are u32 and K, dilation <= 255: no overflow in usize (64-bit).
    let span = g.dil * (g.k - 1) + 1;
    let padded = g.t_in + g.pad_l + g.pad_r;
    if span > padded || op.n_out as usize != ((padded - span) / g.stride + 1) * g.c_out {
        return Err(ExecError::Model(Why::ConvParams));
    }
    let w = g.c_out * g.k * g.c_in;
    if op.layout == PACKED {
        model.array::<i64>(op.off[0] as usize, w / 2)?;
    } else if op.dtype == I8 {
        model.array::<u8>(op.off[0] as usize, w)?;
    } else {
        model.array::<i16>(op.off[0] as usize, w)?;
    }
    model.array::<i32>(op.off[1] as usize, g.c_out)?;
    let mult = model.array::<u32>(op.off[2] as usize, g.c_out)?;
    if mult.iter().any(|m| *m == 0 || *m >= 1 << 31) {
        return Err(ExecError::Model(Why::ConvParams));
    }
    Ok(())
}

/// Every field of a POOL record; `range` (the values it reads) must lie in its clamp, and an
/// average's `K * max|clamp| * M` below 2^62 (the product and rounding term fit in i64).
pub fn check_pool(op: &OpRecord, range: (i64, i64)) -> Result<(), ExecError> {
    let (c, k, stride) = (op.p0 as usize, op.p1 as usize, op.p3 as usize);
    let (lo, hi) = (op.lo as i64, op.hi as i64);
    let mut bad = op.kind != POOL
        || op.dtype != 0
        || op.layout != 0
        || op.zp != 0
        || c == 0
        || k == 0
        || stride == 0
        || lo > hi
        || range.0 < lo
        || range.1 > hi
        || !(op.n_in as usize).is_multiple_of(c);
    if !bad {
        let t_in = op.n_in as usize / c;
        bad = k > t_in || op.n_out as usize != ((t_in - k) / stride + 1) * c;
    }
    bad = bad
        || match op.mode {
            POOL_MAX => op.p2 != 0 || op.shift != 0,
            POOL_AVG => {
                let m = op.p2 as u64;
                let max_abs = lo.unsigned_abs().max(hi.unsigned_abs());
                // k <= t_in < 2^32 and max_abs <= 2^31: the product fits in u64; the bound
                // k * max_abs * m < 2^62 is checked by unsigned division (no u128 on BPF).
                m == 0
                    || m >= 1 << 31
                    || (op.shift as u32).wrapping_sub(1) >= 62
                    || (k as u64) * max_abs > ((1u64 << 62) - 1) / m
            }
            _ => true,
        };
    if bad {
        return Err(ExecError::Model(Why::PoolParams));
    }
    Ok(())
}

/// Units of work of an op: output positions of a CONV1D, one for a POOL (and any other kind).
pub fn units(op: &OpRecord) -> usize {
    if op.kind == CONV1D {
        geom(op).t_out.max(1)
    } else {
        1
    }
}

/// No state is carried between units: each position reads only the input.
pub fn state_words(_op: &OpRecord) -> usize {
    0
}

/// Upper bound on the CU of one unit (the checked path; a CONV1D position counted as if its
/// window were gathered or went tap by tap).
pub fn unit_cost(op: &OpRecord) -> u64 {
    let mul = |a: u64, b: u64| crate::math::mul_u64(a, b).unwrap_or(u64::MAX);
    if op.kind == CONV1D {
        let g = geom(op);
        mul(
            mul(mul(g.k as u64, g.c_in as u64), g.c_out as u64),
            CONV_MAC,
        )
        .saturating_add(g.off_window_cost())
        .saturating_add(mul(g.c_out as u64, CONV_OUT))
        .saturating_add(CONV_POS)
    } else {
        mul(op.n_in as u64, POOL_IN).saturating_add(mul(op.n_out as u64, POOL_OUT))
    }
}

/// Run units `from..to` of a validated CONV1D or POOL record (`check_conv` / `check_pool` ran
/// on this model): output positions `from..to`, or the whole POOL. Any split into consecutive
/// ranges writes the same words as one call over `0..units`.
pub fn run_units(
    model: &ModelView,
    op: &OpRecord,
    bufs: &mut OpBufs,
    from: usize,
    to: usize,
) -> Result<(), ExecError> {
    match op.kind {
        CONV1D => conv_positions(model, op, bufs, from, to),
        POOL => {
            if bufs.input.len() < op.n_in as usize || bufs.output.len() < op.n_out as usize {
                return Err(ExecError::Model(Why::PoolParams));
            }
            pool(op, bufs.input, bufs.output);
            Ok(())
        }
        _ => Err(ExecError::Model(Why::OpKind)),
    }
}

/// The single-pass executor's entry (`exec::run_op`): checks (unless `TR`), then every unit.
/// Updates `range` to the op's clamp.
#[inline(never)]
pub(super) fn run_op<const TR: bool>(
    s: &mut Step,
    range: &mut (i64, i64),
) -> Result<(), ExecError> {
    let op = s.op;
    if !TR {
        if op.kind == CONV1D {
            check_conv(s.model, op, *range)?;
        } else {
            check_pool(op, *range)?;
        }
    }
    let n_out = op.n_out as usize;
    let mut bufs = OpBufs {
        input: s.x,
        output: &mut s.y[..n_out],
        state: &mut [],
    };
    run_units(s.model, op, &mut bufs, 0, units(op))?;
    *range = (op.lo as i64, op.hi as i64);
    Ok(())
}

#[inline(never)]
fn conv_positions(
    model: &ModelView,
    op: &OpRecord,
    bufs: &mut OpBufs,
    from: usize,
    to: usize,
) -> Result<(), ExecError> {
    let g = geom(op);
    if to > g.t_out || bufs.input.len() < g.t_in * g.c_in || bufs.output.len() < g.t_out * g.c_out {
        return Err(ExecError::Model(Why::ConvParams));
    }
    let row = g.k * g.c_in;
    let r = Requant {
        bias: model.array::<i32>(op.off[1] as usize, g.c_out)?,
        mult: model.array::<u32>(op.off[2] as usize, g.c_out)?,
        shift: op.shift as u32,
        zp: op.zp as i64,
        lo: op.lo as i64,
        hi: op.hi as i64,
    };
    let x = bufs.input;
    // A window that is not consecutive input words (padded taps, dilation) is gathered here,
    // when it fits, so every layout runs its dense kernel on it; a larger one goes tap by tap.
    let mut buf = [0i64; GATHER];
    if op.layout == PACKED {
        let w = model.array::<i64>(op.off[0] as usize, g.c_out / 2 * row)?;
        for t in from..to {
            let y = &mut bufs.output[t * g.c_out..(t + 1) * g.c_out];
            match window(&g, t, x, &mut buf) {
                Some(win) => mv_packed_i8(&mut MatVec { w, x: win, acc: y }),
                None => packed_segments(&mut PackedPos { g: &g, t, w, x, y }),
            }
            requantize(y, &r);
        }
    } else if op.dtype == I8 {
        let w = model.array::<u8>(op.off[0] as usize, g.c_out * row)?;
        for t in from..to {
            let y = &mut bufs.output[t * g.c_out..(t + 1) * g.c_out];
            match window(&g, t, x, &mut buf) {
                Some(win) => mv_compact_i8(&mut MatVec { w, x: win, acc: y }),
                None => segments(&g, t, x, y, |o, j, xs| {
                    seg_u8(
                        &w[o * row + j * g.c_in..o * row + (j + 1) * g.c_in],
                        xs,
                        g.pad,
                    )
                }),
            }
            requantize(y, &r);
        }
    } else {
        let w = model.array::<i16>(op.off[0] as usize, g.c_out * row)?;
        for t in from..to {
            let y = &mut bufs.output[t * g.c_out..(t + 1) * g.c_out];
            match window(&g, t, x, &mut buf) {
                Some(win) => mv_compact_i16(&mut MatVec { w, x: win, acc: y }),
                None => segments(&g, t, x, y, |o, j, xs| {
                    seg_i16(
                        &w[o * row + j * g.c_in..o * row + (j + 1) * g.c_in],
                        xs,
                        g.pad,
                    )
                }),
            }
            requantize(y, &r);
        }
    }
    Ok(())
}

/// Accumulators of position `t`, one tap at a time: `dot(o, j, Some(x segment))` for a tap
/// inside the input, `dot(o, j, None)` for a padded one.
#[inline(always)]
fn segments<F: Fn(usize, usize, Option<&[i64]>) -> i64>(
    g: &Geom,
    t: usize,
    x: &[i64],
    y: &mut [i64],
    dot: F,
) {
    for (o, acc) in y.iter_mut().enumerate() {
        let mut s = 0i64;
        for j in 0..g.k {
            let p = t * g.stride + j * g.dil;
            let seg = if p >= g.pad_l && p - g.pad_l < g.t_in {
                let q = (p - g.pad_l) * g.c_in;
                Some(&x[q..q + g.c_in])
            } else {
                None
            };
            s = s.wrapping_add(dot(o, j, seg));
        }
        *acc = s;
    }
}

/// Position `t` of a PACKED CONV1D tap by tap: per row pair, the packed sums of every tap
/// (a padded tap adds `pad * sum(words)`), then one lane split. Each lane's total is the exact
/// row sum (`PACKED_MAX_WINDOW`), and packed words add linearly, so splitting once is exact.
/// Largest window (`K * C_in` words) gathered on the stack (2 KiB of the 4 KiB BPF frame).
pub const GATHER: usize = 256;

/// The `K * C_in` words position `t` multiplies: in place when consecutive, else gathered
/// into `buf` (a padded tap reads the pad value); None when a gathered window would not fit.
#[inline(always)]
fn window<'a>(g: &Geom, t: usize, x: &'a [i64], buf: &'a mut [i64; GATHER]) -> Option<&'a [i64]> {
    let row = g.k * g.c_in;
    if g.contiguous(t) {
        let p = (t * g.stride - g.pad_l) * g.c_in;
        return Some(&x[p..p + row]);
    }
    if row > GATHER {
        return None;
    }
    for j in 0..g.k {
        let dst = &mut buf[j * g.c_in..(j + 1) * g.c_in];
        let p = t * g.stride + j * g.dil;
        if p >= g.pad_l && p - g.pad_l < g.t_in {
            let q = (p - g.pad_l) * g.c_in;
            for (d, v) in dst.iter_mut().zip(&x[q..q + g.c_in]) {
                *d = *v;
            }
        } else {
            for d in dst.iter_mut() {
                *d = g.pad;
            }
        }
    }
    Some(&buf[..row])
}

/// `packed_segments`' operands in one struct (an out-of-line BPF call passes five registers).
struct PackedPos<'a> {
    g: &'a Geom,
    t: usize,
    w: &'a [i64],
    x: &'a [i64],
    y: &'a mut [i64],
}

#[inline(never)]
fn packed_segments(a: &mut PackedPos) {
    let (g, t, w, x) = (a.g, a.t, a.w, a.x);
    let y = &mut *a.y;
    let row = g.k * g.c_in;
    for (pair, out) in y.chunks_exact_mut(2).enumerate() {
        let words = &w[pair * row..(pair + 1) * row];
        let mut s = 0i64;
        for j in 0..g.k {
            let seg = &words[j * g.c_in..(j + 1) * g.c_in];
            let p = t * g.stride + j * g.dil;
            if p >= g.pad_l && p - g.pad_l < g.t_in {
                let q = (p - g.pad_l) * g.c_in;
                for (wv, xv) in seg.iter().zip(&x[q..q + g.c_in]) {
                    s = s.wrapping_add(wv.wrapping_mul(*xv));
                }
            } else {
                let mut sum = 0i64;
                for wv in seg {
                    sum = sum.wrapping_add(*wv);
                }
                s = s.wrapping_add(sum.wrapping_mul(g.pad));
            }
        }
        // Lanes: `lo + hi * 2^32`, as `dense::packed_i8` splits them.
        let lo = (s << 32) >> 32;
        out[0] = lo;
        out[1] = s.wrapping_sub(lo) >> 32;
    }
}

/// `sum (u - 128) * x` over one tap of offset-binary INT8 weights; `x = None`: every input is
/// `pad`.
#[inline(always)]
fn seg_u8(w: &[u8], x: Option<&[i64]>, pad: i64) -> i64 {
    let mut s = 0i64;
    match x {
        Some(x) => {
            for (u, v) in w.iter().zip(x) {
                s = s.wrapping_add((*u as i64 - 128).wrapping_mul(*v));
            }
        }
        None => {
            for u in w {
                s = s.wrapping_add(*u as i64 - 128);
            }
            s = s.wrapping_mul(pad);
        }
    }
    s
}

#[inline(always)]
fn seg_i16(w: &[i16], x: Option<&[i64]>, pad: i64) -> i64 {
    let mut s = 0i64;
    match x {
        Some(x) => {
            for (u, v) in w.iter().zip(x) {
                s = s.wrapping_add((*u as i64).wrapping_mul(*v));
            }
        }
        None => {
            for u in w {
                s = s.wrapping_add(*u as i64);
            }
            s = s.wrapping_mul(pad);
        }
    }
    s
}

/// POOL over time, channel by channel: max, or `clamp(rshift_round(sum * M, S), lo, hi)`.
#[inline(never)]
fn pool(op: &OpRecord, x: &[i64], y: &mut [i64]) {
    let (c, k, stride) = (op.p0 as usize, op.p1 as usize, op.p3 as usize);
    let t_out = op.n_out as usize / c;
    let (lo, hi) = (op.lo as i64, op.hi as i64);
    let avg = op.mode == POOL_AVG;
    let (m, s1) = (op.p2 as i64, (op.shift as u32).wrapping_sub(1) & 63);
    for t in 0..t_out {
        let base = t * stride * c;
        for ch in 0..c {
            let win = &x[base + ch..base + ch + (k - 1) * c + 1];
            let v = if avg {
                let mut s = 0i64;
                for v in win.iter().step_by(c) {
                    s = s.wrapping_add(*v);
                }
                // rshift_round(v, S) = ((v >> (S - 1)) + 1) >> 1 (fixed::requantize_raw).
                (s.wrapping_mul(m) >> s1).wrapping_add(1) >> 1
            } else {
                let mut best = win[0];
                for v in win.iter().step_by(c) {
                    if *v > best {
                        best = *v;
                    }
                }
                best
            };
            y[t * c + ch] = clamp(v, lo, hi);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::vec;
    use std::vec::Vec;

    /// The golden conv models (`tests/golden/conv1d_*`) as 8-aligned words and their documents.
    fn goldens() -> Vec<(Vec<u64>, usize, Value)> {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden");
        let index: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap())
                .unwrap();
        let mut out = Vec::new();
        for name in index["models"].as_array().unwrap() {
            let name = name.as_str().unwrap();
            if !name.starts_with("conv1d_") {
                continue;
            }
            let doc: Value = serde_json::from_str(
                &std::fs::read_to_string(dir.join(std::format!("{name}.json"))).unwrap(),
            )
            .unwrap();
            let bytes = std::fs::read(dir.join(doc["file"].as_str().unwrap())).unwrap();
            let mut words = vec![0u64; bytes.len().div_ceil(8)];
            for (i, b) in bytes.iter().enumerate() {
                words[i / 8] |= (*b as u64) << (8 * (i % 8));
            }
            out.push((words, bytes.len(), doc));
        }
        assert!(out.len() >= 5, "conv golden models missing");
        out
    }

    fn ints(v: &Value) -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect()
    }

    /// Every consecutive split of a CONV1D's positions (and POOL's one unit) writes exactly the
    /// reference's outputs, from the golden cases' recorded inputs of each op.
    #[test]
    fn any_split_of_the_units_matches_the_reference() {
        let mut checked = 0;
        for (words, len, doc) in goldens() {
            // SAFETY: the vector's own bytes.
            let bytes = unsafe { core::slice::from_raw_parts(words.as_ptr() as *const u8, len) };
            let model = ModelView::parse(bytes).unwrap();
            for case in doc["cases"].as_array().unwrap() {
                let mut input = ints(&case["input_q"]);
                let layers = case["layers"].as_array().unwrap();
                for (i, layer) in layers.iter().enumerate() {
                    let op = model.op(i);
                    let want = ints(layer);
                    if op.kind != CONV1D && op.kind != POOL {
                        input = want;
                        continue;
                    }
                    assert_eq!(state_words(op), 0);
                    let n = units(op);
                    for step in [1, 2, 3, n] {
                        let mut out = vec![i64::MIN; op.n_out as usize];
                        let mut from = 0;
                        while from < n {
                            let to = (from + step).min(n);
                            let mut bufs = OpBufs {
                                input: &input,
                                output: &mut out,
                                state: &mut [],
                            };
                            run_units(&model, op, &mut bufs, from, to).unwrap();
                            from = to;
                        }
                        assert_eq!(out, want, "op {i} split {step}");
                        checked += 1;
                    }
                    input = want;
                }
            }
        }
        assert!(checked > 100, "{checked}");
    }

    /// A record whose fields disagree is refused by its check, with the conv `Why`s.
    #[test]
    fn checks_refuse_every_bad_field() {
        let (words, len, _) = goldens().swap_remove(0);
        // SAFETY: the vector's own bytes.
        let bytes = unsafe { core::slice::from_raw_parts(words.as_ptr() as *const u8, len) };
        let model = ModelView::parse(bytes).unwrap();
        let (conv, pool_rec) = (*model.op(0), *model.op(1));
        assert_eq!((conv.kind, pool_rec.kind), (CONV1D, POOL));
        let range = (-128, 127);
        assert_eq!(check_conv(&model, &conv, range), Ok(()));
        let bad = |f: &dyn Fn(&mut OpRecord)| {
            let mut r = conv;
            f(&mut r);
            check_conv(&model, &r, range).unwrap_err()
        };
        let params = ExecError::Model(Why::ConvParams);
        assert_eq!(bad(&|r| r.layout = 3), ExecError::Model(Why::ConvLayout));
        assert_eq!(bad(&|r| r.dtype = 3), ExecError::Model(Why::ConvLayout));
        assert_eq!(bad(&|r| r.mode = 1), params);
        assert_eq!(bad(&|r| r.p0 &= 0xFFFF), params);
        assert_eq!(bad(&|r| r.p0 &= 0xFFFF_0000), params);
        assert_eq!(bad(&|r| r.p2 &= !0xFF), params);
        assert_eq!(bad(&|r| r.p2 &= !0xFF00), params);
        assert_eq!(bad(&|r| r.p2 &= !0xFF_0000), params);
        assert_eq!(bad(&|r| r.p1 = 200), params);
        assert_eq!(bad(&|r| r.p3 = 256), params);
        assert_eq!(bad(&|r| r.n_out += 1), params);
        assert_eq!(bad(&|r| r.n_in += 1), params);
        assert_eq!(bad(&|r| r.shift = 0), params);
        assert_eq!(bad(&|r| r.shift = 63), params);
        assert_eq!(bad(&|r| r.lo = r.hi + 1), params);
        assert_eq!(
            bad(&|r| r.off[0] = len as u32 - 8),
            ExecError::Model(Why::ArrayBounds)
        );
        assert_eq!(bad(&|r| r.off[1] += 1), ExecError::Model(Why::ArrayBounds));
        assert_eq!(
            bad(&|r| r.off[2] = len as u32),
            ExecError::Model(Why::ArrayBounds)
        );
        assert_eq!(
            check_conv(&model, &conv, (-129, 127)),
            Err(ExecError::Model(Why::ConvInput))
        );
        let prange = (conv.lo as i64, conv.hi as i64);
        assert_eq!(check_pool(&pool_rec, prange), Ok(()));
        let pbad = |f: &dyn Fn(&mut OpRecord)| {
            let mut r = pool_rec;
            f(&mut r);
            check_pool(&r, prange).unwrap_err()
        };
        let pp = ExecError::Model(Why::PoolParams);
        for f in [
            &(|r: &mut OpRecord| r.mode = 3) as &dyn Fn(&mut OpRecord),
            &|r| r.dtype = 1,
            &|r| r.layout = 1,
            &|r| r.zp = 1,
            &|r| r.p0 = 0,
            &|r| r.p1 = 0,
            &|r| r.p1 = r.n_in + 1,
            &|r| r.p3 = 0,
            &|r| r.p2 = 1,
            &|r| r.n_out += 1,
            &|r| r.lo += 1,
            &|r| {
                r.mode = POOL_AVG;
                r.p2 = (1 << 31) - 1;
                r.shift = 62;
                r.lo = i32::MIN;
                r.hi = i32::MAX;
            },
        ] {
            assert_eq!(pbad(f), pp);
        }
    }

    fn rec(p2: u32, p3: u16, n_in: u32, c_in: u32, c_out: u32, n_out: u32) -> OpRecord {
        // SAFETY: plain integers; zero is valid.
        let mut o: OpRecord = unsafe { core::mem::zeroed() };
        o.kind = CONV1D;
        o.p0 = c_in | c_out << 16;
        o.p2 = p2;
        o.p3 = p3;
        o.n_in = n_in;
        o.n_out = n_out;
        o
    }

    #[test]
    fn segment_positions_count_the_padded_edges() {
        // T_in 10, K 3, stride 1, pads 2/1: T_out 11; contiguous t in 2..=9.
        let g = geom(&rec(3 | 1 << 8 | 1 << 16 | 2 << 24, 1, 10, 1, 1, 11));
        assert_eq!(g.t_out, 11);
        let direct = (0..g.t_out).filter(|t| !g.contiguous(*t)).count();
        assert_eq!(g.segment_positions(), direct);
        assert_eq!(direct, 3);
        // Stride 3, pad_l 4: contiguous t with 4 <= 3t <= 11, i.e. t in 2..=3.
        let g = geom(&rec(3 | 3 << 8 | 1 << 16 | 4 << 24, 0, 10, 1, 1, 4));
        let direct = (0..g.t_out).filter(|t| !g.contiguous(*t)).count();
        assert_eq!(g.segment_positions(), direct);
        // Dilation 2: every position takes the segment path.
        let g = geom(&rec(3 | 1 << 8 | 2 << 16, 0, 10, 1, 1, 6));
        assert_eq!(g.segment_positions(), 6);
    }
}
