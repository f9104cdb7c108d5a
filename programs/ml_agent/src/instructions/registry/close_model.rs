//! `close_model`: close the model together with its active and staged versions. Retired
//! versions must be closed first (`close_version`): once the header is gone nobody could prove
//! authority over them and their rent would be stranded.
//!
//! The header is not deleted but shrunk to a `ModelTombstone`, which keeps the address taken:
//! otherwise the author could `create_model` the same `(creator, model_id)` again (same PDA,
//! versions numbered from 1 again) and upload other bytes under the address agents and users
//! recorded. All rent except the tombstone's (96 bytes) goes back to the authority.

use pinocchio::{AccountView, Address, ProgramResult};

use super::{close_account, is_none, load_weights_of, require_authority, require_not_frozen, ZERO};
use crate::checks;
use crate::error::MlAgentError;
use crate::events::{emit, BorshWriter};
use crate::interface::{field, AccountSpec, InstructionSpec, Ty, TypeSpec};
use crate::state::model::{ModelHeader, ModelStatus, ModelTombstone, VersionStatus};

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "close_model",
    "Close the model with its active and staged versions: the header becomes a ModelTombstone \
     (its id can never be reused) and all other rent goes to the authority.",
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
    "A model and its remaining versions were closed (the header is now a ModelTombstone); \
     `lamports` is the total rent returned.",
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
    lamports += entomb(model, authority, h, slot)?;

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

/// Shrink the header to a tombstone and return the rent it no longer needs to `authority`.
fn entomb(
    model: &mut AccountView,
    authority: &mut AccountView,
    h: &ModelHeader,
    slot: u64,
) -> Result<u64, pinocchio::error::ProgramError> {
    let t = ModelTombstone {
        discriminator: ModelTombstone::SPEC.discriminator,
        creator: h.creator,
        authority: h.authority,
        model_id: h.model_id,
        closed_slot: slot,
        version_count: h.version_count,
        padding: [0; 4],
    };
    let keep = crate::rent::minimum_balance(ModelTombstone::LEN)?;
    let give = model.lamports().saturating_sub(keep);
    let total = authority
        .lamports()
        .checked_add(give)
        .ok_or(MlAgentError::ArithmeticOverflow)?;
    authority.set_lamports(total);
    model.set_lamports(model.lamports() - give);
    // SAFETY: the header is ModelHeader::LEN >= ModelTombstone::LEN bytes and `h` (a copy was
    // taken above) is not used after this write. Shrinking the serialized data length is how
    // a program reallocates an account it owns downwards; the runtime drops the tail.
    unsafe {
        *(model.data_ptr() as *mut ModelTombstone) = t;
        (*model.account_mut_ptr()).data_len = ModelTombstone::LEN as u64;
    }
    Ok(give)
}
