//! `close_agent`: end an agent (authority only). Both vaults are emptied into accounts the
//! authority names, the vault token accounts are closed and the agent account deleted; every
//! lamport of rent goes back to the authority. Balances are read here, not passed in, so
//! tokens donated to a vault after the authority looked leave with the rest.

use pinocchio::{cpi::Signer, AccountView, Address, ProgramResult};

use super::{agent_seeds, check_authority, load_agent};
use crate::args::ArgReader;
use crate::checks;
use crate::error::MlAgentError;
use crate::events::{emit, BorshWriter};
use crate::instructions::registry::close_account;
use crate::interface::{field, AccountSpec, InstructionSpec, Ty, TypeSpec};
use crate::token::{self, TOKEN_PROGRAM, TOKEN_PROGRAM_ID};

pub const CLOSE_AGENT: InstructionSpec = InstructionSpec::new(
    "close_agent",
    "Close the agent (authority only): both vault balances go to user_a / user_b, the vaults \
     and the agent account are closed and their rent returned to the authority. Refused while \
     the agent has a feature history (close_agent_history first).",
    &[
        AccountSpec::new("authority")
            .mutable()
            .signer()
            .docs("Receives the rent."),
        AccountSpec::new("agent").mutable(),
        AccountSpec::new("vault_a").mutable(),
        AccountSpec::new("vault_b").mutable(),
        AccountSpec::new("user_a")
            .mutable()
            .docs("Token account of mint A that receives vault A's balance."),
        AccountSpec::new("user_b")
            .mutable()
            .docs("Token account of mint B that receives vault B's balance."),
        AccountSpec::new("token_program").address(TOKEN_PROGRAM),
    ],
    &[],
    None,
);

pub const AGENT_CLOSED: TypeSpec = TypeSpec::event(
    "AgentClosed",
    "An agent was closed: the balances paid out of its vaults and the rent returned (lamports).",
    &[
        field("agent", Ty::Pubkey),
        field("authority", Ty::Pubkey),
        field("steps", Ty::U64),
        field("amount_a", Ty::U64),
        field("amount_b", Ty::U64),
        field("lamports", Ty::U64),
    ],
);

pub fn close_agent(
    program_id: &Address,
    accounts: &mut [AccountView],
    data: &[u8],
) -> ProgramResult {
    let [authority, agent_acc, vault_a, vault_b, user_a, user_b, token_program, ..] = accounts
    else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    ArgReader::new(data).finish()?;
    checks::writable(authority)?;
    checks::writable(agent_acc)?;
    checks::address(token_program, &TOKEN_PROGRAM_ID)?;
    // SAFETY: read-only use of the agent until it is closed below; no other view is live.
    let agent = unsafe { load_agent(agent_acc, program_id)? };
    check_authority(agent, authority)?;
    // A history left behind would outlive its agent (and a new agent at the same address
    // would inherit it): the authority closes it first (the SDK puts both in one transaction).
    if agent.has_history != 0 {
        return Err(MlAgentError::HistoryExists.into());
    }
    if vault_a.address().to_bytes() != agent.vault_a
        || vault_b.address().to_bytes() != agent.vault_b
    {
        return Err(MlAgentError::WrongVault.into());
    }
    let steps = agent.step;
    let id = agent.agent_id.to_le_bytes();
    let bump = [agent.bump];
    let seeds = agent_seeds(agent, &id, &bump);
    let (amount_a, amount_b) = (token::amount(vault_a), token::amount(vault_b));
    let mut lamports = vault_a.lamports() + vault_b.lamports();
    for (vault, user, amount) in [
        (&*vault_a, &*user_a, amount_a),
        (&*vault_b, &*user_b, amount_b),
    ] {
        if amount != 0 {
            token::transfer(vault, user, agent_acc, amount, &[Signer::from(&seeds)])?;
        }
        token::close_account(vault, authority, agent_acc, &[Signer::from(&seeds)])?;
    }
    lamports += close_account(agent_acc, authority)?;

    let mut buf = [0u8; 8 + 64 + 32];
    let mut w = BorshWriter::event(&AGENT_CLOSED, &mut buf);
    w.bytes(agent_acc.address().as_ref())
        .bytes(authority.address().as_ref())
        .u64(steps)
        .u64(amount_a)
        .u64(amount_b)
        .u64(lamports);
    emit(w.finish());
    Ok(())
}
