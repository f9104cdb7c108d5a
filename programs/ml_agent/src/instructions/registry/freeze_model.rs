//! `freeze_model`: make the model immutable forever. Its active version can never be replaced,
//! closed or re-pointed, and the authority can no longer change; retired versions stay closable
//! (they hold rent, not content anyone reads).

use pinocchio::{AccountView, Address, ProgramResult};

use super::{require_authority, require_not_frozen, ZERO};
use crate::checks;
use crate::error::MlAgentError;
use crate::events::{emit, BorshWriter};
use crate::interface::{field, AccountSpec, InstructionSpec, Ty, TypeSpec};
use crate::state::model::{ModelHeader, ModelStatus};

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "freeze_model",
    "Make the model and its active version immutable forever.",
    &[
        AccountSpec::new("authority").signer(),
        AccountSpec::new("model")
            .mutable()
            .pda(crate::state::model::MODEL_PDA),
    ],
    &[],
    None,
);

pub const MODEL_FROZEN: TypeSpec = TypeSpec::event(
    "ModelFrozen",
    "A model was frozen at its active version.",
    &[
        field("model", Ty::Pubkey),
        field("version", Ty::U32),
        field("model_sha256", Ty::Array(&Ty::U8, 32)),
        field("slot", Ty::U64),
    ],
);

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [authority, model, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    crate::args::ArgReader::new(data).finish()?;

    checks::writable(model)?;
    // SAFETY: only view of the header in this instruction.
    let h: &mut ModelHeader = unsafe { ModelHeader::load(model, program_id)? };
    require_authority(h, authority)?;
    require_not_frozen(h)?;
    if h.status != ModelStatus::Ready as u8 {
        return Err(MlAgentError::NoActiveVersion.into());
    }
    // A staged version could never be activated or closed through the header again.
    if h.staged_weights != ZERO {
        return Err(MlAgentError::VersionPending.into());
    }
    let slot = super::slot()?;
    h.status = ModelStatus::Frozen as u8;
    h.pending_authority = ZERO;
    h.updated_slot = slot;

    let mut buf = [0u8; 88];
    let mut e = BorshWriter::event(&MODEL_FROZEN, &mut buf);
    e.bytes(model.address().as_ref())
        .u32(h.active_version)
        .bytes(&h.model_sha256)
        .u64(slot);
    emit(e.finish());
    Ok(())
}
