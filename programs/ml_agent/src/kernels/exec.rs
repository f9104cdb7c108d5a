//! The forward pass: features in, outputs, class and confidence out, op by op as the model
//! file lists them. Every op record is checked just before it runs; a model the kernels cannot
//! execute fails with `ExecError::Model` before any of its arithmetic could misbehave.
//!
//! Activations are i64 words in three scratch buffers of the widest layer's size: the raw
//! features, and two that alternate as an op's input and output.

use super::dense::{compact_i16, compact_i8, packed_i8};
use super::fixed::{quantize_input, requantize, InputAffine, Requant};
use super::lut::{lut_i16, lut_i8};
use super::model::{
    dtype_range, ModelView, OpRecord, ARGMAX, COMPACT, DENSE, DTYPE_NONE, I16, I8, LUT, PACKED,
    SOFTMAX, SPARSE, TREES,
};
use super::scratch::Scratch;
use super::softmax::{argmax, confidence, softmax, ConfMode};
use super::sparse::{sparse, SparseRows};
use super::trees::{run_trees, Node, TreeMode, Trees};
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

pub struct NoObserver;
impl Observer for NoObserver {}

/// Result of one inference; `outputs` lives in the scratch arena.
pub struct Inference<'s> {
    pub class: u32,
    pub confidence: i64,
    /// The input of a final ARGMAX (probabilities, votes), else the last op's output.
    pub outputs: &'s [i64],
}

/// Copy the little-endian i32 features into `x`, rejecting any outside its declared range.
#[inline(always)]
fn load_features(src: &[u8], lo: &[i32], hi: &[i32], x: &mut [i64]) -> Result<(), ExecError> {
    let n = x.len();
    if src.len() != 4 * n || lo.len() != n || hi.len() != n {
        return Err(ExecError::FeatureCount);
    }
    if src.as_ptr() as usize & 3 == 0 {
        // The usual case: instruction data is 8-aligned and the features follow an 8-byte
        // discriminator and a 4-byte length, so whole-word loads are possible.
        // SAFETY: 4n bytes, 4-aligned, any bit pattern is a valid i32.
        let f = unsafe { core::slice::from_raw_parts(src.as_ptr() as *const i32, n) };
        for j in 0..n {
            let v = f[j];
            if v < lo[j] || v > hi[j] {
                return Err(ExecError::FeatureOutOfRange(j as u32));
            }
            x[j] = v as i64;
        }
    } else {
        for j in 0..n {
            let b = &src[4 * j..4 * j + 4];
            let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            if v < lo[j] || v > hi[j] {
                return Err(ExecError::FeatureOutOfRange(j as u32));
            }
            x[j] = v as i64;
        }
    }
    Ok(())
}

/// Run `model` on `features` (n_features little-endian i32 Q16.16 values).
///
/// Always inlined: it takes five arguments plus a hidden return pointer, one more than the BPF
/// backend can pass to an outlined call.
#[inline(always)]
pub fn run<'s, O: Observer>(
    model: &ModelView,
    features: &[u8],
    scratch: &mut Scratch<'s>,
    obs: &mut O,
) -> Result<Inference<'s>, ExecError> {
    let n = model.n_features;
    if features.len() != 4 * n {
        return Err(ExecError::FeatureCount);
    }
    // Widths chain op to op; the widest sizes the buffers.
    let mut width = n;
    let mut max_width = n;
    for i in 0..model.n_ops {
        let op = model.op(i);
        if op.n_in as usize != width {
            return Err(ExecError::Model(Why::WidthChain));
        }
        width = op.n_out as usize;
        if width == 0 {
            return Err(ExecError::Model(Why::EmptyOutput));
        }
        if width > max_width {
            max_width = width;
        }
    }
    // +1: a PACKED layer with an odd n_out writes its zero padding row too.
    let x = scratch.take(max_width + 1)?;
    let a = scratch.take(max_width + 1)?;
    let b = scratch.take(max_width + 1)?;

    let (lo, hi) = model.ranges();
    load_features(features, lo, hi, &mut x[..n])?;
    let dtype = model.header.input_dtype;
    // (cur, spare): this op's input and output buffers; `range` bounds the values in `cur`.
    let (mut cur, mut spare, mut range): (&'s mut [i64], &'s mut [i64], (i64, i64));
    // The raw features, kept aside when the ops start from the quantized input.
    let mut raw: &'s [i64] = &[];
    if dtype == DTYPE_NONE {
        obs.inputs(None);
        (cur, spare, range) = (x, a, (i32::MIN as i64, i32::MAX as i64));
    } else {
        let (qmin, qmax) = dtype_range(dtype)?;
        let (c, m, s) = model.affine_offsets();
        let affine = InputAffine {
            c: model.array::<i32>(c, n)?,
            m: model.array::<i32>(m, n)?,
            s: model.array::<u8>(s, n)?,
            zp: model.header.input_zp as i64,
            qmin,
            qmax,
        };
        quantize_input(&x[..n], &affine, &mut a[..n])?;
        obs.inputs(Some(&a[..n]));
        raw = x;
        (cur, spare, range) = (a, b, (qmin, qmax));
    }

    width = n;
    let last = model.n_ops - 1;
    for i in 0..model.n_ops {
        let op = model.op(i);
        let n_out = op.n_out as usize;
        let mut step = Step {
            model,
            op,
            x: &cur[..width],
            // +1: room for a PACKED layer's padding row (max_width + 1 words each).
            y: &mut spare[..n_out + 1],
        };
        match op.kind {
            DENSE => {
                dense(&mut step)?;
                range = (op.lo as i64, op.hi as i64);
            }
            LUT => lut(&mut step, &range)?,
            SOFTMAX => {
                softmax_op(&mut step)?;
                range = (0, 1 << 16);
            }
            TREES => {
                trees(&mut step)?;
                range = (i64::MIN, i64::MAX);
            }
            ARGMAX => {
                if i != last {
                    return Err(ExecError::Model(Why::ArgmaxNotLast));
                }
                argmax_op(&mut step)?;
                let (class, confidence) = (spare[0] as u32, spare[1]);
                obs.op(i, &spare[..2]);
                // Outputs are the vector the head ranked: the previous op's, or the raw features
                // of a model that is a lone ARGMAX (the reference's convention).
                let outputs: &'s [i64] = if i == 0 && dtype != DTYPE_NONE {
                    raw
                } else {
                    cur
                };
                return Ok(Inference {
                    class,
                    confidence,
                    outputs: &outputs[..width],
                });
            }
            _ => return Err(ExecError::Model(Why::OpKind)),
        }
        obs.op(i, &spare[..n_out]);
        core::mem::swap(&mut cur, &mut spare);
        width = n_out;
    }
    Ok(Inference {
        class: 0,
        confidence: 0,
        outputs: &cur[..width],
    })
}

/// One op's inputs, bundled so the op functions take a single argument: the BPF backend passes
/// at most five arguments in registers and slices count double.
struct Step<'m, 'b> {
    model: &'b ModelView<'m>,
    op: &'m OpRecord,
    x: &'b [i64],
    /// `n_out + 1` words.
    y: &'b mut [i64],
}

/// DENSE: matrix-vector product in the op's layout, then requantization.
fn dense(s: &mut Step) -> Result<(), ExecError> {
    let (model, op, x) = (s.model, s.op, s.x);
    let acc = &mut *s.y;
    let n_in = x.len();
    let n_out = op.n_out as usize;
    let shift = op.shift as u32;
    if shift.wrapping_sub(1) >= 62 || op.lo > op.hi {
        return Err(ExecError::Model(Why::DenseParams));
    }
    let off = &op.off;
    // Slot of the bias array: after the weights (one slot) or row_ptr/indices/values (three).
    let tail = match (op.layout, op.dtype) {
        (COMPACT, I8) => {
            compact_i8(
                model.array::<u8>(off[0] as usize, n_out * n_in)?,
                x,
                &mut acc[..n_out],
            );
            1
        }
        (COMPACT, I16) => {
            compact_i16(
                model.array::<i16>(off[0] as usize, n_out * n_in)?,
                x,
                &mut acc[..n_out],
            );
            1
        }
        (PACKED, I8) => {
            let pairs = n_out.div_ceil(2);
            let w = model.array::<i64>(off[0] as usize, pairs * n_in)?;
            packed_i8(w, x, &mut acc[..2 * pairs]);
            1
        }
        (SPARSE, I8) => {
            let nnz = op.p0 as usize;
            let rows = SparseRows {
                row_ptr: model.array::<u32>(off[0] as usize, n_out + 1)?,
                idx: model.array::<u16>(off[1] as usize, nnz)?,
                val: model.array::<i8>(off[2] as usize, nnz)?,
            };
            sparse(&rows, x, &mut acc[..n_out])?;
            3
        }
        (SPARSE, I16) => {
            let nnz = op.p0 as usize;
            let rows = SparseRows {
                row_ptr: model.array::<u32>(off[0] as usize, n_out + 1)?,
                idx: model.array::<u16>(off[1] as usize, nnz)?,
                val: model.array::<i16>(off[2] as usize, nnz)?,
            };
            sparse(&rows, x, &mut acc[..n_out])?;
            3
        }
        _ => return Err(ExecError::Model(Why::DenseLayout)),
    };
    let r = Requant {
        bias: model.array::<i32>(off[tail] as usize, n_out)?,
        mult: model.array::<u32>(off[tail + 1] as usize, n_out)?,
        shift,
        zp: op.zp as i64,
        lo: op.lo as i64,
        hi: op.hi as i64,
    };
    requantize(&mut acc[..n_out], &r);
    Ok(())
}

/// LUT: the input must lie in the table's dtype range, which keeps indices inside the table.
fn lut(s: &mut Step, range: &(i64, i64)) -> Result<(), ExecError> {
    let (model, op, x) = (s.model, s.op, s.x);
    let (qmin, qmax) = dtype_range(op.dtype)?;
    if op.n_out as usize != x.len() || range.0 < qmin || range.1 > qmax {
        return Err(ExecError::Model(Why::LutInput));
    }
    let y = &mut s.y[..x.len()];
    let off = op.off[0] as usize;
    if op.dtype == I8 {
        let t: &[i8; 256] = model
            .array::<i8>(off, 256)?
            .try_into()
            .map_err(|_| ExecError::Model(Why::LutTable))?;
        lut_i8(t, x, y);
    } else {
        let t: &[i16; 513] = model
            .array::<i16>(off, 513)?
            .try_into()
            .map_err(|_| ExecError::Model(Why::LutTable))?;
        lut_i16(t, x, y);
    }
    Ok(())
}

/// SOFTMAX (mode 1: binary, the logits are `[0, z]`).
fn softmax_op(s: &mut Step) -> Result<(), ExecError> {
    let (op, x) = (s.op, s.x);
    let y = &mut s.y[..op.n_out as usize];
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
        y.copy_from_slice(x);
    }
    softmax(y, op.p0, op.shift as u32);
    Ok(())
}

/// ARGMAX: writes `[class, confidence]`.
fn argmax_op(s: &mut Step) -> Result<(), ExecError> {
    let (op, x) = (s.op, s.x);
    let mode = match (op.mode, op.p0) {
        (0, _) => ConfMode::None,
        (1, _) => ConfMode::Prob,
        (2, d) if d >= 1 => ConfMode::Div(d),
        _ => return Err(ExecError::Model(Why::ArgmaxParams)),
    };
    if op.n_out != 2 || x.is_empty() {
        return Err(ExecError::Model(Why::ArgmaxParams));
    }
    let class = argmax(x);
    s.y[0] = class as i64;
    s.y[1] = confidence(x[class], mode);
    Ok(())
}

fn trees(s: &mut Step) -> Result<(), ExecError> {
    let (model, op, x) = (s.model, s.op, s.x);
    let n_out = op.n_out as usize;
    let y = &mut s.y[..n_out];
    let (n_trees, n_nodes, n_leaves) = (op.p0 as usize, op.p1 as usize, op.p2 as usize);
    let off = &op.off;
    let (mode, leaves, base) = match op.mode {
        1 => (
            TreeMode::Proba,
            model.array::<u32>(off[2] as usize, n_leaves * n_out)?,
            &[][..],
        ),
        2 => (
            TreeMode::Value,
            model.array::<u32>(off[2] as usize, n_leaves)?,
            model.array::<i32>(off[3] as usize, n_out)?,
        ),
        _ => return Err(ExecError::Model(Why::TreesParams)),
    };
    let t = Trees {
        mode,
        max_depth: op.p3 as u32,
        roots: model.array::<u32>(off[0] as usize, n_trees)?,
        nodes: model.array::<Node>(off[1] as usize, n_nodes)?,
        leaves,
        base,
    };
    run_trees(&t, x, y)
}
