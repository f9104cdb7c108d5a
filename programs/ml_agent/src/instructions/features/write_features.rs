//! `write_features(offset, values)`: the owner overwrites `values.len()` values from `offset`.
//! A vector longer than one transaction carries is written in several calls.

use pinocchio::{AccountView, Address, ProgramResult};

use super::load_owned;
use crate::args::ArgReader;
use crate::checks;
use crate::error::MlAgentError;
use crate::interface::{field, AccountSpec, InstructionSpec, Ty};
use crate::state::features::FEATURES_PDA;

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "write_features",
    "Overwrite values[offset..offset + len] of a features account (owner only; i32 Q16.16).",
    &[
        AccountSpec::new("owner").signer(),
        AccountSpec::new("features").mutable().pda(FEATURES_PDA),
    ],
    &[field("offset", Ty::U32), field("values", Ty::Vec(&Ty::I32))],
    None,
);

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [owner, features, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    let mut args = ArgReader::new(data);
    let offset = args.u32()? as usize;
    let (n, raw) = args.vec_raw(4)?;
    args.finish()?;

    checks::writable(features)?;
    // SAFETY: the only reference to the features account's data in this instruction.
    let (f, values) = unsafe { load_owned(features, owner, program_id)? };
    let end = offset
        .checked_add(n)
        .filter(|e| *e <= values.len())
        .ok_or(MlAgentError::FeaturesOutOfBounds)?;
    for (dst, src) in values[offset..end].iter_mut().zip(raw.chunks_exact(4)) {
        *dst = i32::from_le_bytes([src[0], src[1], src[2], src[3]]);
    }
    f.updated_slot = crate::instructions::registry::slot()?;
    f.writes = f.writes.wrapping_add(1);
    Ok(())
}
