//! `close_features`: the owner closes a features account and takes its rent back.

use pinocchio::{AccountView, Address, ProgramResult};

use super::load_owned;
use crate::checks;
use crate::error::MlAgentError;
use crate::instructions::registry::close_account;
use crate::interface::{AccountSpec, InstructionSpec};
use crate::state::features::FEATURES_PDA;

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "close_features",
    "Close a features account (owner only) and return its rent to the owner.",
    &[
        AccountSpec::new("owner")
            .mutable()
            .signer()
            .docs("Receives the rent."),
        AccountSpec::new("features").mutable().pda(FEATURES_PDA),
    ],
    &[],
    None,
);

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [owner, features, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    crate::args::ArgReader::new(data).finish()?;
    checks::writable(owner)?;
    checks::writable(features)?;
    // SAFETY: a read of the header; no reference outlives this check.
    unsafe { load_owned(features, owner, program_id)? };
    close_account(features, owner)?;
    Ok(())
}
