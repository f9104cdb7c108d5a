//! `infer_step(max_units)`: advance a job (anyone may; the job pins everything that matters).
//!
//! Checks that the model and weights accounts are the job's pinned version: the addresses, and
//! in the weights account the model, the version number and both content hashes, and that the
//! version is finalized and not closed. A version closed and another activated since the job
//! was created fails here (`JobModelMismatch`): a job never finishes on other weights.
//!
//! Then it runs units of work:
//! * `max_units > 0`: exactly that many (or what is left): the caller chose the work, e.g. the
//!   SDK from a simulation of this very step. Too many for the transaction's compute limit
//!   fails the transaction, which changes nothing.
//! * `max_units == 0`: as many as `STEP_BUDGET` covers by the units' upper bounds
//!   (`kernels::cost`, about twice their measured cost), so the step cannot run out of compute
//!   at the 1.4M limit. A program cannot read its remaining compute on mainnet: the
//!   `sol_remaining_compute_units` syscall's feature gate (SIMD-0049) is held, and calling it
//!   aborts (as it does on Surfpool).
//!
//! A step that cannot afford one unit fails (`StepBudget`) instead of landing a transaction
//! that does nothing. Every step emits `JobStepped`; the step that runs the last unit also
//! publishes the result exactly as `infer` does (return data and `Inference` event). Stepping a
//! finished job is an error (`JobFinished`): its result is in the account.

use pinocchio::{AccountView, Address, ProgramResult};

use crate::args::ArgReader;
use crate::checks;
use crate::error::MlAgentError;
use crate::events::{emit, BorshWriter};
use crate::instructions::infer::{exec_error, publish, Published, MAX_OUTPUTS};
use crate::interface::{field, AccountSpec, InstructionSpec, Ty, TypeSpec};
use crate::kernels::job::{advance, outputs, BoundMeter, Job, Run, Unmetered};
use crate::kernels::model::ModelView;
use crate::kernels::scratch::{Scratch, DEFAULT_HEAP_BYTES};
use crate::state::job::{InferenceJob, JOB_PDA};
use crate::state::model::{ModelWeights, VersionStatus};

/// CU kept after the last unit of a step: the cursor writes, the return data, the SHA-256 of
/// up to 126 outputs and the events (measured ~3,000; twice that for margin).
pub const STEP_RESERVE: u64 = 6_000;
/// Bound-CU a `max_units == 0` step may spend: the 1.4M limit less the reserve and 40,000 for
/// what runs before the units (entrypoint, pin checks, parse) and the compute-budget
/// instructions.
pub const STEP_BUDGET: u64 = 1_400_000 - 40_000;
/// Working words a step lends the job from the heap (a recurrent op's gate buffers), after the
/// words `publish` uses for the return data.
pub const TMP_WORDS: usize = DEFAULT_HEAP_BYTES / 8 - (MAX_OUTPUTS + 2);

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "infer_step",
    "Advance an inference job as far as the remaining compute units allow (and at most \
     max_units units; 0 = no cap). Permissionless. The step that finishes the job returns \
     InferenceResult and emits Inference exactly as infer does; stepping a finished job fails \
     with JobFinished.",
    &[
        AccountSpec::new("job").mutable().pda(JOB_PDA),
        AccountSpec::new("model")
            .pda(crate::state::model::MODEL_PDA)
            .docs("The job's pinned model."),
        AccountSpec::new("weights").docs("The job's pinned ModelWeights account."),
    ],
    &[field("max_units", Ty::U32)],
    Some(Ty::Defined("InferenceResult")),
);

pub const JOB_STEPPED: TypeSpec = TypeSpec::event(
    "JobStepped",
    "Emitted by every infer_step: the units it ran, the job's total, the cursor after it (op, \
     unit) and whether the job is done.",
    &[
        field("job", Ty::Pubkey),
        field("units", Ty::U64),
        field("units_done", Ty::U64),
        field("op", Ty::U32),
        field("unit", Ty::U32),
        field("done", Ty::U8),
    ],
);

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [job, model, weights, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    let mut args = ArgReader::new(data);
    let max_units = args.u32()? as u64;
    args.finish()?;

    checks::writable(job)?;
    // SAFETY: the only reference to the job's data; the weights account is another account
    // (its address is checked against the pinned one, never the job's own).
    let jv = unsafe { InferenceJob::load(job, program_id)? };
    let j = jv.fixed;
    if j.cursor.done != 0 {
        return Err(MlAgentError::JobFinished.into());
    }
    let bytes = pinned_bytes(program_id, j, model, weights)?;
    let view = ModelView::parse(bytes).map_err(exec_error)?;
    let mut bufs = jv.bufs;
    #[cfg(target_arch = "bpf")]
    // SAFETY: this instruction's heap users are this arena and `publish`, which runs after the
    // units and takes only the first MAX_OUTPUTS + 2 words, skipped here.
    let mut scratch = unsafe { Scratch::heap() };
    #[cfg(not(target_arch = "bpf"))]
    let mut arena = std::vec![0i64; DEFAULT_HEAP_BYTES / 8];
    #[cfg(not(target_arch = "bpf"))]
    let mut scratch = Scratch::new(&mut arena);
    scratch.take(MAX_OUTPUTS + 2).map_err(exec_error)?;
    bufs.tmp = scratch.take(TMP_WORDS).map_err(exec_error)?;
    let mut jb = Job {
        model: &view,
        raw: jv.snapshot,
        cursor: &mut j.cursor,
        bufs: &mut bufs,
    };
    let ran = if max_units == 0 {
        let mut meter = BoundMeter {
            left: STEP_BUDGET - STEP_RESERVE,
        };
        let mut run = Run {
            meter: &mut meter,
            reserve: 0,
            max_units: 0,
        };
        advance(&mut jb, &mut run)
    } else {
        let mut run = Run {
            meter: &mut Unmetered,
            reserve: 0,
            max_units,
        };
        advance(&mut jb, &mut run)
    }
    .map_err(exec_error)?;
    if ran == 0 {
        return Err(MlAgentError::StepBudget.into());
    }
    j.units_done += ran;
    j.steps = j.steps.wrapping_add(1);
    let mut buf = [0u8; 8 + 32 + 8 + 8 + 4 + 4 + 1];
    let mut e = BorshWriter::event(&JOB_STEPPED, &mut buf);
    e.bytes(job.address().as_ref())
        .u64(ran)
        .u64(j.units_done)
        .u32(j.cursor.op)
        .u32(j.cursor.unit)
        .u8(j.cursor.done);
    emit(e.finish());
    if j.cursor.done != 0 {
        j.finished_slot = crate::instructions::registry::slot()?;
        publish(&Published {
            model: model.address(),
            version: j.version,
            class: j.cursor.class,
            confidence: j.cursor.confidence,
            outputs: outputs(&j.cursor, &bufs),
        })?;
    }
    Ok(())
}

/// The pinned version's model bytes, or `JobModelMismatch`.
#[inline(never)]
fn pinned_bytes<'a>(
    program_id: &Address,
    j: &InferenceJob,
    model: &'a AccountView,
    weights: &'a AccountView,
) -> Result<&'a [u8], MlAgentError> {
    if model.address().to_bytes() != j.model || weights.address().to_bytes() != j.weights {
        return Err(MlAgentError::JobModelMismatch);
    }
    // SAFETY: read-only view of another account than the job (address checked above).
    let w = unsafe { ModelWeights::load(weights, program_id) }
        .map_err(|_| MlAgentError::JobModelMismatch)?;
    let f = &*w.fixed;
    let live = f.status == VersionStatus::Finalized as u8
        || f.status == VersionStatus::Active as u8
        || f.status == VersionStatus::Retired as u8;
    if !live
        || f.model != j.model
        || f.version != j.version
        || f.chunk_root != j.chunk_root
        || f.model_sha256 != j.model_sha256
    {
        return Err(MlAgentError::JobModelMismatch);
    }
    Ok(w.data)
}
