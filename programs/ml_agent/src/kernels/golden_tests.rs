//! Replays the model compiler's golden vectors (`tests/golden/`, written by
//! `python -m client.model.golden`) through the on-chain executor compiled for the host, and
//! compares every intermediate: quantized input, each op's output, outputs, class, confidence.

//!
//! A unit-test module rather than an integration test: the crate's dev profile aborts on panic,
//! and an integration test would make cargo build the library a second time (with unwinding)
//! into the same output file.

use std::format;
use std::path::PathBuf;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

use super::exec::{run, Observer};
use super::model::ModelView;
use super::scratch::Scratch;
use super::ExecError;
use serde_json::Value;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden")
}

/// Model bytes in an 8-aligned buffer, as the registry stores them on chain.
struct Aligned {
    words: Vec<u64>,
    len: usize,
}

impl Aligned {
    fn new(bytes: &[u8]) -> Aligned {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        for (i, b) in bytes.iter().enumerate() {
            words[i / 8] |= (*b as u64) << (8 * (i % 8));
        }
        Aligned {
            words,
            len: bytes.len(),
        }
    }
    fn bytes(&self) -> &[u8] {
        // SAFETY: the words own at least len bytes.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr() as *const u8, self.len) }
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr() as *mut u8, self.len) }
    }
}

#[derive(Default)]
struct Trace {
    input_q: Option<Vec<i64>>,
    layers: Vec<Vec<i64>>,
}

impl Observer for Trace {
    fn inputs(&mut self, q: Option<&[i64]>) {
        self.input_q = q.map(|q| q.to_vec());
    }
    fn op(&mut self, _i: usize, out: &[i64]) {
        self.layers.push(out.to_vec());
    }
}

struct Outcome {
    trace: Trace,
    class: u32,
    confidence: i64,
    outputs: Vec<i64>,
}

fn le_features(x: &[i64]) -> Vec<u8> {
    x.iter().flat_map(|v| (*v as i32).to_le_bytes()).collect()
}

fn infer(model: &[u8], features: &[u8]) -> Result<Outcome, ExecError> {
    let view = ModelView::parse(model)?;
    let mut arena = vec![0i64; 4096];
    let mut scratch = onchain_scratch(&mut arena);
    let mut trace = Trace::default();
    let r = run::<_, false>(&view, features, &mut scratch, &mut trace)?;
    Ok(Outcome {
        class: r.class,
        confidence: r.confidence,
        outputs: r.outputs.to_vec(),
        trace,
    })
}

/// The arena as `infer` and `finalize_version`'s dry run see it: the 32 KiB heap with the
/// return-data words taken first, so the activation buffers have their on-chain size.
fn onchain_scratch(arena: &mut [i64]) -> Scratch<'_> {
    assert_eq!(arena.len() * 8, super::scratch::DEFAULT_HEAP_BYTES);
    let mut scratch = Scratch::new(arena);
    scratch
        .take(crate::instructions::infer::MAX_OUTPUTS + 2)
        .unwrap();
    scratch
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

fn load(name: &str) -> (Aligned, Value) {
    let dir = golden_dir();
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap())
            .unwrap();
    let bytes = std::fs::read(dir.join(doc["file"].as_str().unwrap())).unwrap();
    (Aligned::new(&bytes), doc)
}

fn model_names() -> Vec<String> {
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(golden_dir().join("index.json")).unwrap())
            .unwrap();
    index["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_golden_case_matches_every_intermediate() {
    let names = model_names();
    assert!(
        names.len() >= 19,
        "golden index lists {} models",
        names.len()
    );
    let mut cases = 0;
    for name in &names {
        let (model, doc) = load(name);
        for case in doc["cases"].as_array().unwrap() {
            let label = format!("{name}/{}", case["name"].as_str().unwrap());
            let x = ints(&case["features_fx"]);
            let got =
                infer(model.bytes(), &le_features(&x)).unwrap_or_else(|e| panic!("{label}: {e:?}"));
            let want_q = case.get("input_q").map(ints);
            assert_eq!(got.trace.input_q, want_q, "{label}: input_q");
            let layers: Vec<Vec<i64>> = case["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(ints)
                .collect();
            assert_eq!(got.trace.layers.len(), layers.len(), "{label}: op count");
            for (i, (g, w)) in got.trace.layers.iter().zip(&layers).enumerate() {
                assert_eq!(g, w, "{label}: op {i} ({})", doc["ops"][i]);
            }
            assert_eq!(got.outputs, ints(&case["outputs"]), "{label}: outputs");
            assert_eq!(got.class as i64, case["class"].as_i64().unwrap(), "{label}");
            assert_eq!(
                got.confidence,
                case["confidence_q16"].as_i64().unwrap(),
                "{label}: confidence"
            );
            cases += 1;
        }
    }
    assert!(cases >= 19 * 10, "only {cases} cases");
}

#[test]
fn golden_reject_cases_name_the_offending_feature() {
    let mut rejects = 0;
    for name in model_names() {
        let (model, doc) = load(&name);
        for case in doc["reject_cases"].as_array().unwrap() {
            let x = ints(&case["features_fx"]);
            let feature = case["feature"].as_u64().unwrap() as u32;
            let err = infer(model.bytes(), &le_features(&x)).err();
            assert_eq!(
                err,
                Some(ExecError::FeatureOutOfRange(feature)),
                "{name}/{}",
                case["name"]
            );
            rejects += 1;
        }
    }
    assert!(rejects >= 2 * 19);
}

#[test]
fn wrong_feature_count_and_misaligned_features() {
    let (model, doc) = load("mlp_int8_packed");
    let case = &doc["cases"][0];
    let x = le_features(&ints(&case["features_fx"]));
    assert_eq!(
        infer(model.bytes(), &x[..x.len() - 4]).err(),
        Some(ExecError::FeatureCount)
    );
    // The unaligned path (byte loads) must agree with the aligned one.
    let mut shifted = vec![0u8; x.len() + 1];
    shifted[1..].copy_from_slice(&x);
    let a = infer(model.bytes(), &x).unwrap();
    let b = infer(model.bytes(), &shifted[1..]).unwrap();
    assert_eq!(a.outputs, b.outputs);
    assert_eq!(a.outputs, ints(&case["outputs"]));
}

#[test]
fn misaligned_or_foreign_bytes_are_not_executed() {
    let (model, _) = load("decision_tree");
    let mut padded = vec![0u8; model.bytes().len() + 1];
    padded[1..].copy_from_slice(model.bytes());
    let features = le_features(&[0, 0, 0, 0]);
    // Whichever alignment the Vec got, one of the two views is misaligned.
    let misaligned = if (padded.as_ptr() as usize).is_multiple_of(8) {
        &padded[1..]
    } else {
        &padded[..padded.len() - 1]
    };
    assert!(matches!(
        infer(misaligned, &features).err(),
        Some(ExecError::Model(_))
    ));
    let mut bad = Aligned::new(model.bytes());
    bad.bytes_mut()[0] = b'X';
    assert!(matches!(
        infer(bad.bytes(), &features).err(),
        Some(ExecError::Model(_))
    ));
}

/// Corrupting any byte of the header, ranges, affine or op table must give an error or an
/// answer, never a panic or an out-of-bounds access (the process would abort).
#[test]
fn corrupted_structure_never_crashes() {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut errors, mut answers) = (0, 0);
    for name in model_names() {
        let (model, doc) = load(&name);
        let x = le_features(&ints(&doc["cases"][0]["features_fx"]));
        let h = ModelView::parse(model.bytes()).unwrap().header;
        // Structure lives before the payload; corrupt there (plus some payload bytes).
        let structural = h.payload_off as usize;
        for _ in 0..400 {
            let mut m = Aligned::new(model.bytes());
            let bytes = m.bytes_mut();
            for _ in 0..1 + next() % 3 {
                let at = (next() as usize)
                    % if next() % 4 == 0 {
                        bytes.len()
                    } else {
                        structural
                    };
                bytes[at] = next() as u8;
            }
            match infer(m.bytes(), &x) {
                Ok(_) => answers += 1,
                Err(_) => errors += 1,
            }
        }
    }
    assert!(
        errors > 1000 && answers > 1000,
        "{errors} errors, {answers} answers"
    );
}

#[test]
fn small_golden_models_pass_the_finalize_dry_run_and_the_unchecked_path_agrees() {
    let mut marked = 0;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for name in &model_names() {
        let (model, doc) = load(name);
        let ok = crate::instructions::infer::ops_checkable(model.bytes());
        let view = ModelView::parse(model.bytes()).unwrap();
        assert_eq!(
            ok,
            model.bytes().len() <= crate::instructions::infer::OPS_CHECK_MAX_BYTES
                && super::cost::cost_bound(&view) <= crate::instructions::infer::OPS_CHECK_MAX_CU,
            "{name}"
        );
        if !ok {
            continue;
        }
        marked += 1;
        let view = ModelView::parse(model.bytes()).unwrap();
        let (lo, hi) = view.ranges();
        // The golden cases, then random features inside the declared ranges (a quarter of
        // them at a bound), then one feature just outside: every intermediate of the marked
        // path (`run::<_, true>`, `kernels::marked`) equals the checked path's.
        let mut inputs: Vec<Vec<u8>> = doc["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|case| le_features(&ints(&case["features_fx"])))
            .collect();
        for k in 0..2_000 {
            let mut x: Vec<i64> = (0..lo.len())
                .map(|j| {
                    let (l, h) = (lo[j] as i64, hi[j] as i64);
                    match next() % 8 {
                        0 => l,
                        1 => h,
                        _ => l + (next() % (h - l + 1) as u64) as i64,
                    }
                })
                .collect();
            if k % 50 == 49 {
                let j = (next() % lo.len() as u64) as usize;
                x[j] = if next() % 2 == 0 && lo[j] > i32::MIN {
                    lo[j] as i64 - 1
                } else if hi[j] < i32::MAX {
                    hi[j] as i64 + 1
                } else {
                    lo[j] as i64 - 1
                };
            }
            inputs.push(le_features(&x));
        }
        let mut errors = 0;
        for x in &inputs {
            let want = infer(model.bytes(), x);
            let mut arena = vec![0i64; 4096];
            let mut scratch = onchain_scratch(&mut arena);
            let mut trace = Trace::default();
            match (want, run::<_, true>(&view, x, &mut scratch, &mut trace)) {
                (Ok(want), Ok(got)) => {
                    assert_eq!(
                        (got.class, got.confidence, got.outputs.to_vec()),
                        (want.class, want.confidence, want.outputs),
                        "{name}"
                    );
                    assert_eq!(trace.input_q, want.trace.input_q, "{name}");
                    assert_eq!(trace.layers, want.trace.layers, "{name}");
                }
                (Err(want), Err(got)) => {
                    assert_eq!(got, want, "{name}");
                    errors += 1;
                }
                (want, got) => panic!("{name}: checked {:?}, marked {:?}", want.err(), got.err()),
            }
        }
        assert!(errors >= 40, "{name}: {errors} out-of-range inputs refused");
    }
    assert!(marked > 0);
}

/// GRU / LSTM golden models (op 0 is the recurrent op).
fn recurrent_names() -> Vec<String> {
    let names: Vec<String> = model_names()
        .into_iter()
        .filter(|n| n.starts_with("gru_") || n.starts_with("lstm_"))
        .collect();
    assert_eq!(
        names.len(),
        12,
        "GRU and LSTM, INT8 (pairs and speed mode) and INT16, both modes"
    );
    names
}

/// The resumable contract: any split of the timesteps into consecutive `run_units` ranges,
/// carrying only `OpBufs`, gives the single pass's output bit for bit.
#[test]
fn recurrent_any_split_of_the_steps_gives_the_same_output() {
    use super::exec::OpBufs;
    use super::recurrent::{run_units, state_words, units};
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut checked = 0;
    for name in recurrent_names() {
        let (model, doc) = load(&name);
        let view = ModelView::parse(model.bytes()).unwrap();
        let op = view.op(0);
        let t = units(op);
        assert_eq!(t, op.p0 as usize);
        for case in doc["cases"].as_array().unwrap() {
            let input = ints(&case["input_q"]);
            let want = ints(&case["layers"][0]);
            for trial in 0..12 {
                // Cut points: none (one pass), every step, or random ones.
                let mut cuts: Vec<usize> = match trial {
                    0 => vec![],
                    1 => (1..t).collect(),
                    _ => (1..t).filter(|_| next() % 2 == 0).collect(),
                };
                cuts.push(t);
                let mut output = vec![0x5555i64; op.n_out as usize];
                // Garbage state: `from == 0` must initialise what it reads.
                let mut state = vec![-7i64; state_words(op)];
                let mut from = 0;
                for &to in &cuts {
                    let mut bufs = OpBufs {
                        input: &input,
                        output: &mut output,
                        state: &mut state,
                    };
                    run_units(&view, op, &mut bufs, from, to).unwrap();
                    from = to;
                }
                assert_eq!(output, want, "{name}/{} cuts {cuts:?}", case["name"]);
                checked += 1;
            }
        }
        // Bad ranges are refused, not run.
        let input = ints(&doc["cases"][0]["input_q"]);
        let mut output = vec![0i64; op.n_out as usize];
        let mut state = vec![0i64; state_words(op)];
        for (from, to) in [(0, 0), (2, 1), (0, t + 1)] {
            let mut bufs = OpBufs {
                input: &input,
                output: &mut output,
                state: &mut state,
            };
            assert_eq!(
                run_units(&view, op, &mut bufs, from, to),
                Err(ExecError::Model(super::Why::RecurrentBuffers)),
                "{name} {from}..{to}"
            );
        }
        let mut short = vec![0i64; state_words(op) - 1];
        let mut bufs = OpBufs {
            input: &input,
            output: &mut output,
            state: &mut short,
        };
        assert!(run_units(&view, op, &mut bufs, 0, t).is_err());
    }
    assert!(checked >= 8 * 10 * 12);
}

/// Every field of a recurrent record the kernels rely on is checked before any arithmetic.
#[test]
fn recurrent_records_with_bad_fields_are_refused() {
    use super::Why;
    let ops_field = |m: &Aligned, off: usize| {
        let h = ModelView::parse(m.bytes()).unwrap().header;
        h.ops_off as usize + off
    };
    for name in recurrent_names() {
        let (model, doc) = load(&name);
        let x = le_features(&ints(&doc["cases"][0]["features_fx"]));
        assert!(infer(model.bytes(), &x).is_ok());
        let put = |off: usize, bytes: &[u8]| {
            let mut m = Aligned::new(model.bytes());
            let at = ops_field(&m, off);
            m.bytes_mut()[at..at + bytes.len()].copy_from_slice(bytes);
            infer(m.bytes(), &x).err()
        };
        let is_i8 = name.contains("_i8_");
        let model_err = |w: Why| Some(ExecError::Model(w));
        // dtype / layout pairing
        assert_eq!(
            put(2, &[if is_i8 { 1 } else { 2 }]),
            model_err(Why::RecurrentLayout)
        );
        assert_eq!(put(1, &[3]), model_err(Why::RecurrentLayout));
        // mode, steps, features, hidden, shift, gate bits, zp, reserved
        assert_eq!(put(3, &[2]), model_err(Why::RecurrentParams), "{name} mode");
        assert_eq!(
            put(12, &0u32.to_le_bytes()),
            model_err(Why::RecurrentParams)
        );
        assert_eq!(
            put(12, &7u32.to_le_bytes()),
            model_err(Why::RecurrentParams)
        );
        assert_eq!(
            put(16, &1u32.to_le_bytes()),
            model_err(Why::RecurrentParams)
        );
        assert_eq!(
            put(20, &9u32.to_le_bytes()),
            model_err(Why::RecurrentParams)
        );
        assert_eq!(put(24, &[0]), model_err(Why::RecurrentParams));
        assert_eq!(put(24, &[63]), model_err(Why::RecurrentParams));
        assert_eq!(
            put(26, &15u16.to_le_bytes()),
            model_err(Why::RecurrentParams)
        );
        assert_eq!(
            put(26, &0u16.to_le_bytes()),
            model_err(Why::RecurrentParams)
        );
        assert_eq!(
            put(28, &1i32.to_le_bytes()),
            model_err(Why::RecurrentParams)
        );
        assert_eq!(put(25, &[1]), model_err(Why::RecurrentParams));
        // Every array slot pointing past the file, or misaligned.
        for slot in 0..6 {
            let off = 40 + 4 * slot;
            assert_eq!(
                put(off, &(model.bytes().len() as u32 - 8).to_le_bytes()),
                model_err(Why::ArrayBounds),
                "{name} slot {slot}"
            );
            assert_eq!(
                put(off, &((model.bytes().len() as u32 / 2) | 1).to_le_bytes()),
                model_err(Why::ArrayBounds),
                "{name} slot {slot} misaligned"
            );
        }
    }
}
