//! The forward pass of a version `finalize_version` marked `OPS_CHECKED`.
//!
//! Finalize ran the checked executor (`exec::forward::<_, false>`) once on the sealed bytes and
//! it succeeded, so every check that depends only on the file holds for every input (see
//! `instructions::infer::ops_checkable`). What is left is the arithmetic, and this path is
//! shaped for the BPF VM, where glue costs as much as arithmetic (one CU per instruction, ten
//! registers, no sign-extending loads):
//!
//! * the hot ops take the op record itself (a pointer into the file) and read their parameters
//!   from it where they need them, instead of a parameter struct built on the stack per op;
//! * the three activation buffers are carved out of the arena once, as raw pointers;
//! * INT8 inputs clamp to immediates, and the input affine's shift check (done at finalize) is
//!   gone from the per-feature loop;
//! * a final ARGMAX is ranked where the op before it wrote its output, and a softmax reads its
//!   logits where they are instead of copying them first.
//!
//! Ops without a specialised form here (COMPACT, SPARSE and PACKED3 dense layers, LUTs, and
//! trees over a quantized input) run the checked executor's op functions in their `TR` form; trees over raw
//! features (every tree model the compiler emits) call the walk directly. A lone ARGMAX model takes
//! `exec::forward` (its outputs are the raw features, a case not worth a second copy here).
//!
//! Input-dependent checks are the same as the checked path's: feature count and ranges here,
//! tree walks and sparse columns inside their kernels.

use super::exec::{
    extra_words, first_out_of_range, run_op, trees_view, unshift, Observer, Request, Step,
};
use super::fixed::{clamp, requantize_raw, RequantOut};
use super::model::{a8, Header, OpRecord, ARGMAX, DENSE, DTYPE_NONE, I8, PACKED, SOFTMAX, TREES};
use super::softmax::{argmax, confidence, softmax_into, ConfMode};
use super::trees::{diagnose, run_trees};
use super::ExecError;

/// Run a marked version. The caller (`exec::run::<_, true>`) guarantees `OPS_CHECKED` and
/// `n_ops >= 2`.
#[inline(never)]
pub fn forward<'s, O: Observer>(req: &mut Request<'_, 's, O>) -> Result<(), ExecError> {
    let model = req.model;
    let n = model.n_features;
    if req.features.len() != 4 * n {
        return Err(ExecError::FeatureCount);
    }
    // The same three buffers as the checked pass (finalize checked every width against
    // `words`, computed the same way).
    let words = req.scratch.remaining() / 3;
    let arena: &'s mut [i64] = req.scratch.take(3 * words)?;
    let x = arena.as_mut_ptr();
    // SAFETY: the arena holds 3 * words words.
    let (a, b) = unsafe { (x.add(words), x.add(2 * words)) };

    let mut f = req.features.as_ptr() as *const u32;
    if f as usize & 3 != 0 {
        // Instruction data is 8-aligned in practice (the features follow an 8-byte
        // discriminator and a 4-byte length); otherwise copy them into `b`, free until the
        // first op writes it. SAFETY: b has words * 8 >= 4n bytes; no overlap.
        unsafe { core::ptr::copy_nonoverlapping(req.features.as_ptr(), b as *mut u8, 4 * n) };
        f = b as *const u32;
    }
    let base = model.bytes.as_ptr();
    let h = model.header;
    // (cur, spare): this op's input and output buffers.
    let (mut cur, mut spare);
    let mut shifted = false;
    if h.input_dtype == DTYPE_NONE {
        let (lo, hi) = model.ranges();
        // SAFETY: f holds n u32 (length checked), lo/hi n i32 (parse), x words >= n words.
        let bad = unsafe { first_out_of_range(f as *const i32, lo.as_ptr(), hi.as_ptr(), x, n) };
        if bad < n {
            return Err(ExecError::FeatureOutOfRange(bad as u32));
        }
        // SAFETY: x holds n initialized words (written above).
        let xs = unsafe { core::slice::from_raw_parts_mut(x, n) };
        if model.op(0).kind == TREES {
            // `x * 2^32` is what the tree walk compares.
            shifted = true;
        } else {
            unshift(xs);
        }
        req.obs.inputs(None);
        (cur, spare) = (x, a);
    } else {
        // SAFETY: `parse` checked the ranges and affine arrays (n elements each, in the file);
        // f holds n u32; a holds words >= n words.
        let bad = unsafe { quantize(base, f, a) };
        if bad < n {
            return Err(ExecError::FeatureOutOfRange(bad as u32));
        }
        // SAFETY: n words written above.
        req.obs
            .inputs(Some(unsafe { core::slice::from_raw_parts(a, n) }));
        (cur, spare) = (a, b);
    }

    let n_ops = model.n_ops;
    // SAFETY: parse() checked that n_ops records lie in the file, aligned.
    let ops = unsafe { base.add(h.ops_off as usize) as *const OpRecord };
    let mut width = n;
    let mut i = 0;
    loop {
        // SAFETY: i < n_ops.
        let op = unsafe { &*ops.add(i) };
        let n_out = op.n_out as usize;
        // The op after this one, if it is the final ARGMAX (finalize checked that an ARGMAX is
        // last, and its mode, divisor and width).
        let head = if i + 2 == n_ops {
            // SAFETY: i + 1 < n_ops.
            let next = unsafe { &*ops.add(i + 1) };
            if next.kind == ARGMAX {
                Some(next)
            } else {
                None
            }
        } else {
            None
        };
        if op.kind == SOFTMAX && head.is_some() {
            // SAFETY: cur holds the op's n_in (or 1, binary) logits, spare has room for n_out
            // (finalize checked the widths against the buffers).
            let class = unsafe { softmax_head(op, cur, spare) };
            // SAFETY: n_out probabilities written.
            let probs: &'s [i64] = unsafe { core::slice::from_raw_parts(spare, n_out) };
            req.obs.op(i, probs);
            let mode = head.map_or(ConfMode::Prob, conf_mode);
            return finish(req, i + 1, class, confidence(probs[class], mode), probs);
        }
        if op.kind == DENSE && op.layout == PACKED && op.dtype == I8 {
            // SAFETY: the weights, bias and multipliers lie in the file (finalize); cur holds
            // n_in words, spare has n_out + 1 (the padding row of an odd n_out).
            unsafe { dense_packed(base, op, cur, spare) };
        } else if op.kind == TREES && i == 0 && shifted {
            // Raw features already shifted for the walk (every tree model the compiler
            // emits). SAFETY: finalize checked the arrays against the file; cur holds the n
            // features, spare n_out + 1 words.
            let (xs, y) = unsafe {
                (
                    core::slice::from_raw_parts(cur, width),
                    core::slice::from_raw_parts_mut(spare, n_out),
                )
            };
            let t = trees_view::<true>(model, op)?;
            run_trees(&t, xs, y).map_err(|_| diagnose(&t, xs, n_out))?;
        } else {
            // SAFETY: cur holds `width` values, spare has n_out + 1 words (finalize checked
            // n_out < words); the two buffers are disjoint.
            // A recurrent op's state follows its output in the same buffer (finalize checked
            // that `n_out + 1 + extra_words` fits in it).
            let mut step = unsafe {
                Step {
                    model,
                    op,
                    index: i,
                    shifted: i == 0 && shifted,
                    x: core::slice::from_raw_parts_mut(cur, width),
                    y: core::slice::from_raw_parts_mut(spare, n_out + 1),
                    state: core::slice::from_raw_parts_mut(spare.add(n_out + 1), extra_words(op)),
                }
            };
            // The range tracker only feeds checks the marked path skips.
            let mut range = (0i64, 0i64);
            run_op::<true>(&mut step, &mut range)?;
        }
        // SAFETY: the op wrote n_out words.
        let out: &'s [i64] = unsafe { core::slice::from_raw_parts(spare, n_out) };
        req.obs.op(i, out);
        if let Some(head) = head {
            let class = argmax(out);
            return finish(
                req,
                i + 1,
                class,
                confidence(out[class], conf_mode(head)),
                out,
            );
        }
        i += 1;
        if i == n_ops {
            // A regressor: the last op's output, class 0, confidence 0.
            req.outputs = out;
            return Ok(());
        }
        core::mem::swap(&mut cur, &mut spare);
        width = n_out;
    }
}

/// Record a classifier's result (the final ARGMAX is op `last`).
#[inline(always)]
fn finish<'s, O: Observer>(
    req: &mut Request<'_, 's, O>,
    last: usize,
    class: usize,
    confidence: i64,
    outputs: &'s [i64],
) -> Result<(), ExecError> {
    req.obs.op(last, &[class as i64, confidence]);
    req.class = class as u32;
    req.confidence = confidence;
    req.outputs = outputs;
    Ok(())
}

/// The confidence mode of a checked ARGMAX record.
#[inline(always)]
fn conf_mode(op: &OpRecord) -> ConfMode {
    match op.mode {
        0 => ConfMode::None,
        1 => ConfMode::Prob,
        _ => ConfMode::Div(op.p0),
    }
}

/// Range check, then the input affine:
/// `q_j = clamp(zp + rshift_round((x_j - c_j) * m_j, s_j), qmin, qmax)`. Returns the index of
/// the first feature outside its declared range, or n.
///
/// Two passes: fused, the five per-feature arrays, the features and the output are seven
/// pointers, and LLVM rewrites them as one index plus an add before every load (measured ~57
/// instructions per feature); apart, each pass keeps its pointers in registers.
///
/// # Safety
/// `base` is a parsed model with a quantized input, `f` points to n_features u32, `q` to
/// n_features writable words.
#[inline(never)]
unsafe fn quantize(base: *const u8, f: *const u32, q: *mut i64) -> usize {
    let h = &*(base as *const Header);
    let n = h.n_features as usize;
    let lo_off = h.ranges_off as usize;
    let bad = first_out_of_range(
        f as *const i32,
        base.add(lo_off) as *const i32,
        base.add(a8(lo_off + 4 * n)) as *const i32,
        q,
        n,
    );
    if bad < n {
        return bad;
    }
    let c_off = h.affine_off as usize;
    let m_off = a8(c_off + 4 * n);
    let p = Affine {
        q,
        q_end: q.add(n),
        c: base.add(c_off) as *const i32,
        m: base.add(m_off) as *const i32,
        s: base.add(a8(m_off + 4 * n)),
        zp: h.input_zp as i64,
    };
    // Two copies of the loop so an INT8 input clamps to immediates.
    if h.input_dtype == I8 {
        affine_loop::<-128, 127>(&p);
    } else {
        affine_loop::<-32768, 32767>(&p);
    }
    n
}

struct Affine {
    /// In: the features as `x * 2^32`; out: the quantized input.
    q: *mut i64,
    q_end: *mut i64,
    c: *const i32,
    m: *const i32,
    s: *const u8,
    zp: i64,
}

/// # Safety
/// As `quantize`; every shift `s_j` is in 1..=62 (the checked pass at finalize verified them).
#[inline(always)]
unsafe fn affine_loop<const QMIN: i64, const QMAX: i64>(p: &Affine) {
    let (mut q, mut c, mut m, mut s) = (p.q, p.c, p.m, p.s);
    let (end, zp) = (p.q_end, p.zp);
    while q < end {
        let prod = (*q >> 32).wrapping_sub(*c as i64).wrapping_mul(*m as i64);
        // rshift_round(v, s) = ((v >> (s - 1)) + 1) >> 1.
        // SAFETY: s - 1 in 0..=61 (finalize checked every shift); a u8 subtraction costs
        // one mask where a u32 one costs two shifts.
        let r = prod
            .unchecked_shr((*s).wrapping_sub(1) as u32)
            .wrapping_add(1)
            >> 1;
        *q = clamp(zp.wrapping_add(r), QMIN, QMAX);
        q = q.add(1);
        c = c.add(1);
        m = m.add(1);
        s = s.add(1);
    }
}

/// DENSE, PACKED INT8: the row-pair sums, then requantization, with the op's parameters read
/// from its record. Marked versions are small files, so their layers are small: one row pair
/// at a time, two columns per iteration, keeps every loop variable in a register (the two-pair,
/// four-column `packed_i8` spills for these sizes).
///
/// # Safety
/// `op` is a checked PACKED INT8 record of the model at `base`; `x` holds n_in words and `y`
/// has room for `2 * ceil(n_out / 2)` words.
#[inline(never)]
unsafe fn dense_packed(base: *const u8, op: &OpRecord, x: *const i64, y: *mut i64) {
    let n_in = op.n_in as usize;
    let mut w = base.add(op.off[0] as usize) as *const i64;
    let x_end = x.add(n_in);
    let end = y.add(op.n_out as usize);
    let mut yp = y;
    loop {
        let mut xp = x;
        let mut s = 0i64;
        if n_in & 1 != 0 {
            s = (*w).wrapping_mul(*xp);
            w = w.add(1);
            xp = xp.add(1);
        }
        while xp < x_end {
            let p0 = (*w).wrapping_mul(*xp);
            let p1 = (*w.add(1)).wrapping_mul(*xp.add(1));
            s = s.wrapping_add(p0.wrapping_add(p1));
            w = w.add(2);
            xp = xp.add(2);
        }
        // Lanes: `lo + hi * 2^32`, each |lane| < 2^31 (the compiler's PACKED proof).
        let lo = (s << 32) >> 32;
        *yp = lo;
        *yp.add(1) = s.wrapping_sub(lo) >> 32;
        yp = yp.add(2);
        if yp >= end {
            break;
        }
    }
    // SAFETY: n_out words written above, n_out bias and multipliers in the file (finalize),
    // shift in 1..=62 (finalize).
    requantize_raw(
        y,
        end,
        base.add(op.off[1] as usize) as *const i32,
        base.add(op.off[2] as usize) as *const u32,
        &RequantOut {
            s1: op.shift as u32 - 1,
            zp: op.zp as i64,
            lo: op.lo as i64,
            hi: op.hi as i64,
        },
    );
}

/// SOFTMAX straight from the logits in `x` into `y` (mode 1, binary: the logits are `[0, x0]`)
/// with `softmax::softmax_into`; returns the first index of the largest probability.
///
/// # Safety
/// `op` is a checked SOFTMAX record; `x` holds its n_in logits, `y` has room for n_out words
/// and does not overlap `x`.
#[inline(never)]
unsafe fn softmax_head(op: &OpRecord, mut x: *const i64, y: *mut i64) -> usize {
    if op.mode == 1 {
        *y = 0;
        *y.add(1) = *x;
        x = y;
    }
    // finalize checked K, k_shift <= 63 and the widths.
    softmax_into(x, y, op.n_out as usize, op.p0, op.shift as u32)
}
