//! `infer_step(max_units)`: advance a job (anyone may; the job pins everything that matters).
//!
//! Checks that the model and weights accounts are the job's pinned version: the addresses, and
//! in the weights account the model, the version number and both content hashes, and that the
//! version is finalized and not closed. A version closed and another activated since the job
//! was created fails here (`JobModelMismatch`): a job never finishes on other weights.
//!
//! Then it runs units while `sol_remaining_compute_units` leaves `STEP_RESERVE` after the next
//! unit's bound (and at most `max_units`, 0 = no cap); a step that cannot afford one unit fails
//! (`StepBudget`) instead of landing a transaction that does nothing. The step that runs the
//! last unit publishes the result exactly as `infer` does (return data and `Inference`
//! event). Stepping a finished job is an error (`JobFinished`): its result is in the account.

use pinocchio::{AccountView, Address, ProgramResult};

use crate::args::ArgReader;
use crate::checks;
use crate::error::MlAgentError;
use crate::instructions::infer::{exec_error, publish, Published};
use crate::interface::{field, AccountSpec, InstructionSpec, Ty};
use crate::kernels::job::{advance, outputs, Job, Meter, Run};
use crate::kernels::model::ModelView;
use crate::state::job::{InferenceJob, JOB_PDA};
use crate::state::model::{ModelWeights, VersionStatus};

/// CU kept after the last unit of a step: the cursor writes, the return data, the SHA-256 of
/// up to 126 outputs and the event (measured ~3,000; twice that for margin).
pub const STEP_RESERVE: u64 = 6_000;

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

/// The runtime's remaining compute units.
struct Syscall;
impl Meter for Syscall {
    #[inline(always)]
    fn remaining(&mut self) -> u64 {
        #[cfg(target_arch = "bpf")]
        // SAFETY: no arguments.
        unsafe {
            pinocchio::syscalls::sol_remaining_compute_units()
        }
        #[cfg(not(target_arch = "bpf"))]
        u64::MAX
    }
}

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
    let mut run = Run {
        meter: &mut Syscall,
        reserve: STEP_RESERVE,
        max_units,
    };
    let mut jb = Job {
        model: &view,
        raw: jv.snapshot,
        cursor: &mut j.cursor,
        bufs: &mut bufs,
    };
    let ran = advance(&mut jb, &mut run).map_err(exec_error)?;
    if ran == 0 {
        return Err(MlAgentError::StepBudget.into());
    }
    j.units_done += ran;
    j.steps = j.steps.wrapping_add(1);
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
