//! `accept_authority`: second step of the transfer, signed by the proposed authority. A staged
//! version's uploader key moves with it, so an upload in progress can be finished by the new
//! authority (the staged weights account must then be passed).

use pinocchio::{AccountView, Address, ProgramResult};

use super::{is_none, load_weights_of, require_not_frozen, ZERO};
use crate::checks;
use crate::error::MlAgentError;
use crate::events::{emit, BorshWriter};
use crate::interface::{field, AccountSpec, InstructionSpec, Ty, TypeSpec};
use crate::state::model::ModelHeader;

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "accept_authority",
    "Become the model's authority (signed by the proposed authority).",
    &[
        AccountSpec::new("new_authority").signer(),
        AccountSpec::new("model")
            .mutable()
            .pda(crate::state::model::MODEL_PDA),
        AccountSpec::new("staged_weights")
            .mutable()
            .optional()
            .docs("The staged version, required when one exists."),
    ],
    &[],
    None,
);

pub const AUTHORITY_ACCEPTED: TypeSpec = TypeSpec::event(
    "AuthorityAccepted",
    "The proposed authority accepted and now controls the model.",
    &[
        field("model", Ty::Pubkey),
        field("previous_authority", Ty::Pubkey),
        field("authority", Ty::Pubkey),
        field("slot", Ty::U64),
    ],
);

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [new_authority, model, staged, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    crate::args::ArgReader::new(data).finish()?;

    checks::signer(new_authority)?;
    checks::writable(model)?;
    // SAFETY: only view of the header in this instruction.
    let h: &mut ModelHeader = unsafe { ModelHeader::load(model, program_id)? };
    require_not_frozen(h)?;
    if h.pending_authority == ZERO {
        return Err(MlAgentError::NoPendingAuthority.into());
    }
    let new_key = new_authority.address().to_bytes();
    if h.pending_authority != new_key {
        return Err(MlAgentError::NotPendingAuthority.into());
    }
    if h.staged_weights != ZERO {
        if is_none(staged, program_id) || staged.address().to_bytes() != h.staged_weights {
            return Err(MlAgentError::WeightsNotStaged.into());
        }
        checks::writable(staged)?;
        // SAFETY: a weights account (different discriminator from the header).
        let w = unsafe { load_weights_of(staged, program_id, model.address())? };
        w.fixed.authority = new_key;
    }

    let slot = super::slot()?;
    let previous = h.authority;
    h.authority = new_key;
    h.pending_authority = ZERO;
    h.updated_slot = slot;

    let mut buf = [0u8; 112];
    let mut e = BorshWriter::event(&AUTHORITY_ACCEPTED, &mut buf);
    e.bytes(model.address().as_ref())
        .bytes(&previous)
        .bytes(&new_key)
        .u64(slot);
    emit(e.finish());
    Ok(())
}
