//! `infer(features, flags)`: run a registered model's active version on one feature vector.
//!
//! Reads the model zero-copy from its weights account (no writes, no signer), so any program can
//! call it by CPI and read the result with `get_return_data`. The result is borsh
//! `InferenceResult { class, confidence_q16, outputs }`; an `Inference` event records the model,
//! version, class, confidence and the SHA-256 of the outputs.
//!
//! Errors: `NoActiveVersion` (model not ready), `NotActiveVersion` / owner / discriminator errors
//! (wrong model or weights account), `FeatureCountMismatch`, `FeatureOutOfRange`,
//! `UnsupportedModel` (a file the kernels cannot execute; the reason is logged).

use pinocchio::{AccountView, Address, ProgramResult};

use crate::args::ArgReader;
use crate::error::MlAgentError;
use crate::events::emit;
use crate::hash::sha256v_into;
use crate::interface::{field, AccountSpec, InstructionSpec, Ty, TypeSpec};
use crate::kernels::exec::{run, NoObserver, Observer};
use crate::kernels::model::ModelView;
use crate::kernels::scratch::Scratch;
use crate::kernels::ExecError;
use crate::state::model::{load_active, trusted_marks};

/// `flags` bit 0: log the remaining compute units (`sol_log_compute_units`) before the forward
/// pass, after the inputs are loaded, after every op and after the pass. The bench reads the
/// deltas as the kernels' own cost.
pub const FLAG_LOG_CU: u8 = 1;
/// `flags` bit 1: the `features` argument is empty and the features are the values of the
/// third account, a features account of this program (`state::features`) holding exactly the
/// model's `n_features` values. Anyone may read anyone's features account.
pub const FLAG_FEATURES_ACCOUNT: u8 = 2;

/// Return data is capped at 1,024 bytes: 12 bytes of header and 126 i64 outputs.
pub const MAX_OUTPUTS: usize = 126;
const RETURN_HEADER: usize = 12;

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "infer",
    "Run the model's active version on Q16.16 features (i32, x * 65536 rounded half up) and \
     return InferenceResult. flags bit 0 logs compute units around the forward pass and each op; \
     bit 1 (FLAG_FEATURES_ACCOUNT) reads the features from the features account instead (the \
     argument must then be empty).",
    &[
        AccountSpec::new("model")
            .pda(crate::state::model::MODEL_PDA)
            .docs("The ModelHeader (status Ready or Frozen)."),
        AccountSpec::new("weights").docs("The model's active ModelWeights account."),
        AccountSpec::new("features")
            .optional()
            .docs("With flags bit 1: the FeaturesAccount holding the input (read-only)."),
    ],
    &[field("features", Ty::Vec(&Ty::I32)), field("flags", Ty::U8)],
    Some(Ty::Defined("InferenceResult")),
);

pub const INFERENCE_RESULT: TypeSpec = TypeSpec::plain(
    "InferenceResult",
    "Return data of infer: the predicted class and its Q16 confidence (0 for regressors) and the \
     model's output vector (probabilities, votes or regression values).",
    &[
        field("class", Ty::U32),
        field("confidence_q16", Ty::U32),
        field("outputs", Ty::Vec(&Ty::I64)),
    ],
);

pub const INFERENCE: TypeSpec = TypeSpec::event(
    "Inference",
    "Emitted by every successful infer; outputs_sha256 is the SHA-256 of the outputs as \
     little-endian i64s (the tail of the return data).",
    &[
        field("model", Ty::Pubkey),
        field("version", Ty::U32),
        field("class", Ty::U32),
        field("confidence_q16", Ty::U32),
        field("outputs_sha256", Ty::Array(&Ty::U8, 32)),
    ],
);

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [model, weights, extra @ ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    let mut args = ArgReader::new(data);
    let (mut count, mut features) = args.vec_raw(4)?;
    let flags = args.u8()?;
    args.finish()?;
    if flags & !(FLAG_LOG_CU | FLAG_FEATURES_ACCOUNT) != 0 {
        return Err(MlAgentError::InvalidArgument.into());
    }
    if flags & FLAG_FEATURES_ACCOUNT != 0 {
        if count != 0 {
            return Err(MlAgentError::FeaturesSource.into());
        }
        // Missing, or Anchor's `None` placeholder (the program id).
        let acc = match extra.first() {
            Some(a) if a.address() != program_id => a,
            _ => return Err(MlAgentError::FeaturesSource.into()),
        };
        let mut input = Input {
            count: 0,
            bytes: &[],
        };
        features_of(program_id, acc, &mut input)?;
        (count, features) = (input.count, input.bytes);
    }

    let mut active = Active {
        version: 0,
        checked: false,
        ops_checked: false,
        bytes: &[],
    };
    active_model(program_id, model, weights, &mut active)?;
    let view = if active.checked {
        // SAFETY: finalize_version ran `parse` on these sealed bytes and recorded it.
        unsafe { ModelView::checked_before(active.bytes) }
    } else {
        ModelView::parse(active.bytes).map_err(exec_error)?
    };
    if count != view.n_features {
        return Err(MlAgentError::FeatureCountMismatch.into());
    }

    #[cfg(target_arch = "bpf")]
    // SAFETY: the only use of the heap region in this instruction.
    let mut scratch = unsafe { Scratch::heap() };
    #[cfg(not(target_arch = "bpf"))]
    let mut arena = std::vec![0i64; crate::kernels::scratch::DEFAULT_HEAP_BYTES / 8];
    #[cfg(not(target_arch = "bpf"))]
    let mut scratch = Scratch::new(&mut arena);

    // Return data `[class u32][confidence u32][len u32][outputs i64...]` is assembled in two
    // header words plus one word per output, so every output is one aligned store; the bytes
    // returned start 4 bytes into the first word.
    let ret_words = scratch.take(MAX_OUTPUTS + 2).map_err(exec_error)?;

    let result = if flags & FLAG_LOG_CU != 0 {
        log_cu();
        let r = if active.ops_checked {
            run::<_, true>(&view, features, &mut scratch, &mut CuLog)
        } else {
            run::<_, false>(&view, features, &mut scratch, &mut CuLog)
        };
        log_cu();
        r
    } else if active.ops_checked {
        run::<_, true>(&view, features, &mut scratch, &mut NoObserver)
    } else {
        run::<_, false>(&view, features, &mut scratch, &mut NoObserver)
    }
    .map_err(exec_error)?;

    let n = result.outputs.len();
    if n > MAX_OUTPUTS {
        log("ml_agent: more outputs than return data can carry");
        return Err(MlAgentError::UnsupportedModel.into());
    }
    // Confidence is Q16 in 0..=65536 for every model the compiler emits.
    let confidence = result.confidence as u32;
    ret_words[0] = ((result.class as u64) << 32) as i64;
    ret_words[1] = (confidence as u64 | ((n as u64) << 32)) as i64;
    for (o, v) in ret_words[2..2 + n].iter_mut().zip(result.outputs) {
        *o = *v;
    }
    // SAFETY: the words are initialized and outlive `bytes`; u8 has no alignment needs.
    let bytes =
        unsafe { core::slice::from_raw_parts(ret_words.as_ptr() as *const u8, 8 * (n + 2)) };
    let ret = &bytes[4..];
    pinocchio::cpi::set_return_data(ret);

    // The event is assembled in place and the digest hashed straight into it: no copies.
    let mut ev = InferenceEvent {
        discriminator: INFERENCE.discriminator,
        model: model.address().to_bytes(),
        version: active.version.to_le(),
        class: result.class.to_le(),
        confidence: confidence.to_le(),
        // Overwritten whole by the hash below.
        outputs_sha256: [0; 32],
    };
    sha256v_into(&[&ret[RETURN_HEADER..]], &mut ev.outputs_sha256);
    // SAFETY: a repr(C) struct of byte arrays and u32s with no padding before its 84th byte.
    emit(unsafe {
        core::slice::from_raw_parts(&ev as *const InferenceEvent as *const u8, EVENT_LEN)
    });
    Ok(())
}

/// Set `infer`'s return data and emit its `Inference` event for a result computed elsewhere
/// (`infer_step` finishing a job): the same bytes `infer` produces for the same result.
#[inline(never)]
pub(crate) fn publish(r: &Published) -> ProgramResult {
    let n = r.outputs.len();
    if n > MAX_OUTPUTS {
        log("ml_agent: more outputs than return data can carry");
        return Err(MlAgentError::UnsupportedModel.into());
    }
    #[cfg(target_arch = "bpf")]
    // SAFETY: the only use of the heap region in the calling instruction.
    let mut scratch = unsafe { Scratch::heap() };
    #[cfg(not(target_arch = "bpf"))]
    let mut arena = std::vec![0i64; MAX_OUTPUTS + 2];
    #[cfg(not(target_arch = "bpf"))]
    let mut scratch = Scratch::new(&mut arena);
    let ret_words = scratch.take(MAX_OUTPUTS + 2).map_err(exec_error)?;
    let confidence = r.confidence as u32;
    ret_words[0] = ((r.class as u64) << 32) as i64;
    ret_words[1] = (confidence as u64 | ((n as u64) << 32)) as i64;
    for (o, v) in ret_words[2..2 + n].iter_mut().zip(r.outputs) {
        *o = *v;
    }
    // SAFETY: the words are initialized and outlive `bytes`; u8 has no alignment needs.
    let bytes =
        unsafe { core::slice::from_raw_parts(ret_words.as_ptr() as *const u8, 8 * (n + 2)) };
    let ret = &bytes[4..];
    pinocchio::cpi::set_return_data(ret);
    let mut ev = InferenceEvent {
        discriminator: INFERENCE.discriminator,
        model: r.model.to_bytes(),
        version: r.version.to_le(),
        class: r.class.to_le(),
        confidence: confidence.to_le(),
        outputs_sha256: [0; 32],
    };
    sha256v_into(&[&ret[RETURN_HEADER..]], &mut ev.outputs_sha256);
    // SAFETY: a repr(C) struct of byte arrays and u32s with no padding before its 84th byte.
    emit(unsafe {
        core::slice::from_raw_parts(&ev as *const InferenceEvent as *const u8, EVENT_LEN)
    });
    Ok(())
}

/// A finished inference to publish.
pub(crate) struct Published<'a> {
    pub model: &'a Address,
    pub version: u32,
    pub class: u32,
    pub confidence: i64,
    pub outputs: &'a [i64],
}

/// The `Inference` event's borsh bytes: discriminator, model, version, class, confidence,
/// digest (little-endian integers; the target is little-endian).
#[repr(C, align(8))]
struct InferenceEvent {
    discriminator: [u8; 8],
    model: [u8; 32],
    version: u32,
    class: u32,
    confidence: u32,
    outputs_sha256: [u8; 32],
}
const EVENT_LEN: usize = 8 + 32 + 4 + 4 + 4 + 32;
const _: () = assert!(core::mem::offset_of!(InferenceEvent, outputs_sha256) + 32 == EVENT_LEN);

/// An input vector as `exec::run` takes it: little-endian i32 bytes.
pub(crate) struct Input<'a> {
    pub count: usize,
    pub bytes: &'a [u8],
}

/// The values of a features account of this program, out of line (the hot path without the
/// flag pays nothing for it).
#[inline(never)]
pub(crate) fn features_of<'a>(
    program_id: &Address,
    acc: &'a AccountView,
    out: &mut Input<'a>,
) -> Result<(), MlAgentError> {
    // SAFETY: read-only view; no mutable reference to the account's data is live.
    let (_, values) = unsafe { crate::state::features::FeaturesAccount::load(acc, program_id)? };
    out.count = values.len();
    // SAFETY: the values' bytes; u8 has no alignment needs.
    out.bytes =
        unsafe { core::slice::from_raw_parts(values.as_ptr() as *const u8, 4 * values.len()) };
    Ok(())
}

/// What `infer` needs of the active version.
struct Active<'a> {
    version: u32,
    /// `finalize_version` recorded that `ModelView::parse` accepts the bytes.
    checked: bool,
    /// `finalize_version` recorded that a checked forward pass succeeds on the bytes
    /// (`ops_checkable`), so the op checks that do not depend on the input can be skipped.
    ops_checked: bool,
    bytes: &'a [u8],
}

/// `load_active` out of line: its own registers instead of stack reloads inside the
/// instruction's large function, and the result through `out` (BPF returns one register).
#[inline(never)]
fn active_model<'a>(
    program_id: &Address,
    model: &'a AccountView,
    weights: &'a AccountView,
    out: &mut Active<'a>,
) -> Result<(), MlAgentError> {
    let a = load_active(program_id, model, weights)?;
    out.version = a.weights.version;
    (out.checked, out.ops_checked) = trusted_marks(a.weights);
    out.bytes = a.bytes;
    Ok(())
}

/// Largest file `finalize_version` dry-runs for `OPS_CHECKED` (the pass costs up to a few CU per
/// byte of weights; larger files keep the checked path).
pub const OPS_CHECK_MAX_BYTES: usize = 4096;

/// Largest compute bound (`kernels::cost`) of a file `finalize_version` dry-runs: a small file
/// can still hold a lot of work (a convolution reuses its weights at every position), and the
/// dry run must fit in the finalize transaction whatever the file.
pub const OPS_CHECK_MAX_CU: u64 = 100_000;

/// Whether `bytes` (sealed, at their final address) may take `infer`'s unchecked op path: the
/// checked forward pass succeeds on them, in the same scratch layout as `infer`'s, on the
/// features at their declared lower bounds. Every check the unchecked path skips depends only
/// on the file (offsets, counts, widths, parameters), never on the features, so passing once
/// means passing for every input; the checks that do depend on the input (feature ranges, tree
/// walks, sparse columns) stay in both paths. A failing pass leaves the version unmarked.
pub fn ops_checkable(bytes: &[u8]) -> bool {
    if bytes.len() > OPS_CHECK_MAX_BYTES {
        return false;
    }
    let Ok(view) = ModelView::parse(bytes) else {
        return false;
    };
    if crate::kernels::cost::cost_bound(&view) > OPS_CHECK_MAX_CU {
        return false;
    }
    let (lo, _) = view.ranges();
    // SAFETY: n_features i32 inside the file (parse checked them); any bytes are valid u8.
    let features =
        unsafe { core::slice::from_raw_parts(lo.as_ptr() as *const u8, 4 * view.n_features) };
    #[cfg(target_arch = "bpf")]
    // SAFETY: the only use of the heap region in this instruction.
    let mut scratch = unsafe { Scratch::heap() };
    #[cfg(not(target_arch = "bpf"))]
    let mut arena = std::vec![0i64; crate::kernels::scratch::DEFAULT_HEAP_BYTES / 8];
    #[cfg(not(target_arch = "bpf"))]
    let mut scratch = Scratch::new(&mut arena);
    // The same first allocation as `process`, so the pass sees the same arena size.
    if scratch.take(MAX_OUTPUTS + 2).is_err() {
        return false;
    }
    run::<_, false>(&view, features, &mut scratch, &mut NoObserver).is_ok()
}

/// Map a kernel error to the program error, logging what a client needs to fix it.
pub(crate) fn exec_error(e: ExecError) -> pinocchio::error::ProgramError {
    match e {
        ExecError::FeatureCount => MlAgentError::FeatureCountMismatch.into(),
        ExecError::FeatureOutOfRange(j) => {
            log_feature_out_of_range(j);
            MlAgentError::FeatureOutOfRange.into()
        }
        ExecError::Model(why) => {
            log("ml_agent: the model cannot be executed:");
            log(why.msg());
            MlAgentError::UnsupportedModel.into()
        }
    }
}

/// "ml_agent: feature <j> is outside the model's declared range", without core::fmt.
fn log_feature_out_of_range(j: u32) {
    const HEAD: &[u8] = b"ml_agent: feature ";
    const TAIL: &[u8] = b" is outside the model's declared range";
    let mut msg = [0u8; 18 + 10 + 38];
    msg[..HEAD.len()].copy_from_slice(HEAD);
    let mut digits = [0u8; 10];
    let (mut n, mut v) = (0, j);
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        v /= 10;
        n += 1;
        if v == 0 {
            break;
        }
    }
    for i in 0..n {
        msg[HEAD.len() + i] = digits[n - 1 - i];
    }
    let end = HEAD.len() + n + TAIL.len();
    msg[HEAD.len() + n..end].copy_from_slice(TAIL);
    log(core::str::from_utf8(&msg[..end]).unwrap_or("ml_agent: feature out of range"));
}

#[inline(always)]
fn log(msg: &str) {
    #[cfg(target_arch = "bpf")]
    // SAFETY: a valid UTF-8 slice.
    unsafe {
        pinocchio::syscalls::sol_log_(msg.as_ptr(), msg.len() as u64);
    }
    #[cfg(not(target_arch = "bpf"))]
    let _ = msg;
}

#[inline(always)]
fn log_cu() {
    #[cfg(target_arch = "bpf")]
    // SAFETY: no arguments.
    unsafe {
        pinocchio::syscalls::sol_log_compute_units_();
    }
}

/// Logs the remaining compute units after the inputs and after each op.
struct CuLog;

impl Observer for CuLog {
    #[inline(always)]
    fn inputs(&mut self, _q: Option<&[i64]>) {
        log_cu();
    }
    #[inline(always)]
    fn op(&mut self, _i: usize, _out: &[i64]) {
        log_cu();
    }
}
