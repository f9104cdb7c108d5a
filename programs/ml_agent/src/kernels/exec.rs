//! The forward pass: features in, outputs, class and confidence out, op by op as the model
//! file lists them. Every op record is checked just before it runs; a model the kernels cannot
//! execute fails with `ExecError::Model` before any of its arithmetic could misbehave.
//!
//! Activations are i64 words in three scratch buffers of the widest layer's size: the raw
//! features, and two that alternate as an op's input and output.

use super::dense::{compact_i16, compact_i8, packed3_i8, packed_i8, Packed3, P3_ROWS, P3_WORDS};
use super::fixed::{clamp, requantize, Requant};
use super::lut::{lut_i16, lut_i8};
use super::model::{
    dtype_range, ModelView, OpRecord, ARGMAX, COMPACT, CONV1D, DENSE, DTYPE_NONE, GRU, I16, I8,
    LSTM, LUT, PACKED, PACKED3, POOL, SOFTMAX, SPARSE, TREES,
};
use super::recurrent;
use super::scratch::Scratch;
use super::softmax::{argmax, confidence, softmax, ConfMode};
use super::sparse::{sparse, SparseRows};
use super::trees::{diagnose, run_trees, Node, TreeMode, Trees};
use super::{ExecError, Why};

/// Hooks for tracing a forward pass (host golden tests) or metering it (the `infer` CU log).
/// The default methods do nothing, so the on-chain path compiles them away.
pub trait Observer {
    /// Features loaded and range-checked; `q` is the quantized input (None for raw-feature
    /// models).
    #[inline(always)]
    fn inputs(&mut self, _q: Option<&[i64]>) {}
    /// Op `i` produced `out` (`[class, confidence]` for ARGMAX).
    #[inline(always)]
    fn op(&mut self, _i: usize, _out: &[i64]) {}
}

/// Buffers an op works in. Between two calls of a resumable op's `run_units` everything the op
/// needs lives here (a job account persists exactly these three slices), nothing in statics or
/// elsewhere (the resumable op contract, `kernels/job.rs`).
pub struct OpBufs<'a> {
    /// The op's whole input (n_in words).
    pub input: &'a [i64],
    /// The op's whole output (n_out words).
    pub output: &'a mut [i64],
    /// `state_words(op)` words (h, c, ...); may be empty.
    pub state: &'a mut [i64],
}

/// Words of the output buffer an op needs past its `n_out + 1` output words for its state
/// (`recurrent::state_words`; 0 for ops without state).
#[inline(always)]
pub fn extra_words(op: &OpRecord) -> usize {
    if op.kind == GRU || op.kind == LSTM {
        recurrent::state_words(op)
    } else {
        0
    }
}

pub struct NoObserver;

impl Observer for NoObserver {}

/// Result of one inference; `outputs` lives in the scratch arena.
pub struct Inference<'s> {
    pub class: u32,
    pub confidence: i64,
    /// The input of a final ARGMAX (probabilities, votes), else the last op's output.
    pub outputs: &'s [i64],
}

/// Index of the first feature outside `[lo, hi]`, or `n` when all are inside. Writes each
/// checked feature to `out` as `x * 2^32` (the form the tree walk compares; `>> 32` gives the
/// sign-extended value).
///
/// Comparisons run on values shifted into the top half of an i64: a 32-bit load zero-extends
/// on BPF, and one left shift orders i32 values correctly where sign extension takes two.
///
/// # Safety
/// `f`, `lo` and `hi` must point to `n` readable i32 each, `out` to `n` writable words.
#[inline(never)]
pub(super) unsafe fn first_out_of_range(
    f: *const i32,
    lo: *const i32,
    hi: *const i32,
    mut out: *mut i64,
    n: usize,
) -> usize {
    let (mut f, mut lo, mut hi) = (f as *const u32, lo as *const u32, hi as *const u32);
    let end = f.add(n);
    let start = f;
    while f < end {
        let v = ((*f as u64) << 32) as i64;
        if v < ((*lo as u64) << 32) as i64 || v > ((*hi as u64) << 32) as i64 {
            break;
        }
        *out = v;
        out = out.add(1);
        f = f.add(1);
        lo = lo.add(1);
        hi = hi.add(1);
    }
    f.offset_from(start) as usize
}

/// Operands of `check_quantize` as raw pointers (one register argument; each field is loaded
/// where the loop needs it, BPF has too few registers to keep them all live).
pub(super) struct InputPass {
    pub(super) f: *const u32,
    pub(super) f_end: *const u32,
    pub(super) lo: *const u32,
    pub(super) hi: *const u32,
    pub(super) c: *const i32,
    pub(super) m: *const i32,
    pub(super) s: *const u8,
    /// The quantized input.
    pub(super) q: *mut i64,
    pub(super) zp: i64,
    pub(super) qmin: i64,
    pub(super) qmax: i64,
}

/// One pass over a neural model's features: range check, then
/// `q_j = clamp(zp + rshift_round((x_j - c_j) * m_j, s_j), qmin, qmax)`. Returns the index of
/// the first feature outside its range, `n + 1` for a shift outside 1..=62, or `n`.
///
/// # Safety
/// `f..f_end` are `n` readable u32; `lo`, `hi`, `c`, `m`, `s` point to `n` readable elements,
/// `q` to `n` writable words.
#[inline(never)]
pub(super) unsafe fn check_quantize(p: &InputPass) -> usize {
    let (mut f, mut lo, mut hi, mut c, mut m, mut s) = (p.f, p.lo, p.hi, p.c, p.m, p.s);
    let mut q = p.q;
    while f < p.f_end {
        // Compared in the top half of an i64: a 32-bit load zero-extends on BPF.
        let v = ((*f as u64) << 32) as i64;
        if v < ((*lo as u64) << 32) as i64 || v > ((*hi as u64) << 32) as i64 {
            return f.offset_from(p.f) as usize;
        }
        let raw = v >> 32;
        let sh = (*s as u32).wrapping_sub(1);
        // A shift of 0 would shift by -1; the format allows 1..=62.
        if sh >= 62 {
            return p.f_end.offset_from(p.f) as usize + 1;
        }
        let prod = raw.wrapping_sub(*c as i64).wrapping_mul(*m as i64);
        // rshift_round(v, s) = ((v >> (s - 1)) + 1) >> 1: no rounding constant to keep live.
        *q = clamp(
            p.zp.wrapping_add((prod >> sh).wrapping_add(1) >> 1),
            p.qmin,
            p.qmax,
        );
        f = f.add(1);
        lo = lo.add(1);
        hi = hi.add(1);
        c = c.add(1);
        m = m.add(1);
        s = s.add(1);
        q = q.add(1);
    }
    p.f_end.offset_from(p.f) as usize
}

/// Range-check a quantized-input model's `n_features` values `f` and write their quantization
/// (1.3 of the format) to `q`; returns the dtype's bounds. Where the single pass and a job's
/// `start` both begin.
///
/// # Safety
/// `f.len()` is the model's `n_features` and `q` holds at least that many words.
#[inline(always)]
pub(super) unsafe fn quantize_input(
    model: &ModelView,
    f: &[i32],
    q: &mut [i64],
) -> Result<(i64, i64), ExecError> {
    let n = f.len();
    let (lo, hi) = model.ranges();
    let (qmin, qmax) = dtype_range(model.header.input_dtype)?;
    let (c, m, s) = model.affine_offsets();
    let base = model.bytes.as_ptr();
    // SAFETY: parse() checked lo/hi and (for a quantized input) c/m/s: n elements each, inside
    // the file and aligned; q holds n words (the caller's contract).
    let bad = unsafe {
        let fp = f.as_ptr() as *const u32;
        check_quantize(&InputPass {
            f: fp,
            f_end: fp.add(n),
            lo: lo.as_ptr() as *const u32,
            hi: hi.as_ptr() as *const u32,
            c: base.add(c) as *const i32,
            m: base.add(m) as *const i32,
            s: base.add(s),
            q: q.as_mut_ptr(),
            zp: model.header.input_zp as i64,
            qmin,
            qmax,
        })
    };
    if bad != n {
        return Err(if bad < n {
            ExecError::FeatureOutOfRange(bad as u32)
        } else {
            ExecError::Model(Why::InputAffine)
        });
    }
    Ok((qmin, qmax))
}

/// Range-check the features; write them to `x` as `x * 2^32`.
#[inline(always)]
pub(super) fn check_features(
    f: &[i32],
    lo: &[i32],
    hi: &[i32],
    x: &mut [i64],
) -> Result<(), ExecError> {
    let n = f.len();
    assert!(lo.len() == n && hi.len() == n && x.len() >= n);
    // SAFETY: three arrays of n i32 and one of at least n words (asserted).
    let bad =
        unsafe { first_out_of_range(f.as_ptr(), lo.as_ptr(), hi.as_ptr(), x.as_mut_ptr(), n) };
    if bad < n {
        return Err(ExecError::FeatureOutOfRange(bad as u32));
    }
    Ok(())
}

/// `x * 2^32` back to `x` in place.
#[inline(never)]
pub(super) fn unshift(x: &mut [i64]) {
    for v in x.iter_mut() {
        *v >>= 32;
    }
}

/// `count` elements of `T` at `off`: checked, or (`TR`, a version marked `OPS_CHECKED`) not.
#[inline(always)]
fn arr<'a, T, const TR: bool>(
    m: &ModelView<'a>,
    off: usize,
    count: usize,
) -> Result<&'a [T], ExecError> {
    if TR {
        // SAFETY: TR is only set for a version whose checked forward pass succeeded at
        // finalize (`instructions::infer::ops_checkable`); every array this pass views has an
        // offset and count fixed by the immutable file, the same for every input.
        Ok(unsafe { m.array_unchecked(off, count) })
    } else {
        m.array(off, count)
    }
}

/// Run `model` on `features` (n_features little-endian i32 Q16.16 values). `TR`: skip the
/// structural checks that do not depend on the input (only for a version marked
/// `OPS_CHECKED`, whose checked pass succeeded on the same immutable bytes).
#[inline(always)]
pub fn run<'s, O: Observer, const TR: bool>(
    model: &ModelView,
    features: &[u8],
    scratch: &mut Scratch<'s>,
    obs: &mut O,
) -> Result<Inference<'s>, ExecError> {
    let mut req = Request {
        model,
        features,
        scratch,
        obs,
        class: 0,
        confidence: 0,
        outputs: &[],
    };
    if TR && model.n_ops >= 2 {
        super::marked::forward(&mut req)?;
    } else {
        forward::<O, TR>(&mut req)?;
    }
    Ok(Inference {
        class: req.class,
        confidence: req.confidence,
        outputs: req.outputs,
    })
}

/// A forward pass's inputs and results in one struct, so `forward` runs out of line (its own
/// registers, one pointer argument, an 8-byte result) instead of inside the instruction's large
/// function, where its loop state lived on the stack.
pub struct Request<'r, 's, O> {
    pub model: &'r ModelView<'r>,
    pub features: &'r [u8],
    pub scratch: &'r mut Scratch<'s>,
    pub obs: &'r mut O,
    pub class: u32,
    pub confidence: i64,
    pub outputs: &'s [i64],
}

#[inline(never)]
pub fn forward<'s, O: Observer, const TR: bool>(
    req: &mut Request<'_, 's, O>,
) -> Result<(), ExecError> {
    let model = req.model;
    let features = req.features;
    let scratch = &mut *req.scratch;
    let obs = &mut *req.obs;
    let n = model.n_features;
    if features.len() != 4 * n {
        return Err(ExecError::FeatureCount);
    }
    // Three equal buffers: the raw features, then two that alternate as each op's input and
    // output. Sizing them from the arena (not from a pass over the op table) saves that pass;
    // each op checks that its output fits.
    let words = scratch.remaining() / 3;
    if !TR && n > words {
        return Err(ExecError::Model(Why::Scratch));
    }
    let x = scratch.take(words)?;
    let a = scratch.take(words)?;
    let b = scratch.take(words)?;

    let f: &[i32] = if features.as_ptr() as usize & 3 == 0 {
        // The usual case: instruction data is 8-aligned and the features follow the 8-byte
        // discriminator and the 4-byte length. SAFETY: 4n bytes, 4-aligned, any bits are valid.
        unsafe { core::slice::from_raw_parts(features.as_ptr() as *const i32, n) }
    } else {
        // Otherwise copy them into `b` (free until the first op writes it).
        let bytes = b.as_mut_ptr() as *mut u8;
        // SAFETY: b has words * 8 >= 4n bytes; the source and b do not overlap.
        unsafe {
            core::ptr::copy_nonoverlapping(features.as_ptr(), bytes, 4 * n);
            core::slice::from_raw_parts(bytes as *const i32, n)
        }
    };
    let (lo, hi) = model.ranges();
    let dtype = model.header.input_dtype;
    // (cur, spare): this op's input and output buffers; `range` bounds the values in `cur`.
    let (mut cur, mut spare, mut range): (&'s mut [i64], &'s mut [i64], (i64, i64));
    // The raw features, kept aside when the ops start from the quantized input.
    let mut raw: &'s [i64] = &[];
    let mut shifted = false;
    if dtype == DTYPE_NONE {
        check_features(f, lo, hi, x)?;
        // `x` holds the raw features times 2^32: what a first TREES op compares. Every other
        // reader (raw-feature ops, the outputs of a model that is a lone ARGMAX) takes them as
        // i64.
        if model.op(0).kind != TREES {
            unshift(&mut x[..n]);
        } else {
            shifted = true;
        }
        obs.inputs(None);
        (cur, spare, range) = (x, a, (i32::MIN as i64, i32::MAX as i64));
    } else {
        // SAFETY: a holds `words >= n` words.
        let (qmin, qmax) = unsafe { quantize_input(model, f, a)? };
        if model.n_ops == 1 {
            // A lone ARGMAX returns the raw features (the reference's convention).
            for (o, v) in x.iter_mut().zip(f) {
                *o = *v as i64;
            }
        }
        obs.inputs(Some(&a[..n]));
        raw = x;
        (cur, spare, range) = (a, b, (qmin, qmax));
    }

    let mut width = n;
    let last = model.n_ops - 1;
    for i in 0..model.n_ops {
        let op = model.op(i);
        let n_out = op.n_out as usize;
        if !TR {
            if op.n_in as usize != width {
                return Err(ExecError::Model(Why::WidthChain));
            }
            if n_out == 0 {
                return Err(ExecError::Model(Why::EmptyOutput));
            }
            // +1: a PACKED layer with an odd n_out writes its zero padding row too; a
            // recurrent op keeps its state after its output.
            if n_out >= words || extra_words(op) > words - n_out - 1 {
                return Err(ExecError::Model(Why::Scratch));
            }
        }
        let (y, state) = spare.split_at_mut(n_out + 1);
        let mut step = Step {
            model,
            op,
            index: i,
            shifted: i == 0 && shifted,
            x: &mut cur[..width],
            // +1: room for a PACKED layer's padding row (max_width + 1 words each).
            y,
            state,
        };
        if op.kind == ARGMAX {
            if !TR && i != last {
                return Err(ExecError::Model(Why::ArgmaxNotLast));
            }
            argmax_op::<TR>(&mut step)?;
            let (class, confidence) = (spare[0] as u32, spare[1]);
            obs.op(i, &spare[..2]);
            // Outputs are the vector the head ranked: the previous op's, or the raw features
            // of a model that is a lone ARGMAX (the reference's convention).
            let outputs: &'s [i64] = if i == 0 && dtype != DTYPE_NONE {
                raw
            } else {
                cur
            };
            req.class = class;
            req.confidence = confidence;
            req.outputs = &outputs[..width];
            return Ok(());
        }
        if op.kind == SOFTMAX && i + 1 == last {
            let head = model.op(last);
            if head.kind == ARGMAX && head.mode == 1 && head.n_in == op.n_out && head.n_out == 2 {
                // SOFTMAX then a probability ARGMAX (every classifier head the compiler
                // emits): the general path below in its cheapest form (measured: the mode
                // match and `run_op` dispatch cost ~60 CU more).
                let class = softmax_op::<TR>(&mut step)?;
                obs.op(i, &spare[..n_out]);
                let probs: &'s [i64] = spare;
                let probs = &probs[..n_out];
                let confidence = probs[class];
                obs.op(last, &[class as i64, confidence]);
                req.class = class as u32;
                req.confidence = confidence;
                req.outputs = probs;
                return Ok(());
            }
        }
        run_op::<TR>(&mut step, &mut range)?;
        obs.op(i, &spare[..n_out]);
        if i + 1 == last {
            let head = model.op(last);
            if head.kind == ARGMAX {
                // The final ARGMAX ranks this op's output right here instead of another trip
                // through the op loop; its record is checked as `argmax_op` checks it.
                if !TR && head.n_in != op.n_out {
                    return Err(ExecError::Model(Why::WidthChain));
                }
                let mode = conf_mode::<TR>(head)?;
                let probs: &'s [i64] = spare;
                let probs = &probs[..n_out];
                let class = argmax(probs);
                let confidence = confidence(probs[class], mode);
                obs.op(last, &[class as i64, confidence]);
                req.class = class as u32;
                req.confidence = confidence;
                req.outputs = probs;
                return Ok(());
            }
        }
        core::mem::swap(&mut cur, &mut spare);
        width = n_out;
    }
    let outputs: &'s [i64] = cur;
    req.outputs = &outputs[..width];
    Ok(())
}

/// Every op but ARGMAX; updates `range`, the bounds of the values the op wrote.
#[inline(never)]
pub(super) fn run_op<const TR: bool>(
    s: &mut Step,
    range: &mut (i64, i64),
) -> Result<(), ExecError> {
    let op = s.op;
    match op.kind {
        DENSE => {
            dense::<TR>(s)?;
            *range = (op.lo as i64, op.hi as i64);
        }
        LUT => {
            lut::<TR>(s, range)?;
            // A LUT writes its table's entries (INT16: interpolations between neighbours),
            // all inside its dtype: what a following LUT's input check must see.
            *range = dtype_range(op.dtype)?;
        }
        SOFTMAX => {
            softmax_op::<TR>(s)?;
            *range = (0, 1 << 16);
        }
        TREES => {
            trees::<TR>(s)?;
            *range = (i64::MIN, i64::MAX);
        }
        GRU | LSTM => {
            if !TR {
                recurrent::check(s.model, op, range)?;
            }
            let n_out = op.n_out as usize;
            let mut bufs = OpBufs {
                input: &*s.x,
                output: &mut s.y[..n_out],
                state: &mut *s.state,
            };
            recurrent::run_units(s.model, op, &mut bufs, 0, recurrent::units(op))?;
            *range = (-32768, 32767);
        }
        CONV1D | POOL => super::conv::run_op::<TR>(s, range)?,
        _ => return Err(ExecError::Model(Why::OpKind)),
    }
    Ok(())
}

/// One op's inputs, bundled so the op functions take a single argument: the BPF backend passes
/// at most five arguments in registers and slices count double.
pub(super) struct Step<'m, 'b> {
    pub(super) model: &'b ModelView<'m>,
    pub(super) op: &'m OpRecord,
    pub(super) index: usize,
    /// `x` holds values times 2^32 (the raw features of a tree model, already shifted).
    pub(super) shifted: bool,
    /// The op's input; only TREES modifies it (in place, as the last reader).
    pub(super) x: &'b mut [i64],
    /// `n_out + 1` words.
    pub(super) y: &'b mut [i64],
    /// The rest of the output buffer: a recurrent op's state (`extra_words`).
    pub(super) state: &'b mut [i64],
}

/// A dense kernel's operands in one struct: the kernels take three slices (six registers),
/// more than an out-of-line BPF call can pass.
pub(super) struct MatVec<'a, W> {
    pub(super) w: &'a [W],
    pub(super) x: &'a [i64],
    pub(super) acc: &'a mut [i64],
}

#[inline(never)]
pub(super) fn mv_packed_i8(m: &mut MatVec<i64>) {
    packed_i8(m.w, m.x, m.acc);
}

#[inline(never)]
pub(super) fn mv_compact_i8(m: &mut MatVec<u8>) {
    compact_i8(m.w, m.x, m.acc);
}

#[inline(never)]
pub(super) fn mv_compact_i16(m: &mut MatVec<i16>) {
    compact_i16(m.w, m.x, m.acc);
}

/// PACKED INT8 layers up to this many MACs take the fused small-layer kernel.
const SMALL_DENSE_MACS: usize = 64;

/// Operands of `packed_i8_small` as raw pointers: one register argument, and each field is a
/// load where the loop needs it (BPF has too few registers to keep them all live).
struct SmallDense {
    w: *const i64,
    x: *const i64,
    x_end: *const i64,
    y: *mut i64,
    y_end: *mut i64,
    bias: *const i32,
    mult: *const u32,
    s1: u64,
    zp: i64,
    lo: i64,
    hi: i64,
}

/// One requantized output: `clamp(zp + rshift_round((acc + bias) * mult, s1 + 1), lo, hi)`,
/// the same expression as `fixed::requantize`.
#[inline(always)]
unsafe fn requant_one(d: &SmallDense, acc: i64, bias: *const i32, mult: *const u32) -> i64 {
    let v = acc.wrapping_add(*bias as i64).wrapping_mul(*mult as i64);
    clamp(
        d.zp.wrapping_add(((v >> d.s1).wrapping_add(1)) >> 1),
        d.lo,
        d.hi,
    )
}

/// PACKED INT8 dense layer with requantization fused in, for small layers: row pair by row
/// pair, one word (two MACs) per input; the lanes are split and requantized right away.
///
/// # Safety
/// `w` points to `ceil(n_out / 2) * n_in` words, `x..x_end` to `n_in >= 1` words, `y..y_end`
/// to `n_out >= 1` writable words, `bias` and `mult` to `n_out` entries each.
#[inline(never)]
unsafe fn packed_i8_small(d: &SmallDense) {
    let mut w = d.w;
    let mut y = d.y;
    let mut bias = d.bias;
    let mut mult = d.mult;
    loop {
        let mut xp = d.x;
        let mut s = 0i64;
        loop {
            s = s.wrapping_add((*w).wrapping_mul(*xp));
            w = w.add(1);
            xp = xp.add(1);
            if xp >= d.x_end {
                break;
            }
        }
        let lo = (s << 32) >> 32;
        *y = requant_one(d, lo, bias, mult);
        y = y.add(1);
        if y >= d.y_end {
            return;
        }
        *y = requant_one(d, s.wrapping_sub(lo) >> 32, bias.add(1), mult.add(1));
        y = y.add(1);
        if y >= d.y_end {
            return;
        }
        bias = bias.add(2);
        mult = mult.add(2);
    }
}

/// DENSE: matrix-vector product in the op's layout, then requantization.
fn dense<const TR: bool>(s: &mut Step) -> Result<(), ExecError> {
    let (model, op, x) = (s.model, s.op, &*s.x);
    let acc = &mut *s.y;
    let n_in = x.len();
    let n_out = op.n_out as usize;
    let shift = op.shift as u32;
    if !TR && (shift.wrapping_sub(1) >= 62 || op.lo > op.hi) {
        return Err(ExecError::Model(Why::DenseParams));
    }
    let off = &op.off;
    // Slot of the bias array: after the weights (one slot) or row_ptr/indices/values (three).
    let tail = match (op.layout, op.dtype) {
        (COMPACT, I8) => {
            let w = arr::<u8, TR>(model, off[0] as usize, n_out * n_in)?;
            mv_compact_i8(&mut MatVec {
                w,
                x,
                acc: &mut acc[..n_out],
            });
            1
        }
        (COMPACT, I16) => {
            let w = arr::<i16, TR>(model, off[0] as usize, n_out * n_in)?;
            mv_compact_i16(&mut MatVec {
                w,
                x,
                acc: &mut acc[..n_out],
            });
            1
        }
        (PACKED, I8) if n_in * n_out <= SMALL_DENSE_MACS => {
            // Small layers: one fused pass (dot products, lane split, requantization, clamp)
            // without the two-pair/four-column setup or a separate requantization call.
            let pairs = n_out.div_ceil(2);
            let w = arr::<i64, TR>(model, off[0] as usize, pairs * n_in)?;
            let bias = arr::<i32, TR>(model, off[1] as usize, n_out)?;
            let mult = arr::<u32, TR>(model, off[2] as usize, n_out)?;
            // SAFETY: w holds pairs * n_in words, bias/mult n_out entries (checked above), x
            // n_in words and acc n_out + 1 >= n_out words.
            unsafe {
                packed_i8_small(&SmallDense {
                    w: w.as_ptr(),
                    x: x.as_ptr(),
                    x_end: x.as_ptr().add(n_in),
                    y: acc.as_mut_ptr(),
                    y_end: acc.as_mut_ptr().add(n_out),
                    bias: bias.as_ptr(),
                    mult: mult.as_ptr(),
                    s1: (shift - 1) as u64,
                    zp: op.zp as i64,
                    lo: op.lo as i64,
                    hi: op.hi as i64,
                });
            }
            return Ok(());
        }
        (PACKED, I8) => {
            let pairs = n_out.div_ceil(2);
            let w = arr::<i64, TR>(model, off[0] as usize, pairs * n_in)?;
            mv_packed_i8(&mut MatVec {
                w,
                x,
                acc: &mut acc[..2 * pairs],
            });
            1
        }
        (PACKED3, I8) => {
            let span = op.p1 as usize;
            if !TR && span == 0 {
                return Err(ExecError::Model(Why::Packed3Span));
            }
            let groups = n_out.div_ceil(P3_ROWS);
            let w = arr::<i64, TR>(model, off[0] as usize, groups * n_in * P3_WORDS)?;
            let y = &mut acc[..n_out];
            // SAFETY: w holds groups * n_in * 4 words (checked above), x n_in >= 1 words (the
            // width chain starts at n_features >= 1), y n_out words, and span >= 1 (checked
            // above, or by finalize's dry run for TR).
            unsafe {
                packed3_i8(&Packed3 {
                    w: w.as_ptr(),
                    x: x.as_ptr(),
                    n_in,
                    span,
                    y: y.as_mut_ptr(),
                    n_out,
                })
            };
            1
        }
        (SPARSE, I8) => {
            let nnz = op.p0 as usize;
            let rows = SparseRows {
                row_ptr: arr::<u32, TR>(model, off[0] as usize, n_out + 1)?,
                idx: arr::<u16, TR>(model, off[1] as usize, nnz)?,
                val: arr::<i8, TR>(model, off[2] as usize, nnz)?,
            };
            sparse(&rows, x, &mut acc[..n_out])?;
            3
        }
        (SPARSE, I16) => {
            let nnz = op.p0 as usize;
            let rows = SparseRows {
                row_ptr: arr::<u32, TR>(model, off[0] as usize, n_out + 1)?,
                idx: arr::<u16, TR>(model, off[1] as usize, nnz)?,
                val: arr::<i16, TR>(model, off[2] as usize, nnz)?,
            };
            sparse(&rows, x, &mut acc[..n_out])?;
            3
        }
        _ => return Err(ExecError::Model(Why::DenseLayout)),
    };
    let r = Requant {
        bias: arr::<i32, TR>(model, off[tail] as usize, n_out)?,
        mult: arr::<u32, TR>(model, off[tail + 1] as usize, n_out)?,
        shift,
        zp: op.zp as i64,
        lo: op.lo as i64,
        hi: op.hi as i64,
    };
    requantize(&mut acc[..n_out], &r);
    Ok(())
}

/// LUT: the input must lie in the table's dtype range, which keeps indices inside the table.
fn lut<const TR: bool>(s: &mut Step, range: &(i64, i64)) -> Result<(), ExecError> {
    let (model, op, x) = (s.model, s.op, &*s.x);
    let (qmin, qmax) = dtype_range(op.dtype)?;
    if !TR && (op.n_out as usize != x.len() || range.0 < qmin || range.1 > qmax) {
        return Err(ExecError::Model(Why::LutInput));
    }
    let y = &mut s.y[..x.len()];
    let off = op.off[0] as usize;
    if op.dtype == I8 {
        let t: &[i8; 256] = arr::<i8, TR>(model, off, 256)?
            .try_into()
            .map_err(|_| ExecError::Model(Why::LutTable))?;
        lut_i8(t, x, y);
    } else {
        let t: &[i16; 513] = arr::<i16, TR>(model, off, 513)?
            .try_into()
            .map_err(|_| ExecError::Model(Why::LutTable))?;
        lut_i16(t, x, y);
    }
    Ok(())
}

/// SOFTMAX (mode 1: binary, the logits are `[0, z]`); returns the first index of the largest
/// probability.
fn softmax_op<const TR: bool>(s: &mut Step) -> Result<usize, ExecError> {
    let (op, x) = (s.op, &*s.x);
    let y = &mut s.y[..op.n_out as usize];
    if TR {
        // The checked pass at finalize accepted the mode, K, shift and widths.
        if op.mode == 1 {
            y[0] = 0;
            y[1] = x[0];
        } else {
            for (o, v) in y.iter_mut().zip(x) {
                *o = *v;
            }
        }
        return Ok(softmax(y, op.p0, op.shift as u32));
    }
    let binary = match op.mode {
        0 => false,
        1 => true,
        _ => return Err(ExecError::Model(Why::SoftmaxParams)),
    };
    if op.p0 == 0 || op.shift > 63 {
        return Err(ExecError::Model(Why::SoftmaxParams));
    }
    if binary {
        if x.len() != 1 || y.len() != 2 {
            return Err(ExecError::Model(Why::SoftmaxWidth));
        }
        y[0] = 0;
        y[1] = x[0];
    } else {
        if y.len() != x.len() {
            return Err(ExecError::Model(Why::SoftmaxWidth));
        }
        // An element loop: copy_from_slice becomes a ~40-CU memcpy call for a few words.
        for (o, v) in y.iter_mut().zip(x) {
            *o = *v;
        }
    }
    Ok(softmax(y, op.p0, op.shift as u32))
}

/// An ARGMAX record's confidence mode; also checks that it writes `[class, confidence]`.
#[inline(always)]
fn conf_mode<const TR: bool>(op: &OpRecord) -> Result<ConfMode, ExecError> {
    if TR {
        // The checked pass at finalize accepted the mode, divisor and width.
        return Ok(match op.mode {
            0 => ConfMode::None,
            1 => ConfMode::Prob,
            _ => ConfMode::Div(op.p0),
        });
    }
    let mode = match (op.mode, op.p0) {
        (0, _) => ConfMode::None,
        (1, _) => ConfMode::Prob,
        (2, d) if d >= 1 => ConfMode::Div(d),
        _ => return Err(ExecError::Model(Why::ArgmaxParams)),
    };
    if op.n_out != 2 {
        return Err(ExecError::Model(Why::ArgmaxParams));
    }
    Ok(mode)
}

/// ARGMAX: writes `[class, confidence]`.
#[inline(never)]
pub(super) fn argmax_op<const TR: bool>(s: &mut Step) -> Result<(), ExecError> {
    let (op, x) = (s.op, &*s.x);
    let mode = conf_mode::<TR>(op)?;
    if x.is_empty() {
        return Err(ExecError::Model(Why::ArgmaxParams));
    }
    let class = argmax(x);
    s.y[0] = class as i64;
    s.y[1] = confidence(x[class], mode);
    Ok(())
}

fn trees<const TR: bool>(s: &mut Step) -> Result<(), ExecError> {
    let (model, op) = (s.model, s.op);
    // The format allows TREES only as op 0, whose input (raw Q16.16 features, or a quantized
    // input) fits in i32: shifting it into the high half for the walk is exact, and nothing
    // reads the input after this op.
    if !TR && s.index != 0 {
        return Err(ExecError::Model(Why::TreesParams));
    }
    if !s.shifted {
        for v in s.x.iter_mut() {
            *v = ((*v as u32 as u64) << 32) as i64;
        }
    }
    let x = &*s.x;
    let n_out = op.n_out as usize;
    let y = &mut s.y[..n_out];
    let t = trees_view::<TR>(model, op)?;
    run_trees(&t, x, y).map_err(|_| diagnose(&t, x, n_out))
}

/// A TREES record's arrays: checked, or (`TR`) viewed without the checks.
#[inline(always)]
pub(super) fn trees_view<'a, const TR: bool>(
    model: &ModelView<'a>,
    op: &OpRecord,
) -> Result<Trees<'a>, ExecError> {
    let n_out = op.n_out as usize;
    let (n_trees, n_nodes, n_leaves) = (op.p0 as usize, op.p1 as usize, op.p2 as usize);
    let off = &op.off;
    let (mode, leaves, base) = match op.mode {
        1 => (
            TreeMode::Proba,
            arr::<u32, TR>(model, off[2] as usize, n_leaves * n_out)?,
            &[][..],
        ),
        2 => (
            TreeMode::Value,
            arr::<u32, TR>(model, off[2] as usize, n_leaves)?,
            arr::<i32, TR>(model, off[3] as usize, n_out)?,
        ),
        _ => return Err(ExecError::Model(Why::TreesParams)),
    };
    Ok(Trees {
        mode,
        max_depth: op.p3 as u32,
        roots: arr::<u32, TR>(model, off[0] as usize, n_trees)?,
        nodes: arr::<Node, TR>(model, off[1] as usize, n_nodes)?,
        leaves,
        base,
    })
}
