//! `close_model`: close the header together with its active and staged versions, returning all
//! rent to the authority. Retired versions must be closed first (`close_version`): once the
//! header is gone nobody could prove authority over them and their rent would be stranded.

use pinocchio::{AccountView, Address, ProgramResult};

use super::{close_account, is_none, load_weights_of, require_authority, require_not_frozen, ZERO};
use crate::checks;
use crate::error::MlAgentError;
use crate::events::{emit, BorshWriter};
use crate::interface::{field, AccountSpec, InstructionSpec, Ty, TypeSpec};
use crate::state::model::{ModelHeader, ModelStatus, VersionStatus};

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "close_model",
    "Close the model header with its active and staged versions; rent goes to the authority.",
    &[
        AccountSpec::new("authority")
            .mutable()
            .signer()
            .docs("Receives the rent."),
        AccountSpec::new("model")
            .mutable()
            .pda(crate::state::model::MODEL_PDA),
        AccountSpec::new("active_weights")
            .mutable()
            .optional()
            .docs("Required when the model has an active version."),
        AccountSpec::new("staged_weights")
            .mutable()
            .optional()
            .docs("Required when the model has a staged version."),
    ],
    &[],
    None,
);

pub const MODEL_CLOSED: TypeSpec = TypeSpec::event(
    "ModelClosed",
    "A model and its remaining versions were closed; `lamports` is the total rent returned.",
    &[
        field("model", Ty::Pubkey),
        field("authority", Ty::Pubkey),
        field("versions_closed", Ty::U32),
        field("lamports", Ty::U64),
        field("slot", Ty::U64),
    ],
);

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [authority, model, active, staged, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    crate::args::ArgReader::new(data).finish()?;

    checks::writable(authority)?;
    checks::writable(model)?;
    // SAFETY: only view of the header; weights views below are of other accounts.
    let h: &mut ModelHeader = unsafe { ModelHeader::load(model, program_id)? };
    require_authority(h, authority)?;
    require_not_frozen(h)?;
    let mut expected = 0u32;
    for (acc, key) in [(&*active, h.active_weights), (&*staged, h.staged_weights)] {
        if key == ZERO {
            continue;
        }
        if is_none(acc, program_id) || acc.address().to_bytes() != key {
            return Err(MlAgentError::VersionsOutstanding.into());
        }
        checks::writable(acc)?;
        expected += 1;
    }
    if h.live_versions != expected {
        return Err(MlAgentError::VersionsOutstanding.into());
    }

    let slot = super::slot()?;
    let mut lamports = 0u64;
    for (acc, key) in [(active, h.active_weights), (staged, h.staged_weights)] {
        if key == ZERO {
            continue;
        }
        // SAFETY: a weights account listed by the header, distinct from it.
        let w = unsafe { load_weights_of(acc, program_id, model.address())? };
        w.fixed.status = VersionStatus::Closed as u8;
        lamports += close_account(acc, authority)?;
    }
    h.status = ModelStatus::Closed as u8;
    lamports += close_account(model, authority)?;

    let mut buf = [0u8; 96];
    let mut e = BorshWriter::event(&MODEL_CLOSED, &mut buf);
    e.bytes(model.address().as_ref())
        .bytes(authority.address().as_ref())
        .u32(expected)
        .u64(lamports)
        .u64(slot);
    emit(e.finish());
    Ok(())
}
