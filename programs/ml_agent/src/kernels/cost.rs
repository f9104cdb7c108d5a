//! An upper bound of what running a model costs in compute units, from its file alone.
//!
//! `agent_step` compares it with the compute the transaction has left before it runs a model,
//! so a model that can never fit turns into a HOLD instead of aborting every step (a
//! transaction that runs out of compute cannot be caught on chain). `finalize_version` computes
//! it once and stores it on the version (`state::model::stored_cost_bound`).
//!
//! One BPF instruction costs one CU, so each term is an instruction count per unit of work. The
//! constants are about twice the slopes fitted to the per-op CU the `infer` LOG_CU markers
//! report (least squares over the three layers of a 12-48-31-3 model per layout; the op term
//! includes the markers' own ~100 CU), and at least the instruction count of the inner loop
//! read off the kernel source. Every term covers the checked path (`exec::forward`), which is
//! never cheaper than the marked one, including a failure part-way (a failing op stops the
//! pass; TREES then walks the forest a second time in `diagnose`).
//! `tests/agent/test_model_cost.py` checks the stored bound against the measured worst case of
//! every bench model and of every layout, dtype and activation.
//!
//! | work | fitted / measured | bound |
//! |---|---|---|
//! | a slot: accounts, marks, parse, clamp, scratch, driver, vote | ~1,000 | `SLOT` 2,500 |
//! | a feature: range check, affine, clamp | 41 | `FEATURE` 100 |
//! | an op record: dispatch, width checks, array views, `Step` | 280-480 | `OP` 1,000 |
//! | PACKED INT8 MAC (incl. the padding row) | 2.51 | 5 |
//! | fused small PACKED layer (<= 64 MACs) MAC | ~7 | 12 |
//! | PACKED3 INT8 MAC, over rows padded to groups of 12 (128x128: 1.41 incl. requantization) | 1.26 | 3 |
//! | COMPACT MAC: INT8 / INT16 | 4.27 / 6.14 | 12 |
//! | SPARSE non-zero (index load and check, two loads, sign extension, multiply, add) | 16.06 | 32 |
//! | a dense output: row setup, requantization, clamp, store | 36-57 | 120 |
//! | LUT element (INT16 interpolation) | 28 | 60 |
//! | SOFTMAX element (max, exp2 table, division, ranking) | ~40-60 (source) | 100 |
//! | ARGMAX element | ~5 (source) | 20 |
//! | tree step (one node) | ~19 | 2 x 40 (walk and `diagnose`) |
//! | tree leaf row, per output | ~6 (source) | 20 |
//! | GRU/LSTM timestep (`recurrent::unit_cost`): paired INT8 word / INT16 MAC, gate row, hidden unit, step | see `bench rnn` | 6 / 9, 60, 160, 300 |
//! | CONV1D: MAC / output word / position / padded-or-dilated tap per channel | see `conv` | `conv::CONV_*` |
//! | POOL: input word / output word | see `conv` | `conv::POOL_*` |

use super::conv;
use super::model::{
    ModelView, ARGMAX, COMPACT, CONV1D, DENSE, GRU, LSTM, LUT, PACKED, PACKED3, POOL, SOFTMAX,
    SPARSE, TREES,
};
use super::recurrent;

/// Per model slot, whatever its size.
pub const SLOT: u64 = 2_500;
/// Per feature.
pub const FEATURE: u64 = 100;
/// Per op record, before its own work; also covers `cost_bound`'s walk over it (~40).
pub const OP: u64 = 1_000;
/// Per MAC of a PACKED INT8 layer above `SMALL_MACS`.
pub const PACKED_MAC: u64 = 5;
/// Per MAC of a PACKED INT8 layer of at most `SMALL_MACS` (the fused kernel).
pub const SMALL_MAC: u64 = 12;
/// Per MAC of a PACKED3 INT8 layer, its rows padded up to a whole group of 12.
pub const PACKED3_MAC: u64 = 3;
/// Rows per PACKED3 group (three 21-bit lanes in each of four words).
const PACKED3_GROUP: u64 = 12;
/// `exec::SMALL_DENSE_MACS`.
pub const SMALL_MACS: u64 = 64;
/// Per MAC of a COMPACT layer (INT8 or INT16), and of any layout the kernels refuse.
pub const COMPACT_MAC: u64 = 12;
/// Per non-zero weight of a SPARSE layer.
pub const NNZ: u64 = 32;
/// Per output of a dense layer (any layout).
pub const DENSE_OUT: u64 = 120;
/// Per LUT element.
pub const LUT_ELEM: u64 = 60;
/// Per SOFTMAX element.
pub const SOFTMAX_ELEM: u64 = 100;
/// Per ARGMAX input.
pub const ARGMAX_ELEM: u64 = 20;
/// Per tree node visited, counted twice (the walk, and `diagnose` when a walk fails).
pub const TREE_STEP: u64 = 2 * 40;
/// Per tree and output (PROBA leaf rows; VALUE adds one output per tree).
pub const TREE_OUT: u64 = 20;

/// The part of the bound that needs no pass over the op table; `cost_bound >= floor`. A
/// caller that cannot afford `floor` need not walk the table at all.
#[inline(always)]
pub fn floor(n_features: usize, n_ops: usize) -> u64 {
    // Both counts are u16 in the file: no overflow.
    SLOT + FEATURE * n_features as u64 + OP * n_ops as u64
}

/// Upper bound, in CU, of one slot running `m` in `agent_step` (or one forward pass in `infer`):
/// the slot's accounts and checks, the input pass and every op as its record declares it.
/// Saturates at `u64::MAX`. The walk costs ~40 CU per op, inside `OP`.
#[inline(never)]
pub fn cost_bound(m: &ModelView) -> u64 {
    let mut total = floor(m.n_features, m.n_ops);
    for i in 0..m.n_ops {
        total = total.saturating_add(op_cost(m, i));
    }
    total
}

/// `a * b`, saturated. (`saturating_mul` becomes a u128 multiply the BPF backend cannot call;
/// an unsigned division it can.)
#[inline(always)]
fn mul(a: u64, b: u64) -> u64 {
    // Not `saturating_mul` nor the `b > MAX / a` idiom: LLVM turns both into a u128 multiply
    // (`__multi3`), which upstream BPF cannot link (docs/toolchain.md).
    crate::math::mul_u64(a, b).unwrap_or(u64::MAX)
}

/// The work of op `i` beyond `OP`.
pub(crate) fn op_cost(m: &ModelView, i: usize) -> u64 {
    let op = m.op(i);
    let (n_in, n_out) = (op.n_in as u64, op.n_out as u64);
    match op.kind {
        DENSE => {
            let macs = mul(n_in, n_out);
            let work = match op.layout {
                PACKED if macs <= SMALL_MACS => mul(macs, SMALL_MAC),
                // A PACKED layer computes the padding row of an odd n_out too.
                PACKED => mul(mul(n_in, n_out + 1), PACKED_MAC),
                PACKED3 => mul(
                    mul(n_in, n_out.div_ceil(PACKED3_GROUP) * PACKED3_GROUP),
                    PACKED3_MAC,
                ),
                // p0 is the non-zero count; the row loop adds one output's overhead per row.
                SPARSE => mul(op.p0 as u64, NNZ),
                COMPACT => mul(macs, COMPACT_MAC),
                _ => mul(macs, COMPACT_MAC),
            };
            work.saturating_add(mul(n_out + 1, DENSE_OUT))
        }
        LUT => mul(n_out.max(n_in), LUT_ELEM),
        SOFTMAX => mul(n_out.max(n_in), SOFTMAX_ELEM),
        ARGMAX => mul(n_in.max(n_out), ARGMAX_ELEM),
        TREES => {
            let (n_trees, depth) = (op.p0 as u64, op.p3 as u64);
            let walk = mul(mul(n_trees, depth + 1), TREE_STEP);
            walk.saturating_add(mul(mul(n_trees, n_out + 1), TREE_OUT))
        }
        // Every timestep as `recurrent::unit_cost` bounds it, plus zeroing the state.
        GRU | LSTM => mul(recurrent::units(op) as u64, recurrent::unit_cost(op))
            .saturating_add(recurrent::state_words(op) as u64 * 4),
        CONV1D => {
            // Every position at the contiguous-window rate, plus gathering (or the per-tap
            // setup of) the windows that are not consecutive words (padded edges, dilation).
            let g = conv::geom(op);
            let (k, c_in, c_out) = (g.k as u64, g.c_in as u64, g.c_out as u64);
            let per_pos = mul(mul(mul(k, c_in), c_out), conv::CONV_MAC)
                .saturating_add(mul(c_out, conv::CONV_OUT))
                .saturating_add(conv::CONV_POS);
            mul(g.t_out as u64, per_pos)
                .saturating_add(mul(g.segment_positions() as u64, g.off_window_cost()))
        }
        POOL => conv::unit_cost(op),
        // The kernels refuse any other kind at its record, before any work.
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::model::{Header, OpRecord, HEADER_SIZE, MAGIC, OP_SIZE, VERSION};

    /// A file with `n_features` inputs and the given op records (arrays not laid out: the
    /// bound reads only the records).
    fn file(n_features: u16, ops: &[OpRecord]) -> std::vec::Vec<u64> {
        let ops_off = HEADER_SIZE + 16 * n_features as usize;
        let len = ops_off + OP_SIZE * ops.len();
        let mut words = std::vec![0u64; len.div_ceil(8)];
        let bytes =
            // SAFETY: the vector's own bytes, u8 has no alignment needs.
            unsafe { core::slice::from_raw_parts_mut(words.as_mut_ptr() as *mut u8, len) };
        // SAFETY: plain integers; zero is valid.
        let mut h: Header = unsafe { core::mem::zeroed() };
        h.magic = MAGIC;
        h.version = VERSION;
        h.header_size = HEADER_SIZE as u16;
        h.file_len = len as u32;
        h.n_features = n_features;
        h.n_ops = ops.len() as u16;
        h.ranges_off = HEADER_SIZE as u32;
        h.ops_off = ops_off as u32;
        // SAFETY: both are plain repr(C) integers, copied into a buffer large enough.
        unsafe {
            core::ptr::copy_nonoverlapping(
                &h as *const Header as *const u8,
                bytes.as_mut_ptr(),
                HEADER_SIZE,
            );
            for (i, op) in ops.iter().enumerate() {
                core::ptr::copy_nonoverlapping(
                    op as *const OpRecord as *const u8,
                    bytes.as_mut_ptr().add(ops_off + i * OP_SIZE),
                    OP_SIZE,
                );
            }
        }
        words
    }

    fn op(kind: u8, layout: u8, n_in: u32, n_out: u32) -> OpRecord {
        // SAFETY: plain integers; zero is valid.
        let mut o: OpRecord = unsafe { core::mem::zeroed() };
        o.kind = kind;
        o.layout = layout;
        o.n_in = n_in;
        o.n_out = n_out;
        o
    }

    fn bound(n_features: u16, ops: &[OpRecord]) -> u64 {
        let words = file(n_features, ops);
        let len = HEADER_SIZE + 16 * n_features as usize + OP_SIZE * ops.len();
        // SAFETY: the vector's own bytes.
        let bytes = unsafe { core::slice::from_raw_parts(words.as_ptr() as *const u8, len) };
        cost_bound(&ModelView::parse(bytes).unwrap())
    }

    #[test]
    fn each_term_counts_what_its_record_declares() {
        let head = op(ARGMAX, 0, 3, 2);
        let base = floor(4, 1) + 3 * ARGMAX_ELEM;
        assert_eq!(bound(4, &[head]), base);
        // Small packed layer: 4x8 = 32 MACs on the fused kernel.
        let small = op(DENSE, PACKED, 4, 8);
        assert_eq!(
            bound(4, &[small, head]),
            base + OP + 32 * SMALL_MAC + 9 * DENSE_OUT
        );
        // 128x128 packed: counted as n_out + 1 rows (an odd n_out computes a padding row).
        let big = op(DENSE, PACKED, 128, 128);
        assert_eq!(
            bound(4, &[big, head]),
            base + OP + 128 * 129 * PACKED_MAC + 129 * DENSE_OUT
        );
        let mut sparse = op(DENSE, SPARSE, 128, 64);
        sparse.p0 = 1000;
        assert_eq!(
            bound(4, &[sparse, head]),
            base + OP + 1000 * NNZ + 65 * DENSE_OUT
        );
        let mut trees = op(TREES, 0, 4, 3);
        trees.p0 = 100;
        trees.p3 = 6;
        assert_eq!(
            bound(4, &[trees, head]),
            base + OP + 100 * 7 * TREE_STEP + 100 * 4 * TREE_OUT
        );
        assert_eq!(
            bound(4, &[op(SOFTMAX, 0, 3, 3), head]),
            base + OP + 3 * SOFTMAX_ELEM
        );
        assert_eq!(
            bound(4, &[op(LUT, 0, 3, 3), head]),
            base + OP + 3 * LUT_ELEM
        );
        // A kind the kernels refuse costs only its record.
        assert_eq!(bound(4, &[op(99, 0, 3, 3), head]), base + OP);
    }

    #[test]
    fn recurrent_ops_cost_every_step_above_what_was_measured() {
        use crate::kernels::model::{I16, I8};
        use crate::kernels::recurrent::{state_words, unit_cost};
        let head = op(ARGMAX, 0, 32, 2);
        // GRU-32 over 120 x 5, INT8: 96 rows in 12 groups of 8.
        let mut gru = op(GRU, PACKED, 600, 32);
        (gru.dtype, gru.p0, gru.p1, gru.p2) = (I8, 120, 5, 32);
        let step = unit_cost(&gru);
        assert_eq!(
            bound(600, &[gru, head]) - floor(600, 2) - 32 * ARGMAX_ELEM,
            120 * step + 4 * state_words(&gru) as u64
        );
        // Per-step op CU measured on LiteSVM (`python -m client bench --rnn`): GRU-32 INT8
        // 13,518 and INT16 35,208; LSTM-64 INT8 55,401 and INT16 160,846.
        assert!(step >= 13_518);
        // Speed mode (PACKED3 h part): 11,295 and 41,072 measured.
        let mut fast = gru;
        fast.layout = crate::kernels::model::PACKED3;
        assert!(unit_cost(&fast) >= 11_295);
        let mut gru16 = gru;
        (gru16.dtype, gru16.layout) = (I16, COMPACT);
        assert!(unit_cost(&gru16) >= 35_208);
        let mut lstm = op(LSTM, PACKED, 40, 64);
        (lstm.dtype, lstm.p0, lstm.p1, lstm.p2) = (I8, 8, 5, 64);
        assert!(unit_cost(&lstm) >= 55_401);
        let mut lstm_fast = lstm;
        lstm_fast.layout = crate::kernels::model::PACKED3;
        assert!(unit_cost(&lstm_fast) >= 41_072);
        let mut lstm16 = lstm;
        (lstm16.dtype, lstm16.layout) = (I16, COMPACT);
        assert!(unit_cost(&lstm16) >= 160_846);
        // A hostile record saturates instead of wrapping.
        let mut huge = lstm16;
        (huge.p0, huge.p1, huge.p2) = (u32::MAX, u32::MAX, u32::MAX);
        assert_eq!(bound(4, &[huge, head]), u64::MAX);
    }

    #[test]
    fn conv_and_pool_terms() {
        use crate::kernels::conv::{
            CONV_GATHER, CONV_MAC, CONV_OUT, CONV_POS, CONV_SEG, POOL_IN, POOL_OUT,
        };
        let head = op(ARGMAX, 0, 3, 2);
        let base = floor(4, 1) + 3 * ARGMAX_ELEM;
        // 20 steps x 4 channels -> 6 channels, K=3, padding 1/1: T_out 20, two padded edges,
        // 12-word windows gathered.
        let mut c = op(CONV1D, COMPACT, 80, 120);
        c.p0 = 4 | 6 << 16;
        c.p2 = 3 | 1 << 8 | 1 << 16 | 1 << 24;
        c.p3 = 1;
        let per_pos = 3 * 4 * 6 * CONV_MAC + 6 * CONV_OUT + CONV_POS;
        assert_eq!(
            bound(4, &[c, head]),
            base + OP + 20 * per_pos + 2 * 12 * CONV_GATHER
        );
        // A 300-word window goes tap by tap: K * C_out taps and channels per edge position.
        let mut wide = op(CONV1D, COMPACT, 2 * 100, 2 * 2);
        wide.p0 = 100 | 2 << 16;
        wide.p2 = 3 | 1 << 8 | 1 << 16 | 1 << 24;
        wide.p3 = 1;
        let per_pos = 3 * 100 * 2 * CONV_MAC + 2 * CONV_OUT + CONV_POS;
        assert_eq!(
            bound(4, &[wide, head]),
            base + OP + 2 * per_pos + 2 * 3 * 2 * CONV_SEG
        );
        let mut p = op(POOL, 0, 120, 6);
        p.p0 = 6;
        p.p1 = 20;
        p.p3 = 1;
        assert_eq!(
            bound(4, &[p, head]),
            base + OP + 120 * POOL_IN + 6 * POOL_OUT
        );
    }

    #[test]
    fn saturates_instead_of_wrapping() {
        let mut trees = op(TREES, 0, 4, u32::MAX);
        trees.p0 = u32::MAX;
        trees.p3 = u16::MAX;
        let huge = op(DENSE, COMPACT, u32::MAX, u32::MAX);
        assert_eq!(bound(4, &[huge, trees]), u64::MAX);
    }
}
