//! `propose_authority(new_authority)`: first step of a two-step authority transfer. Nothing
//! changes hands until `new_authority` signs `accept_authority`, so a typo cannot lock the model
//! away. Proposing the all-zero key (the default pubkey) cancels a pending proposal.

use pinocchio::{AccountView, Address, ProgramResult};

use super::{require_authority, require_not_frozen};
use crate::args::ArgReader;
use crate::checks;
use crate::error::MlAgentError;
use crate::events::{emit, BorshWriter};
use crate::interface::{field, AccountSpec, InstructionSpec, Ty, TypeSpec};
use crate::state::model::ModelHeader;

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "propose_authority",
    "Propose a new authority (all-zero key cancels); it takes over when it accepts.",
    &[
        AccountSpec::new("authority").signer(),
        AccountSpec::new("model")
            .mutable()
            .pda(crate::state::model::MODEL_PDA),
    ],
    &[field("new_authority", Ty::Pubkey)],
    None,
);

pub const AUTHORITY_PROPOSED: TypeSpec = TypeSpec::event(
    "AuthorityProposed",
    "An authority transfer was proposed (or cancelled, with an all-zero pending authority).",
    &[
        field("model", Ty::Pubkey),
        field("authority", Ty::Pubkey),
        field("pending_authority", Ty::Pubkey),
        field("slot", Ty::U64),
    ],
);

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [authority, model, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    let mut args = ArgReader::new(data);
    let new_authority = *args.array::<32>()?;
    args.finish()?;

    checks::writable(model)?;
    // SAFETY: only view of the header in this instruction.
    let h: &mut ModelHeader = unsafe { ModelHeader::load(model, program_id)? };
    require_authority(h, authority)?;
    require_not_frozen(h)?;
    let slot = super::slot()?;
    h.pending_authority = new_authority;
    h.updated_slot = slot;

    let mut buf = [0u8; 112];
    let mut e = BorshWriter::event(&AUTHORITY_PROPOSED, &mut buf);
    e.bytes(model.address().as_ref())
        .bytes(&h.authority)
        .bytes(&new_authority)
        .u64(slot);
    emit(e.finish());
    Ok(())
}
