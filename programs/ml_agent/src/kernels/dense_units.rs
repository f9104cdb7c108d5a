//! DENSE as a resumable op (the resumable op contract, `job.rs`): a unit is a block of output
//! rows the layout computes together, so any split into consecutive unit ranges writes exactly
//! the words the single-pass `exec::dense` writes.
//!
//! | layout | unit | why |
//! |---|---|---|
//! | COMPACT INT8 / INT16 | one row | rows are independent byte/i16 rows |
//! | PACKED INT8 | a row pair | two rows share each weight word |
//! | PACKED3 INT8 | a group of 12 rows | four words of three lanes per column |
//! | SPARSE | the whole layer | row offsets are absolute into the value array |
//!
//! Each row's sum is exact integer arithmetic (the same kernels as `exec::dense`, called on a
//! slice of the weight rows) and requantization is per row, so the outputs are bit-identical
//! to the single pass whatever the split (host tests below and in `job`).

use super::cost;
use super::dense::{packed3_i8, packed_i8, Packed3, P3_ROWS, P3_WORDS};
use super::exec::{mv_compact_i16, mv_compact_i8, MatVec, OpBufs};
use super::fixed::{requantize, Requant};
use super::model::{ModelView, OpRecord, COMPACT, I16, I8, PACKED, PACKED3, SPARSE};
use super::sparse::{sparse, SparseRows};
use super::{ExecError, Why};

/// Output rows one unit of `op` covers.
#[inline(always)]
fn rows_per_unit(op: &OpRecord) -> usize {
    match op.layout {
        PACKED => 2,
        PACKED3 => P3_ROWS,
        SPARSE => (op.n_out as usize).max(1),
        _ => 1,
    }
}

/// Number of units: `ceil(n_out / rows_per_unit)`, at least 1.
pub fn units(op: &OpRecord) -> usize {
    (op.n_out as usize).div_ceil(rows_per_unit(op)).max(1)
}

/// DENSE carries nothing between units: every unit writes its own rows.
pub fn state_words(_op: &OpRecord) -> usize {
    0
}

/// Upper bound on the CU of one unit: its MACs (padding rows included) at the layout's bound
/// from `cost`, plus one output's overhead per row and a call's setup.
pub fn unit_cost(op: &OpRecord) -> u64 {
    let n_in = op.n_in as u64;
    let rows = rows_per_unit(op) as u64;
    let per_mac = match op.layout {
        PACKED => cost::PACKED_MAC,
        PACKED3 => cost::PACKED3_MAC,
        SPARSE => {
            // The whole layer: its non-zeros.
            return mul(op.p0 as u64, cost::NNZ)
                .saturating_add(mul(rows + 1, cost::DENSE_OUT))
                .saturating_add(UNIT_SETUP);
        }
        _ => cost::COMPACT_MAC,
    };
    mul(mul(n_in, rows), per_mac)
        .saturating_add(mul(rows, cost::DENSE_OUT))
        .saturating_add(UNIT_SETUP)
}

/// `a * b`, saturated (`saturating_mul` on u64 lowers to a u128 multiply upstream BPF cannot
/// link: docs/toolchain.md).
#[inline(always)]
fn mul(a: u64, b: u64) -> u64 {
    crate::math::mul_u64(a, b).unwrap_or(u64::MAX)
}

/// A `run_units` call's fixed cost: record checks, array views, the kernel and requantization
/// calls (an upper bound; charged once per unit so the budget stays safe for one-unit calls).
const UNIT_SETUP: u64 = 400;

/// Rows `from * rows_per_unit .. min(to * rows_per_unit, n_out)` of the layer into
/// `bufs.output`, requantized. `from == 0` needs no initialisation (no state).
pub fn run_units(
    model: &ModelView,
    op: &OpRecord,
    bufs: &mut OpBufs,
    from: usize,
    to: usize,
) -> Result<(), ExecError> {
    let x = bufs.input;
    let n_in = x.len();
    let n_out = op.n_out as usize;
    let shift = op.shift as u32;
    if shift.wrapping_sub(1) >= 62 || op.lo > op.hi {
        return Err(ExecError::Model(Why::DenseParams));
    }
    if n_in != op.n_in as usize || n_in == 0 || bufs.output.len() < n_out || from >= to {
        return Err(ExecError::Model(Why::WidthChain));
    }
    if to > units(op) {
        return Err(ExecError::Model(Why::WidthChain));
    }
    let rpu = rows_per_unit(op);
    let r0 = from * rpu;
    let r1 = (to * rpu).min(n_out);
    let acc = &mut bufs.output[r0..r1];
    let off = &op.off;
    // Slot of the bias array: after the weights (one slot) or row_ptr/indices/values (three).
    let tail = match (op.layout, op.dtype) {
        (COMPACT, I8) => {
            let w = model.array::<u8>(off[0] as usize, n_out * n_in)?;
            mv_compact_i8(&mut MatVec {
                w: &w[r0 * n_in..r1 * n_in],
                x,
                acc,
            });
            1
        }
        (COMPACT, I16) => {
            let w = model.array::<i16>(off[0] as usize, n_out * n_in)?;
            mv_compact_i16(&mut MatVec {
                w: &w[r0 * n_in..r1 * n_in],
                x,
                acc,
            });
            1
        }
        (PACKED, I8) => {
            let pairs = n_out.div_ceil(2);
            let w = model.array::<i64>(off[0] as usize, pairs * n_in)?;
            let w = &w[from * n_in..to * n_in];
            if r1 - r0 == 2 * (to - from) {
                packed_i8(w, x, acc);
            } else {
                // The layer's last pair with its padding row: the kernel writes both rows.
                let full = to - from - 1;
                packed_i8(&w[..full * n_in], x, &mut acc[..2 * full]);
                let mut last = [0i64; 2];
                packed_i8(&w[full * n_in..], x, &mut last);
                acc[2 * full] = last[0];
            }
            1
        }
        (PACKED3, I8) => {
            let span = op.p1 as usize;
            if span == 0 {
                return Err(ExecError::Model(Why::Packed3Span));
            }
            let groups = n_out.div_ceil(P3_ROWS);
            let gw = n_in * P3_WORDS;
            let w = model.array::<i64>(off[0] as usize, groups * gw)?;
            let w = &w[from * gw..to * gw];
            // SAFETY: w holds (to - from) groups of n_in * 4 words, x n_in >= 1 words, acc
            // r1 - r0 >= 1 words (a last partial group is computed on the kernel's stack), and
            // span >= 1 (checked above).
            unsafe {
                packed3_i8(&Packed3 {
                    w: w.as_ptr(),
                    x: x.as_ptr(),
                    n_in,
                    span,
                    y: acc.as_mut_ptr(),
                    n_out: r1 - r0,
                })
            };
            1
        }
        (SPARSE, I8) => {
            let nnz = op.p0 as usize;
            let rows = SparseRows {
                row_ptr: model.array::<u32>(off[0] as usize, n_out + 1)?,
                idx: model.array::<u16>(off[1] as usize, nnz)?,
                val: model.array::<i8>(off[2] as usize, nnz)?,
            };
            sparse(&rows, x, acc)?;
            3
        }
        (SPARSE, I16) => {
            let nnz = op.p0 as usize;
            let rows = SparseRows {
                row_ptr: model.array::<u32>(off[0] as usize, n_out + 1)?,
                idx: model.array::<u16>(off[1] as usize, nnz)?,
                val: model.array::<i16>(off[2] as usize, nnz)?,
            };
            sparse(&rows, x, acc)?;
            3
        }
        _ => return Err(ExecError::Model(Why::DenseLayout)),
    };
    let bias = model.array::<i32>(off[tail] as usize, n_out)?;
    let mult = model.array::<u32>(off[tail + 1] as usize, n_out)?;
    let r = Requant {
        bias: &bias[r0..r1],
        mult: &mult[r0..r1],
        shift,
        zp: op.zp as i64,
        lo: op.lo as i64,
        hi: op.hi as i64,
    };
    requantize(acc, &r);
    Ok(())
}
