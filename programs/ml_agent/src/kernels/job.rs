//! The resumable executor behind inference jobs: the same forward pass as `exec::forward`, cut
//! into units of work that any number of calls can advance, with everything between two calls
//! in a `Cursor` and three word buffers (the job account persists exactly these).
//!
//! An op kind that can exceed one transaction exports `units` / `state_words` / `unit_cost` /
//! `run_units` (the resumable op contract; DENSE's are in `dense_units`). LUT, SOFTMAX,
//! ARGMAX and TREES are one unit each and run through `exec::run_op`, so every checked path of
//! the single pass is the job's too. The result is bit-identical with `exec::run` whatever the
//! split (host tests below: every split of every golden model).

use super::cost;
use super::dense_units;
use super::exec::{argmax_op, check_features, quantize_input, run_op, unshift, OpBufs, Step};
use super::model::{ModelView, OpRecord, ARGMAX, CONV1D, DENSE, DTYPE_NONE, GRU, LSTM, POOL};
use super::{conv, recurrent};
use super::{ExecError, Why};

/// Where a job stands. `repr(C)` without padding: the job account stores it verbatim (its
/// borsh encoding is these bytes; `state::job` asserts the layout).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Bounds of the values in the current input buffer (what a LUT's input check needs).
    pub range_lo: i64,
    pub range_hi: i64,
    /// The result once `done`: confidence (Q16; 0 for regressors).
    pub confidence: i64,
    /// Op index the next unit belongs to.
    pub op: u32,
    /// Units of `op` already run.
    pub unit: u32,
    /// Words of the current op's input.
    pub width: u32,
    /// The result once `done`: number of outputs (in buffer `out_buf`).
    pub n_outputs: u32,
    /// The result once `done`: class (0 for regressors).
    pub class: u32,
    /// 0: buffer A holds the current op's input, 1: buffer B.
    pub cur: u8,
    /// 1 once the last op has run.
    pub done: u8,
    /// Buffer holding the outputs once `done` (0 A, 1 B).
    pub out_buf: u8,
    pub padding: u8,
}

/// The job's buffers: two activation buffers (`Sizes::a_words`, `Sizes::b_words`; an op's input
/// and output alternate between them), the largest op state that carries between units
/// (`Sizes::state_words`), and `tmp`, working words that live only during one call (the rest
/// of a recurrent op's state, its gate buffers: `Sizes::tmp_words`). Only the first three are
/// persisted: an LSTM-64's 512 gate words would not fit the 10 KiB job account next to a
/// 600-value window.
pub struct JobBufs<'a> {
    pub a: &'a mut [i64],
    pub b: &'a mut [i64],
    pub state: &'a mut [i64],
    pub tmp: &'a mut [i64],
}

/// The compute a step may still spend, as `advance` sees it: `remaining` before each batch of
/// units, `charge` with the batch's bound after it.
pub trait Meter {
    fn remaining(&mut self) -> u64;
    #[inline(always)]
    fn charge(&mut self, _cu: u64) {}
}

/// No compute limit (host tests, and a step whose caller chose `max_units`).
pub struct Unmetered;
impl Meter for Unmetered {
    fn remaining(&mut self) -> u64 {
        u64::MAX
    }
}

/// A budget spent by the units' upper bounds (`unit_cost`): a step under it cannot run out of
/// compute whatever the units cost. (The runtime's `sol_remaining_compute_units` would let a
/// step fill its limit, but its feature gate, SIMD-0049, is not active on mainnet nor on
/// Surfpool: calling it aborts the program there.)
pub struct BoundMeter {
    pub left: u64,
}
impl Meter for BoundMeter {
    fn remaining(&mut self) -> u64 {
        self.left
    }
    fn charge(&mut self, cu: u64) {
        self.left = self.left.saturating_sub(cu);
    }
}

/// Units of op `op` (>= 1).
pub fn units(op: &OpRecord) -> usize {
    match op.kind {
        DENSE => dense_units::units(op),
        GRU | LSTM => recurrent::units(op),
        CONV1D | POOL => conv::units(op),
        _ => 1,
    }
}

/// Words of op `op`'s state that must persist from one unit to the next (a prefix of its
/// `state_words`; the rest is rewritten before it is read in every unit).
pub fn carry_words(op: &OpRecord) -> usize {
    match op.kind {
        GRU | LSTM => recurrent::carry_words(op),
        _ => state_words(op),
    }
}

/// Words op `op` carries between its units.
pub fn state_words(op: &OpRecord) -> usize {
    match op.kind {
        DENSE => dense_units::state_words(op),
        GRU | LSTM => recurrent::state_words(op),
        CONV1D | POOL => conv::state_words(op),
        _ => 0,
    }
}

/// Upper bound on the CU of one unit of op `i` (>= 1).
pub fn unit_cost(model: &ModelView, i: usize) -> u64 {
    let op = model.op(i);
    let c = match op.kind {
        DENSE => dense_units::unit_cost(op),
        GRU | LSTM => recurrent::unit_cost(op),
        CONV1D | POOL => conv::unit_cost(op),
        _ => cost::op_cost(model, i).saturating_add(cost::OP),
    };
    c.max(1)
}

/// Run units `from..to` of a multi-unit op; `None` for a one-unit kind (run by `run_op`).
#[inline(never)]
fn run_resumable(
    model: &ModelView,
    op: &OpRecord,
    bufs: &mut OpBufs,
    from: usize,
    to: usize,
) -> Option<Result<(), ExecError>> {
    Some(match op.kind {
        DENSE => dense_units::run_units(model, op, bufs, from, to),
        GRU | LSTM => recurrent::run_units(model, op, bufs, from, to),
        CONV1D | POOL => conv::run_units(model, op, bufs, from, to),
        _ => return None,
    })
}

/// Bounds of a multi-unit op's output, as `exec::run_op` sets them after the op.
fn out_range(op: &OpRecord) -> Result<(i64, i64), ExecError> {
    match op.kind {
        DENSE | CONV1D | POOL => Ok((op.lo as i64, op.hi as i64)),
        // Q15 hidden states (exec::run_op sets the same).
        GRU | LSTM => Ok((-32768, 32767)),
        _ => Err(ExecError::Model(Why::OpKind)),
    }
}

/// What a job over `model` needs: the words of each activation buffer and the state words.
/// Op `i` reads buffer A when `i` is even and B when it is odd, and writes the other one, so
/// each buffer is sized for the values that live in it (a 600-feature input and a 64-wide
/// recurrent output do not make two 600-word buffers). Walks the op table with the width
/// checks `exec::forward` makes, so a job is never created for a model whose chain of widths
/// is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    pub a_words: usize,
    pub b_words: usize,
    /// Persisted state: the largest `carry_words`.
    pub state_words: usize,
    /// Working words a step needs besides the account (`JobBufs::tmp`): the largest
    /// `state_words` of an op whose state does not all carry.
    pub tmp_words: usize,
}

pub fn sizes(model: &ModelView) -> Result<Sizes, ExecError> {
    let n = model.n_features;
    let mut width = n;
    // +1 everywhere: a one-unit op writes through `exec::Step::y`, `n_out + 1` words.
    let (mut a, mut b) = (n + 1, 1);
    let (mut state, mut tmp) = (0, 0);
    for i in 0..model.n_ops {
        let op = model.op(i);
        if op.n_in as usize != width {
            return Err(ExecError::Model(Why::WidthChain));
        }
        let n_out = op.n_out as usize;
        if n_out == 0 {
            return Err(ExecError::Model(Why::EmptyOutput));
        }
        if op.kind == ARGMAX && i + 1 != model.n_ops {
            return Err(ExecError::Model(Why::ArgmaxNotLast));
        }
        let out = if i % 2 == 0 { &mut b } else { &mut a };
        *out = (*out).max(n_out + 1);
        if i == 0 && op.kind == ARGMAX {
            // A lone ARGMAX returns the raw features from its output buffer.
            b = b.max(n + 1);
        }
        state = state.max(carry_words(op));
        if carry_words(op) < state_words(op) {
            tmp = tmp.max(state_words(op));
        }
        width = n_out;
    }
    Ok(Sizes {
        a_words: a,
        b_words: b,
        state_words: state,
        tmp_words: tmp,
    })
}

/// Range-check `raw` (the model's n_features Q16.16 values) and write the first op's input to
/// buffer A: the quantized input, or the raw values for a raw-feature model. Sets the cursor
/// to the first unit.
pub fn start(
    model: &ModelView,
    raw: &[i32],
    c: &mut Cursor,
    bufs: &mut JobBufs,
) -> Result<(), ExecError> {
    let n = model.n_features;
    if raw.len() != n {
        return Err(ExecError::FeatureCount);
    }
    if bufs.a.len() < n + 1 {
        return Err(ExecError::Model(Why::Scratch));
    }
    let range = if model.header.input_dtype == DTYPE_NONE {
        let (lo, hi) = model.ranges();
        check_features(raw, lo, hi, bufs.a)?;
        unshift(&mut bufs.a[..n]);
        (i32::MIN as i64, i32::MAX as i64)
    } else {
        // SAFETY: raw holds the model's n features (checked above), a at least n + 1 words.
        unsafe { quantize_input(model, raw, bufs.a)? }
    };
    *c = Cursor {
        range_lo: range.0,
        range_hi: range.1,
        width: n as u32,
        ..Cursor::default()
    };
    Ok(())
}

/// A job in memory: the model, its input snapshot (a lone ARGMAX over a quantized input
/// returns it, as `exec::forward` does), its cursor and buffers. One struct so calls stay
/// within the five argument registers BPF has.
pub struct Job<'r, 'm, 'a> {
    pub model: &'r ModelView<'m>,
    pub raw: &'r [i32],
    pub cursor: &'r mut Cursor,
    pub bufs: &'r mut JobBufs<'a>,
}

/// Advance the job by as many units as `run.meter` allows while keeping `run.reserve` CU, and
/// at most `run.max_units` (0: no cap). Returns the units run (0: not even one unit fits).
pub fn advance<M: Meter>(job: &mut Job, run: &mut Run<M>) -> Result<u64, ExecError> {
    let model = job.model;
    let mut ran = 0u64;
    while job.cursor.done == 0 {
        let i = job.cursor.op as usize;
        if i >= model.n_ops {
            return Err(ExecError::Model(Why::WidthChain));
        }
        let op = model.op(i);
        let n_units = units(op);
        let mut take = (n_units - job.cursor.unit as usize) as u64;
        if run.max_units != 0 {
            take = take.min(run.max_units - ran);
            if take == 0 {
                break;
            }
        }
        let ucost = unit_cost(model, i);
        let rem = run.meter.remaining();
        let need = run.reserve.saturating_add(ucost);
        if rem < need {
            break;
        }
        take = take.min((rem - run.reserve) / ucost);
        step_op(job, take as usize)?;
        run.meter
            .charge(crate::math::mul_u64(take, ucost).unwrap_or(u64::MAX));
        ran += take;
    }
    Ok(ran)
}

/// How `advance` may spend compute.
pub struct Run<'m, M> {
    pub meter: &'m mut M,
    /// CU kept for after the pass (event, return data, account writes).
    pub reserve: u64,
    /// At most this many units (0: no cap).
    pub max_units: u64,
}

/// Run `take >= 1` units of the cursor's op; finish the op (and the job) when they are its last.
#[inline(never)]
fn step_op(job: &mut Job, take: usize) -> Result<(), ExecError> {
    let (model, raw) = (job.model, job.raw);
    let c = &mut *job.cursor;
    let bufs = &mut *job.bufs;
    let i = c.op as usize;
    let op = model.op(i);
    let n_out = op.n_out as usize;
    let width = c.width as usize;
    let (x, y): (&mut [i64], &mut [i64]) = if c.cur == 0 {
        (&mut *bufs.a, &mut *bufs.b)
    } else {
        (&mut *bufs.b, &mut *bufs.a)
    };
    if op.n_in as usize != width {
        return Err(ExecError::Model(Why::WidthChain));
    }
    if n_out == 0 {
        return Err(ExecError::Model(Why::EmptyOutput));
    }
    if n_out + 1 > y.len() || width > x.len() {
        return Err(ExecError::Model(Why::Scratch));
    }
    let from = c.unit as usize;
    let to = from + take;
    let (sw, carry) = (state_words(op), carry_words(op));
    if carry > bufs.state.len() || (carry < sw && sw > bufs.tmp.len()) {
        return Err(ExecError::Model(Why::Scratch));
    }
    // The recurrent and conv kernels run on a validated record (their precondition); the checks
    // are O(1) and depend only on the pinned bytes and the input range, so every step repeats
    // them instead of trusting an earlier transaction. DENSE's `run_units` checks itself.
    let range = (c.range_lo, c.range_hi);
    match op.kind {
        GRU | LSTM => recurrent::check(model, op, &range)?,
        CONV1D => conv::check_conv(model, op, range)?,
        POOL => conv::check_pool(op, range)?,
        _ => {}
    }
    // The state the op works in: the persisted words themselves, or (when only a prefix
    // carries) that prefix copied into the working words and copied back after the units.
    let state: &mut [i64] = if carry == sw {
        &mut bufs.state[..sw]
    } else {
        bufs.tmp[..carry].copy_from_slice(&bufs.state[..carry]);
        &mut bufs.tmp[..sw]
    };
    let mut ob = OpBufs {
        input: &x[..width],
        output: &mut y[..n_out],
        state,
    };
    let ran = run_resumable(model, op, &mut ob, from, to);
    if carry < sw && matches!(ran, Some(Ok(()))) {
        bufs.state[..carry].copy_from_slice(&bufs.tmp[..carry]);
    }
    match ran {
        Some(r) => {
            r?;
            c.unit = to as u32;
            if to < units(op) {
                return Ok(());
            }
            (c.range_lo, c.range_hi) = out_range(op)?;
        }
        None => {
            let mut s = Step {
                model,
                op,
                index: i,
                shifted: false,
                x: &mut x[..width],
                y: &mut y[..n_out + 1],
                // Only the resumable kinds above carry state.
                state: &mut [],
            };
            if op.kind == ARGMAX {
                if i + 1 != model.n_ops {
                    return Err(ExecError::Model(Why::ArgmaxNotLast));
                }
                argmax_op::<false>(&mut s)?;
                c.class = y[0] as u32;
                c.confidence = y[1];
                // The outputs are the vector the head ranked: this op's input, or the raw
                // features of a model that is a lone ARGMAX over a quantized input.
                if i == 0 && model.header.input_dtype != DTYPE_NONE {
                    for (o, v) in y.iter_mut().zip(raw) {
                        *o = *v as i64;
                    }
                    c.out_buf = c.cur ^ 1;
                } else {
                    c.out_buf = c.cur;
                }
                c.n_outputs = width as u32;
                c.unit = 1;
                c.done = 1;
                return Ok(());
            }
            let mut range = (c.range_lo, c.range_hi);
            run_op::<false>(&mut s, &mut range)?;
            (c.range_lo, c.range_hi) = range;
            c.unit = 1;
        }
    }
    // The op is complete: its output is the next op's input.
    c.cur ^= 1;
    c.width = n_out as u32;
    c.op += 1;
    c.unit = 0;
    if c.op as usize == model.n_ops {
        c.done = 1;
        c.out_buf = c.cur;
        c.n_outputs = n_out as u32;
        c.class = 0;
        c.confidence = 0;
    }
    Ok(())
}

/// The outputs of a finished job.
pub fn outputs<'b>(c: &Cursor, bufs: &'b JobBufs) -> &'b [i64] {
    let buf: &[i64] = if c.out_buf == 0 { bufs.a } else { bufs.b };
    &buf[..(c.n_outputs as usize).min(buf.len())]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::exec::{run, NoObserver};
    use crate::kernels::scratch::Scratch;
    use serde_json::Value;
    use std::format;
    use std::path::PathBuf;
    use std::string::{String, ToString};
    use std::vec;
    use std::vec::Vec;

    fn golden_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden")
    }

    fn aligned(bytes: &[u8]) -> Vec<u64> {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        for (i, b) in bytes.iter().enumerate() {
            words[i / 8] |= (*b as u64) << (8 * (i % 8));
        }
        words
    }

    /// A golden model: name, its bytes in aligned words, its length, its cases' inputs.
    type Golden = (String, Vec<u64>, usize, Vec<Vec<i32>>);
    /// class, confidence, outputs.
    type Outcome = (u32, i64, Vec<i64>);

    fn models() -> Vec<Golden> {
        let dir = golden_dir();
        let index: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap())
                .unwrap();
        let mut out = Vec::new();
        for name in index["models"].as_array().unwrap() {
            let name = name.as_str().unwrap().to_string();
            let doc: Value = serde_json::from_str(
                &std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap(),
            )
            .unwrap();
            let bytes = std::fs::read(dir.join(doc["file"].as_str().unwrap())).unwrap();
            let cases = doc["cases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    c["features_fx"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_i64().unwrap() as i32)
                        .collect()
                })
                .collect();
            out.push((name, aligned(&bytes), bytes.len(), cases));
        }
        out
    }

    fn single_pass(view: &ModelView, x: &[i32]) -> Result<Outcome, ExecError> {
        let mut arena = vec![0i64; 4096];
        let mut scratch = Scratch::new(&mut arena);
        let f: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
        let r = run::<_, false>(view, &f, &mut scratch, &mut NoObserver)?;
        Ok((r.class, r.confidence, r.outputs.to_vec()))
    }

    /// A meter that allows a pseudo-random amount each call (splits the job unevenly).
    struct Dice(u64);
    impl Meter for Dice {
        fn remaining(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % 200_000
        }
    }

    /// Run a job to completion with `max_units` per call (and `meter`), returning the result
    /// and the number of calls.
    fn job<M: Meter>(
        view: &ModelView,
        x: &[i32],
        max_units: u64,
        meter: &mut M,
    ) -> Result<(Outcome, usize), ExecError> {
        let s = sizes(view)?;
        let (mut a, mut b, mut st) = (
            vec![0i64; s.a_words],
            vec![0i64; s.b_words],
            vec![0i64; s.state_words],
        );
        let mut tmp = vec![0i64; s.tmp_words];
        let mut bufs = JobBufs {
            a: &mut a,
            b: &mut b,
            state: &mut st,
            tmp: &mut tmp,
        };
        let mut c = Cursor::default();
        start(view, x, &mut c, &mut bufs)?;
        let mut calls = 0;
        while c.done == 0 {
            // Working words do not survive a call (on chain they are the heap of another
            // transaction): garbage in them must not change the result.
            for (k, v) in bufs.tmp.iter_mut().enumerate() {
                *v = (k as i64 + calls as i64).wrapping_mul(0x9E37_79B9_7F4A_7C15u64 as i64);
            }
            let mut r = Run {
                meter: &mut *meter,
                reserve: 1_000,
                max_units,
            };
            let mut jb = Job {
                model: view,
                raw: x,
                cursor: &mut c,
                bufs: &mut bufs,
            };
            advance(&mut jb, &mut r)?;
            calls += 1;
            assert!(calls < 100_000, "no progress");
        }
        Ok(((c.class, c.confidence, outputs(&c, &bufs).to_vec()), calls))
    }

    #[test]
    fn every_split_of_every_golden_model_matches_the_single_pass() {
        let mut checked = 0;
        for (name, words, len, cases) in models() {
            // SAFETY: the words own at least len bytes.
            let bytes = unsafe { std::slice::from_raw_parts(words.as_ptr() as *const u8, len) };
            let view = ModelView::parse(bytes).unwrap();
            let total: usize = (0..view.n_ops).map(|i| units(view.op(i))).sum();
            for x in cases.iter().take(3) {
                let want = single_pass(&view, x).unwrap();
                for max_units in 0..=(total as u64 + 1) {
                    let (got, calls) = job(&view, x, max_units, &mut Unmetered).unwrap();
                    assert_eq!(got, want, "{name}: max_units {max_units}");
                    if max_units != 0 {
                        assert_eq!(calls, total.div_ceil(max_units as usize), "{name}");
                    }
                }
                let (got, _) = job(&view, x, 0, &mut Dice(len as u64)).unwrap();
                assert_eq!(got, want, "{name}: metered");
                checked += 1;
            }
        }
        assert!(checked >= 19 * 3);
    }

    #[test]
    fn rejected_inputs_fail_at_the_start_like_the_single_pass() {
        for (name, words, len, cases) in models() {
            // SAFETY: the words own at least len bytes.
            let bytes = unsafe { std::slice::from_raw_parts(words.as_ptr() as *const u8, len) };
            let view = ModelView::parse(bytes).unwrap();
            let (lo, _) = view.ranges();
            let mut x = cases[0].clone();
            let j = x.len() - 1;
            if lo[j] == i32::MIN {
                continue;
            }
            x[j] = lo[j] - 1;
            let want = single_pass(&view, &x).err();
            assert_eq!(want, Some(ExecError::FeatureOutOfRange(j as u32)), "{name}");
            assert_eq!(job(&view, &x, 1, &mut Unmetered).err(), want, "{name}");
            assert_eq!(
                job(&view, &x[..j], 1, &mut Unmetered).err(),
                Some(ExecError::FeatureCount)
            );
        }
    }

    #[test]
    fn a_bound_budget_splits_a_job_and_never_overspends() {
        for (name, words, len, cases) in models() {
            // SAFETY: the words own at least len bytes.
            let bytes = unsafe { std::slice::from_raw_parts(words.as_ptr() as *const u8, len) };
            let view = ModelView::parse(bytes).unwrap();
            let x = &cases[0];
            let want = single_pass(&view, x).unwrap();
            // The largest unit bound plus the reserve: every step can run at least one unit.
            let most = (0..view.n_ops).map(|i| unit_cost(&view, i)).max().unwrap();
            let s = sizes(&view).unwrap();
            let (mut a, mut b, mut st) = (
                vec![0i64; s.a_words],
                vec![0i64; s.b_words],
                vec![0i64; s.state_words],
            );
            let mut tmp = vec![0i64; s.tmp_words];
            let mut bufs = JobBufs {
                a: &mut a,
                b: &mut b,
                state: &mut st,
                tmp: &mut tmp,
            };
            let mut c = Cursor::default();
            start(&view, x, &mut c, &mut bufs).unwrap();
            let mut steps = 0;
            while c.done == 0 {
                let budget = 1_000 + most;
                let mut meter = BoundMeter { left: budget };
                let mut r = Run {
                    meter: &mut meter,
                    reserve: 1_000,
                    max_units: 0,
                };
                let mut jb = Job {
                    model: &view,
                    raw: x,
                    cursor: &mut c,
                    bufs: &mut bufs,
                };
                assert!(advance(&mut jb, &mut r).unwrap() >= 1, "{name}");
                assert!(meter.left >= 1_000, "{name}: spent into the reserve");
                steps += 1;
            }
            let got = (c.class, c.confidence, outputs(&c, &bufs).to_vec());
            assert_eq!(got, want, "{name}");
            assert!(steps >= 1);
        }
    }

    #[test]
    fn dense_units_cover_rows_by_layout_block() {
        let mut op: OpRecord = unsafe { core::mem::zeroed() };
        op.kind = DENSE;
        op.n_in = 10;
        op.n_out = 25;
        op.layout = crate::kernels::model::COMPACT;
        assert_eq!(units(&op), 25);
        op.layout = crate::kernels::model::PACKED;
        assert_eq!(units(&op), 13);
        op.layout = crate::kernels::model::PACKED3;
        assert_eq!(units(&op), 3);
        op.layout = crate::kernels::model::SPARSE;
        assert_eq!(units(&op), 1);
        assert!(dense_units::unit_cost(&op) >= 1);
    }

    #[test]
    fn a_budget_below_one_unit_runs_nothing() {
        let (_, words, len, cases) = models().into_iter().next().unwrap();
        // SAFETY: the words own at least len bytes.
        let bytes = unsafe { std::slice::from_raw_parts(words.as_ptr() as *const u8, len) };
        let view = ModelView::parse(bytes).unwrap();
        let s = sizes(&view).unwrap();
        let (mut a, mut b, mut st) = (
            vec![0i64; s.a_words],
            vec![0i64; s.b_words],
            vec![0i64; s.state_words],
        );
        let mut tmp = vec![0i64; s.tmp_words];
        let mut bufs = JobBufs {
            a: &mut a,
            b: &mut b,
            state: &mut st,
            tmp: &mut tmp,
        };
        let mut c = Cursor::default();
        start(&view, &cases[0], &mut c, &mut bufs).unwrap();
        struct Fixed(u64);
        impl Meter for Fixed {
            fn remaining(&mut self) -> u64 {
                self.0
            }
        }
        let before = c;
        let mut r = Run {
            meter: &mut Fixed(1_000 + unit_cost(&view, 0) - 1),
            reserve: 1_000,
            max_units: 0,
        };
        let mut jb = Job {
            model: &view,
            raw: &cases[0],
            cursor: &mut c,
            bufs: &mut bufs,
        };
        assert_eq!(advance(&mut jb, &mut r), Ok(0));
        assert_eq!(c, before);
    }
}
