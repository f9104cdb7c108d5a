//! `close_page`: discard an upload page (e.g. of an abandoned or closed version) and return its
//! rent to the authority that opened it.

use pinocchio::{AccountView, Address, ProgramResult};

use super::close_account;
use crate::checks;
use crate::error::MlAgentError;
use crate::events::{emit, BorshWriter};
use crate::interface::{field, AccountSpec, InstructionSpec, Ty, TypeSpec};
use crate::state::model::ModelPage;

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "close_page",
    "Close an upload page without committing it; rent returns to the authority that opened it.",
    &[
        AccountSpec::new("authority").mutable().signer(),
        AccountSpec::new("page")
            .mutable()
            .pda(crate::state::model::PAGE_PDA),
    ],
    &[],
    None,
);

pub const PAGE_CLOSED: TypeSpec = TypeSpec::event(
    "PageClosed",
    "An upload page was closed without being committed.",
    &[
        field("weights", Ty::Pubkey),
        field("page", Ty::Pubkey),
        field("lamports", Ty::U64),
    ],
);

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [authority, page, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    crate::args::ArgReader::new(data).finish()?;
    checks::signer(authority)?;
    checks::writable(authority)?;
    checks::writable(page)?;
    // SAFETY: only view of the page in this instruction.
    let p = unsafe { ModelPage::load(page, program_id)? };
    if p.fixed.authority != authority.address().to_bytes() {
        return Err(MlAgentError::WrongAuthority.into());
    }
    let weights = p.fixed.weights;
    let lamports = close_account(page, authority)?;

    let mut buf = [0u8; 80];
    let mut e = BorshWriter::event(&PAGE_CLOSED, &mut buf);
    e.bytes(&weights)
        .bytes(page.address().as_ref())
        .u64(lamports);
    emit(e.finish());
    Ok(())
}
