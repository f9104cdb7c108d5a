//! `close_version`: close a version that is not active (staged, finalized or retired) and return
//! its rent to the authority. On a frozen model only retired versions exist besides the active
//! one, and closing them leaves the header untouched, so a frozen header never changes.

use pinocchio::{AccountView, Address, ProgramResult};

use super::{close_account, load_weights_of, require_authority, ZERO};
use crate::checks;
use crate::error::MlAgentError;
use crate::events::{emit, BorshWriter};
use crate::interface::{field, AccountSpec, InstructionSpec, Ty, TypeSpec};
use crate::state::model::{ModelHeader, ModelStatus, VersionStatus};

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "close_version",
    "Close a non-active version and return its rent to the authority.",
    &[
        AccountSpec::new("authority")
            .mutable()
            .signer()
            .docs("Receives the rent."),
        AccountSpec::new("model")
            .mutable()
            .pda(crate::state::model::MODEL_PDA),
        AccountSpec::new("weights").mutable(),
    ],
    &[],
    None,
);

pub const VERSION_CLOSED: TypeSpec = TypeSpec::event(
    "VersionClosed",
    "A version's weights account was closed and its rent returned.",
    &[
        field("model", Ty::Pubkey),
        field("weights", Ty::Pubkey),
        field("version", Ty::U32),
        field("lamports", Ty::U64),
        field("slot", Ty::U64),
    ],
);

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [authority, model, weights, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    crate::args::ArgReader::new(data).finish()?;

    checks::writable(authority)?;
    checks::writable(model)?;
    checks::writable(weights)?;
    // SAFETY: header and weights have different discriminators, so they are distinct accounts.
    let h: &mut ModelHeader = unsafe { ModelHeader::load(model, program_id)? };
    require_authority(h, authority)?;
    // SAFETY: see above.
    let w = unsafe { load_weights_of(weights, program_id, model.address())? };
    if w.fixed.status == VersionStatus::Active as u8 {
        return Err(MlAgentError::VersionActive.into());
    }
    let version = w.fixed.version;
    let slot = super::slot()?;
    if h.status != ModelStatus::Frozen as u8 {
        if h.staged_weights == weights.address().to_bytes() {
            h.staged_weights = ZERO;
            h.staged_version = 0;
        }
        h.live_versions = h
            .live_versions
            .checked_sub(1)
            .ok_or(MlAgentError::ArithmeticOverflow)?;
        h.updated_slot = slot;
    }
    w.fixed.status = VersionStatus::Closed as u8;
    let lamports = close_account(weights, authority)?;

    let mut buf = [0u8; 96];
    let mut e = BorshWriter::event(&VERSION_CLOSED, &mut buf);
    e.bytes(model.address().as_ref())
        .bytes(weights.address().as_ref())
        .u32(version)
        .u64(lamports)
        .u64(slot);
    emit(e.finish());
    Ok(())
}
