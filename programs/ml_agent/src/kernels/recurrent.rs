//! GRU and LSTM over a window (docs/model-format.md "GRU and LSTM").
//!
//! One unit of work is one timestep. Per step the kernel forms, for every gate row `i`
//! (gate-major: row `g * H + k`), the x part `px_i = rshift_round((bx_i + Wx_i . x_t) * Mx_i, S)`
//! and the h part `ph_i = rshift_round((bh_i + Wh_i . h) * Mh_i, S)`, then updates each hidden
//! unit through the INT16 sigmoid / tanh tables (Q15 out). The matrix-vector products are where
//! the compute goes:
//! - INT8 weights are stored as row pairs (`w[r][j] + w[r+1][j] * 2^32`, as the dense PACKED
//!   layout) grouped by four pairs, the four words of a column adjacent: one input load feeds
//!   four (load, multiply, add) at immediate offsets, eight MACs. The lanes stay exact because
//!   `n * 128 * 32768 < 2^31` for `n <= 511` columns (checked) and `|x|, |h| <= 32768`.
//! - INT16 weights are row-major i16, one MAC per load.
//!
//! Rows are stored unit-major (unit `k`, gate `g`: row `k * G + g`), so the elementwise pass
//! finds a unit's gates at fixed offsets from one pointer.
//!
//! Between units everything lives in `OpBufs` (`h`, LSTM's `c`, the two gate buffers), so a
//! job can stop after any step and resume later with bit-identical results.

use super::dense::{packed3_i8, Packed3, P3_ROWS, P3_WORDS};
use super::exec::OpBufs;
use super::model::{ModelView, OpRecord, COMPACT, GRU, I16, I8, LSTM, PACKED, PACKED3};
use super::{ExecError, Why};

/// INT8 rows take at most this many columns (the paired lanes stay below 2^31).
pub const PAIR_MAX_COLS: u32 = 511;
/// Entries of an INT16 activation table.
pub const TABLE_LEN: usize = 513;
const STATE_BITS: u32 = 15;
/// Rows of an INT8 group (four paired words per column); every row count is padded to it.
pub const GROUP_ROWS: usize = 8;
const GROUP_WORDS: usize = 4;

/// Per-step CU terms of `unit_cost` (upper bounds; fitted figures in `cost.rs`'s table).
/// A paired word (two MACs) of an INT8 matrix.
pub const PAIR_WORD_CU: u64 = 6;
/// One MAC of an INT16 matrix.
pub const I16_MAC_CU: u64 = 9;
/// One gate row: row setup, two requantizations.
pub const ROW_CU: u64 = 60;
/// One hidden unit's elementwise update (three or four table lookups).
pub const UNIT_CU: u64 = 160;
/// Per step: the loop, slicing the input, views.
pub const STEP_CU: u64 = 300;

#[inline(always)]
fn gates(op: &OpRecord) -> usize {
    if op.kind == GRU {
        3
    } else {
        4
    }
}

/// Number of units of work: the timesteps.
pub fn units(op: &OpRecord) -> usize {
    (op.p0 as usize).max(1)
}

/// Gate rows rounded up to whole groups: the length of the offset, multiplier and gate buffers.
#[inline(always)]
fn padded_rows(op: &OpRecord) -> usize {
    (gates(op) * op.p2 as usize).div_ceil(GROUP_ROWS) * GROUP_ROWS
}

/// The speed mode (INT8, layout PACKED3): the h part multiplies `h` rounded to Q7 by PACKED3
/// words, three rows per multiply.
#[inline(always)]
fn speed(op: &OpRecord) -> bool {
    op.layout == PACKED3
}

/// Hidden units the speed mode takes: `128 * 127 * 64 < 2^20`, no PACKED3 lane can carry.
pub const H8_MAX_HIDDEN: u32 = 64;

/// Words of the state that carry from one unit to the next: `h` and LSTM's `c` (the gate
/// buffers and speed mode's Q7 copy of `h` after them are rewritten by every step before they
/// are read).
pub fn carry_words(op: &OpRecord) -> usize {
    op.p2 as usize * (1 + (op.kind == LSTM) as usize)
}

/// Words a step works in: `h`, LSTM's `c`, the x and h gate buffers, and in speed mode the Q7
/// copy of `h`.
pub fn state_words(op: &OpRecord) -> usize {
    let h = op.p2 as usize;
    h * (1 + (op.kind == LSTM) as usize + speed(op) as usize) + 2 * padded_rows(op)
}

/// `a * b`, saturated, without the u128 multiply `saturating_mul` becomes (upstream BPF cannot
/// link `__multi3`, docs/toolchain.md).
#[inline(always)]
fn mul(a: u64, b: u64) -> u64 {
    crate::math::mul_u64(a, b).unwrap_or(u64::MAX)
}

/// Upper bound on the CU of one timestep.
pub fn unit_cost(op: &OpRecord) -> u64 {
    let (f, h) = (op.p1 as u64, op.p2 as u64);
    let rows = gates(op) as u64 * h;
    let mac = if speed(op) {
        // x part in row pairs; h part three rows per word over groups of 12 rows.
        mul(mul(padded_rows(op) as u64 / 2, f), PAIR_WORD_CU).saturating_add(mul(
            mul(rows.div_ceil(P3_ROWS as u64) * P3_WORDS as u64, h),
            PAIR_WORD_CU,
        ))
    } else if op.dtype == I8 {
        mul(mul(padded_rows(op) as u64 / 2, f + h), PAIR_WORD_CU)
    } else {
        mul(mul(rows, f + h), I16_MAC_CU)
    };
    mac.saturating_add(mul(rows, ROW_CU))
        .saturating_add(mul(h, UNIT_CU))
        .saturating_add(STEP_CU)
}

/// The arrays of a validated record.
struct Arrays<'a> {
    /// INT8: `padded_rows / 2 * F` paired words; INT16: `rows * F` i16.
    wx: *const u8,
    wh: *const u8,
    /// Requantization offsets `b * M + 2^(S-1)`: x part (prow), then h part (prow).
    ofs: &'a [i64],
    mult: &'a [u32],
    sig: &'a [i16; TABLE_LEN],
    tanh: &'a [i16; TABLE_LEN],
}

#[inline(always)]
fn err(w: Why) -> ExecError {
    ExecError::Model(w)
}

/// Views of the op's arrays; checks every offset and count against the file.
#[inline(never)]
fn arrays<'a>(
    model: &ModelView<'a>,
    op: &OpRecord,
    out: &mut Option<Arrays<'a>>,
) -> Result<(), ExecError> {
    let (f, h) = (op.p1 as usize, op.p2 as usize);
    let rows = gates(op) * h;
    let prow = padded_rows(op);
    let off = &op.off;
    let (wx, wh) = if op.dtype == I8 {
        let pairs = prow / 2;
        let wh_words = if speed(op) {
            rows.div_ceil(P3_ROWS) * P3_WORDS * h
        } else {
            pairs * h
        };
        (
            model.array::<i64>(off[0] as usize, pairs * f)?.as_ptr() as *const u8,
            model.array::<i64>(off[1] as usize, wh_words)?.as_ptr() as *const u8,
        )
    } else {
        (
            model.array::<i16>(off[0] as usize, rows * f)?.as_ptr() as *const u8,
            model.array::<i16>(off[1] as usize, rows * h)?.as_ptr() as *const u8,
        )
    };
    let sig = model.array::<i16>(off[4] as usize, TABLE_LEN)?;
    let tanh = model.array::<i16>(off[5] as usize, TABLE_LEN)?;
    *out = Some(Arrays {
        wx,
        wh,
        ofs: model.array::<i64>(off[2] as usize, 2 * prow)?,
        mult: model.array::<u32>(off[3] as usize, 2 * prow)?,
        sig: sig.try_into().map_err(|_| err(Why::RecurrentParams))?,
        tanh: tanh.try_into().map_err(|_| err(Why::RecurrentParams))?,
    });
    Ok(())
}

/// Validate a GRU / LSTM record: every parameter, the widths, the input range (`range`, the
/// bounds of the values the previous op wrote, must lie in INT16) and every array. O(1).
#[inline(never)]
pub fn check(model: &ModelView, op: &OpRecord, range: &(i64, i64)) -> Result<(), ExecError> {
    if op.kind != GRU && op.kind != LSTM {
        return Err(err(Why::OpKind));
    }
    let layout_ok = matches!(
        (op.dtype, op.layout),
        (I8, PACKED) | (I8, PACKED3) | (I16, COMPACT)
    );
    if !layout_ok || (speed(op) && op.p2 > H8_MAX_HIDDEN) {
        return Err(err(Why::RecurrentLayout));
    }
    if range.0 < -32768 || range.1 > 32767 {
        return Err(err(Why::RecurrentInput));
    }
    let (t, f, h) = (op.p0 as u64, op.p1 as u64, op.p2 as u64);
    if t == 0 || f == 0 || h == 0 || op.mode > 1 {
        return Err(err(Why::RecurrentParams));
    }
    // u64 products of u32 fields: no overflow.
    let n_out = if op.mode == 1 { t * h } else { h };
    if op.n_in as u64 != t * f || op.n_out as u64 != n_out {
        return Err(err(Why::RecurrentParams));
    }
    if op.dtype == I8 && (op.p1 > PAIR_MAX_COLS || op.p2 > PAIR_MAX_COLS) {
        return Err(err(Why::RecurrentParams));
    }
    // The hidden size bounds every array count below (rows * cols < 2^40 words).
    if h > 1 << 16 {
        return Err(err(Why::RecurrentParams));
    }
    if !(1..=62).contains(&op.shift) || !(1..=14).contains(&op.p3) {
        return Err(err(Why::RecurrentParams));
    }
    if op.zp != 0 || op.lo != 0 || op.hi != 0 || op.reserved != 0 {
        return Err(err(Why::RecurrentParams));
    }
    let mut a = None;
    arrays(model, op, &mut a)
}

/// `(v + 2^(s-1)) >> s`, wrapping like the reference's int64 arrays.
#[inline(always)]
fn rsr(v: i64, s: u32) -> i64 {
    v.wrapping_add(1i64 << (s - 1)) >> s
}

/// Clamp to INT16 (branches, not `clamp`, whose panic path the BPF build must not carry).
#[allow(clippy::manual_clamp)]
#[inline(always)]
fn c16(v: i64) -> i64 {
    if v < -32768 {
        -32768
    } else if v > 32767 {
        32767
    } else {
        v
    }
}

/// The INT16 table of 1.6 on `q` in `[-32768, 32767]`.
#[inline(always)]
fn lut(t: &[i16; TABLE_LEN], q: i64) -> i64 {
    let u = (q + 32768) as usize & 0xFFFF;
    let i = u >> 7;
    let frac = (u & 127) as i64;
    // SAFETY: i <= 511, so i + 1 <= 512 < TABLE_LEN.
    let (t0, t1) = unsafe { (*t.get_unchecked(i) as i64, *t.get_unchecked(i + 1) as i64) };
    t0 + (((t1 - t0) * frac + 64) >> 7)
}

/// One matrix-vector product with requantization: `out[i] = (W_i . x * mult[i] + c[i]) >> S`
/// for the rows of `count` groups (INT8) or `count` rows (INT16), where the file stores
/// `c[i] = bias[i] * mult[i] + 2^(S-1)`: the same 64-bit value as
/// `rshift_round((bias[i] + W_i . x) * mult[i], S)`, in wrapping arithmetic too, for a
/// multiply, an add and a shift per row.
struct MatVec {
    w: *const u8,
    x: *const i64,
    n: usize,
    /// INT8: groups of 8 rows; INT16: rows.
    count: usize,
    c: *const i64,
    mult: *const u32,
    shift: u32,
    out: *mut i64,
}

#[inline(always)]
unsafe fn rq(acc: i64, c: *const i64, mult: *const u32, shift: u32) -> i64 {
    acc.wrapping_mul(*mult as i64).wrapping_add(*c) >> shift
}

/// Split a paired sum into its rows `o[0]` (low lane) and `o[1]`, requantized.
#[inline(always)]
unsafe fn emit2(s: i64, o: *mut i64, c: *const i64, m: *const u32, shift: u32) {
    let lo = (s << 32) >> 32;
    *o = rq(lo, c, m, shift);
    *o.add(1) = rq(s.wrapping_sub(lo) >> 32, c.add(1), m.add(1), shift);
}

/// INT8 groups: per group of 8 rows, four paired words per column (one input load, four
/// loads, multiplies and adds at immediate offsets).
///
/// # Safety
/// `w` holds `count * 4 * n` words, `x` `n >= 1` words, `c`/`mult` `8 * count` entries,
/// `out` `8 * count` writable words.
#[inline(never)]
unsafe fn groups_mv(m: &MatVec) {
    let mut w = m.w as *const i64;
    let x_end = m.x.add(m.n);
    let x_end2 = m.x.add(m.n & !1);
    let (mut out, mut c, mut mult) = (m.out, m.c, m.mult);
    let out_end = out.add(m.count * GROUP_ROWS);
    while out < out_end {
        let (mut s0, mut s1, mut s2, mut s3) = (0i64, 0i64, 0i64, 0i64);
        let mut xp = m.x;
        // Two columns per pass, one after the other through the same input register: four
        // accumulators, the input, a product, two pointers and the end fit the ten registers.
        while xp < x_end2 {
            let xv = *xp;
            s0 = s0.wrapping_add((*w).wrapping_mul(xv));
            s1 = s1.wrapping_add((*w.add(1)).wrapping_mul(xv));
            s2 = s2.wrapping_add((*w.add(2)).wrapping_mul(xv));
            s3 = s3.wrapping_add((*w.add(3)).wrapping_mul(xv));
            let xv = *xp.add(1);
            s0 = s0.wrapping_add((*w.add(4)).wrapping_mul(xv));
            s1 = s1.wrapping_add((*w.add(5)).wrapping_mul(xv));
            s2 = s2.wrapping_add((*w.add(6)).wrapping_mul(xv));
            s3 = s3.wrapping_add((*w.add(7)).wrapping_mul(xv));
            w = w.add(2 * GROUP_WORDS);
            xp = xp.add(2);
        }
        if xp < x_end {
            let xv = *xp;
            s0 = s0.wrapping_add((*w).wrapping_mul(xv));
            s1 = s1.wrapping_add((*w.add(1)).wrapping_mul(xv));
            s2 = s2.wrapping_add((*w.add(2)).wrapping_mul(xv));
            s3 = s3.wrapping_add((*w.add(3)).wrapping_mul(xv));
            w = w.add(GROUP_WORDS);
        }
        let sh = m.shift;
        emit2(s0, out, c, mult, sh);
        emit2(s1, out.add(2), c.add(2), mult.add(2), sh);
        emit2(s2, out.add(4), c.add(4), mult.add(4), sh);
        emit2(s3, out.add(6), c.add(6), mult.add(6), sh);
        out = out.add(GROUP_ROWS);
        c = c.add(GROUP_ROWS);
        mult = mult.add(GROUP_ROWS);
    }
}

/// INT16 rows, row-major, two columns per pass.
///
/// # Safety
/// `w` holds `count * n` i16, `x` `n` words, `c`/`mult` `count` entries, `out` `count`
/// writable words.
#[inline(never)]
unsafe fn i16_mv(m: &MatVec) {
    let mut w = m.w as *const i16;
    let x_end = m.x.add(m.n);
    let x_end2 = m.x.add(m.n & !1);
    let (mut out, mut c, mut mult) = (m.out, m.c, m.mult);
    let out_end = out.add(m.count);
    while out < out_end {
        let mut s = 0i64;
        let mut xp = m.x;
        while xp < x_end2 {
            s = s
                .wrapping_add((*w as i64).wrapping_mul(*xp))
                .wrapping_add((*w.add(1) as i64).wrapping_mul(*xp.add(1)));
            w = w.add(2);
            xp = xp.add(2);
        }
        if xp < x_end {
            s = s.wrapping_add((*w as i64).wrapping_mul(*xp));
            w = w.add(1);
        }
        *out = rq(s, c, mult, m.shift);
        out = out.add(1);
        c = c.add(1);
        mult = mult.add(1);
    }
}

/// Everything one timestep needs, as raw pointers (one register argument).
struct StepCtx<'a> {
    a: &'a Arrays<'a>,
    lstm: bool,
    i8: bool,
    /// Speed mode (PACKED3 h part over the Q7 state).
    h8: bool,
    f: usize,
    h: usize,
    rows: usize,
    /// `rows` rounded up to whole groups.
    prow: usize,
    /// `S`, 1..=62.
    shift: u32,
    /// `15 - G`: LSTM's cell state (Q15) to the gate domain.
    cs: u32,
}

/// One timestep: `x` the step's F inputs; `st` the state (`h`, `c`, gate buffers).
///
/// # Safety
/// `x` holds `f` words, `st` `state_words` words.
#[inline(never)]
unsafe fn step(c: &StepCtx, x: *const i64, st: *mut i64) {
    let (h, prow) = (c.h, c.prow);
    let hp = st;
    let gx = st.add(h * (1 + c.lstm as usize));
    let gh = gx.add(prow);
    let offs = c.a.ofs.as_ptr();
    let mult = c.a.mult.as_ptr();
    let count = if c.i8 { prow / GROUP_ROWS } else { c.rows };
    let mvx = MatVec {
        w: c.a.wx,
        x,
        n: c.f,
        count,
        c: offs,
        mult,
        shift: c.shift,
        out: gx,
    };
    let mvh = MatVec {
        w: c.a.wh,
        x: hp,
        n: h,
        count,
        c: offs.add(prow),
        mult: mult.add(prow),
        shift: c.shift,
        out: gh,
    };
    if c.h8 {
        groups_mv(&mvx);
        h8_part(c, &mvh, gh.add(prow));
    } else if c.i8 {
        groups_mv(&mvx);
        groups_mv(&mvh);
    } else {
        i16_mv(&mvx);
        i16_mv(&mvh);
    }
    if c.lstm {
        lstm_units(c, st, gx, gh);
    } else {
        gru_units(c, st, gx, gh);
    }
}

/// Speed mode's h part: `q = clamp(rshift_round(h, 8), -128, 127)` into `q`, the PACKED3
/// row sums of `Wh . q` (lanes exact: `|q| <= 128` and the loader's lane bound), then each
/// row's requantization `(sum * M + c) >> S`.
///
/// # Safety
/// `m.x` holds `c.h` words (the state), `q` `c.h` writable words, `m.w` the PACKED3 words of
/// `c.rows` rows, `m.out` `c.rows` writable words, `m.c`/`m.mult` `c.rows` entries.
#[inline(never)]
unsafe fn h8_part(c: &StepCtx, m: &MatVec, q: *mut i64) {
    for k in 0..c.h {
        let v = (*m.x.add(k) + 128) >> 8;
        *q.add(k) = if v > 127 { 127 } else { v };
    }
    packed3_i8(&Packed3 {
        w: m.w as *const i64,
        x: q,
        n_in: c.h,
        span: c.h,
        y: m.out,
        n_out: c.rows,
    });
    for i in 0..c.rows {
        *m.out.add(i) = rq(*m.out.add(i), m.c.add(i), m.mult.add(i), m.shift);
    }
}

/// GRU update of every unit from the gate buffers (rows `3k`, `3k + 1`, `3k + 2`: r, z, n).
///
/// # Safety
/// `hp` holds `h` words, `gx`/`gh` `3h`.
#[inline(never)]
unsafe fn gru_units(c: &StepCtx, hp: *mut i64, mut gx: *const i64, mut gh: *const i64) {
    let (sig, tanh) = (c.a.sig, c.a.tanh);
    let mut hp = hp;
    let end = hp.add(c.h);
    while hp < end {
        let r = lut(sig, c16((*gx).wrapping_add(*gh)));
        let z = lut(sig, c16((*gx.add(1)).wrapping_add(*gh.add(1))));
        let hn = c16(*gh.add(2));
        let n = lut(
            tanh,
            c16((*gx.add(2)).wrapping_add(rsr(r * hn, STATE_BITS))),
        );
        *hp = c16(n + rsr(z * (*hp - n), STATE_BITS));
        hp = hp.add(1);
        gx = gx.add(3);
        gh = gh.add(3);
    }
}

/// LSTM update of every unit (rows `4k .. 4k + 4`: i, f, g, o); `c` follows `h` in `st`.
///
/// # Safety
/// `st` holds `2h` words, `gx`/`gh` `4h`.
#[inline(never)]
unsafe fn lstm_units(c: &StepCtx, st: *mut i64, mut gx: *const i64, mut gh: *const i64) {
    let (sig, tanh) = (c.a.sig, c.a.tanh);
    let h = c.h;
    let mut hp = st;
    let end = hp.add(h);
    while hp < end {
        let i = lut(sig, c16((*gx).wrapping_add(*gh)));
        let f = lut(sig, c16((*gx.add(1)).wrapping_add(*gh.add(1))));
        let g = lut(tanh, c16((*gx.add(2)).wrapping_add(*gh.add(2))));
        let o = lut(sig, c16((*gx.add(3)).wrapping_add(*gh.add(3))));
        let cp = hp.add(h);
        let cell = rsr(f.wrapping_mul(*cp), STATE_BITS).wrapping_add(rsr(i * g, STATE_BITS));
        *cp = cell;
        let tc = lut(tanh, c16(rsr(cell, c.cs)));
        *hp = c16(rsr(o * tc, STATE_BITS));
        hp = hp.add(1);
        gx = gx.add(4);
        gh = gh.add(4);
    }
}

/// Run timesteps `from..to` (the resumable op contract, `job.rs`). `from == 0`
/// zeroes the state; the output is complete once `to == units(op)`.
/// Precondition: `check` accepted this record on this model.
#[inline(never)]
pub fn run_units(
    model: &ModelView,
    op: &OpRecord,
    bufs: &mut OpBufs,
    from: usize,
    to: usize,
) -> Result<(), ExecError> {
    let (t_all, f, h) = (op.p0 as usize, op.p1 as usize, op.p2 as usize);
    let lstm = op.kind == LSTM;
    let rows = gates(op) * h;
    if from >= to
        || to > t_all
        || bufs.input.len() < t_all * f
        || bufs.output.len() < op.n_out as usize
        || bufs.state.len() < state_words(op)
        || !(1..=62).contains(&op.shift)
    {
        return Err(err(Why::RecurrentBuffers));
    }
    let mut a = None;
    arrays(model, op, &mut a)?;
    let Some(a) = a else {
        return Err(err(Why::RecurrentParams));
    };
    let st = bufs.state.as_mut_ptr();
    if from == 0 {
        for v in bufs.state[..h * (1 + lstm as usize)].iter_mut() {
            *v = 0;
        }
    }
    let ctx = StepCtx {
        a: &a,
        lstm,
        i8: op.dtype == I8,
        h8: speed(op),
        f,
        h,
        rows,
        prow: padded_rows(op),
        shift: op.shift as u32,
        cs: STATE_BITS - (op.p3 as u32).min(14),
    };
    let seq = op.mode == 1;
    for t in from..to {
        // SAFETY: input holds t_all * f words, state state_words (checked above); the arrays
        // were viewed with their full counts by `arrays`.
        unsafe { step(&ctx, bufs.input.as_ptr().add(t * f), st) };
        if seq {
            bufs.output[t * h..(t + 1) * h].copy_from_slice(&bufs.state[..h]);
        }
    }
    if !seq && to == t_all {
        bufs.output[..h].copy_from_slice(&bufs.state[..h]);
    }
    Ok(())
}
