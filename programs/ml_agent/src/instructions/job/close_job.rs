//! `close_job`: the owner closes a job (finished or not) and takes its rent back.

use pinocchio::{AccountView, Address, ProgramResult};

use crate::checks;
use crate::error::MlAgentError;
use crate::instructions::registry::close_account;
use crate::interface::{AccountSpec, InstructionSpec};
use crate::state::job::{InferenceJob, JOB_PDA};

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "close_job",
    "Close an inference job at any point (owner only) and return its rent to the owner.",
    &[
        AccountSpec::new("owner")
            .mutable()
            .signer()
            .docs("Receives the rent."),
        AccountSpec::new("job").mutable().pda(JOB_PDA),
    ],
    &[],
    None,
);

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [owner, job, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    crate::args::ArgReader::new(data).finish()?;
    checks::signer(owner)?;
    checks::writable(owner)?;
    checks::writable(job)?;
    checks::program_account(job, program_id, &InferenceJob::SPEC, InferenceJob::LEN)?;
    // SAFETY: checked above to hold at least LEN bytes; read-only.
    let j = unsafe { &*(job.data_ptr() as *const InferenceJob) };
    if j.owner != owner.address().to_bytes() {
        return Err(MlAgentError::NotJobOwner.into());
    }
    close_account(job, owner)?;
    Ok(())
}
