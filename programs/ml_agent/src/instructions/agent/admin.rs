//! Authority-only agent instructions: `pause_agent`, `resume_agent`, `deposit`, `withdraw`.
//! The crank never calls these; only the authority's signature moves funds outside a decision.

use pinocchio::{cpi::Signer, AccountView, Address, ProgramResult};

use super::{agent_seeds, check_authority, load_agent};
use crate::args::ArgReader;
use crate::checks;
use crate::error::MlAgentError;
use crate::interface::{field, AccountSpec, InstructionSpec, Ty};
use crate::token::{self, TOKEN_PROGRAM, TOKEN_PROGRAM_ID};

const AUTH_AGENT: &[AccountSpec] = &[
    AccountSpec::new("authority").signer(),
    AccountSpec::new("agent")
        .mutable()
        .pda(crate::state::agent::AGENT_PDA),
];

pub const PAUSE_AGENT: InstructionSpec = InstructionSpec::new(
    "pause_agent",
    "Stop trading: agent_step records Paused decisions until resume_agent (authority only).",
    AUTH_AGENT,
    &[],
    None,
);

pub const RESUME_AGENT: InstructionSpec = InstructionSpec::new(
    "resume_agent",
    "Resume trading after pause_agent (authority only).",
    AUTH_AGENT,
    &[],
    None,
);

const FUNDS_ACCOUNTS: &[AccountSpec] = &[
    AccountSpec::new("authority").signer(),
    AccountSpec::new("agent").pda(crate::state::agent::AGENT_PDA),
    AccountSpec::new("vault_a").mutable().relations(&["agent"]),
    AccountSpec::new("vault_b").mutable().relations(&["agent"]),
    AccountSpec::new("user_a").mutable(),
    AccountSpec::new("user_b").mutable(),
    AccountSpec::new("token_program").address(TOKEN_PROGRAM),
];

pub const DEPOSIT: InstructionSpec = InstructionSpec::new(
    "deposit",
    "Move tokens from the authority's accounts into the agent's vaults (authority only).",
    FUNDS_ACCOUNTS,
    &[field("amount_a", Ty::U64), field("amount_b", Ty::U64)],
    None,
);

pub const WITHDRAW: InstructionSpec = InstructionSpec::new(
    "withdraw",
    "Move tokens from the agent's vaults to any accounts (authority only).",
    FUNDS_ACCOUNTS,
    &[field("amount_a", Ty::U64), field("amount_b", Ty::U64)],
    None,
);

// Inlined: the slices and flag are more arguments than an out-of-line BPF call can pass.
#[inline(always)]
fn set_paused(
    program_id: &Address,
    accounts: &mut [AccountView],
    data: &[u8],
    paused: u8,
) -> ProgramResult {
    let [authority, agent_acc, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    ArgReader::new(data).finish()?;
    checks::writable(agent_acc)?;
    // SAFETY: the only view of the agent in this instruction.
    let agent = unsafe { load_agent(agent_acc, program_id)? };
    check_authority(agent, authority)?;
    agent.paused = paused;
    Ok(())
}

pub fn pause_agent(
    program_id: &Address,
    accounts: &mut [AccountView],
    data: &[u8],
) -> ProgramResult {
    set_paused(program_id, accounts, data, 1)
}

pub fn resume_agent(
    program_id: &Address,
    accounts: &mut [AccountView],
    data: &[u8],
) -> ProgramResult {
    set_paused(program_id, accounts, data, 0)
}

#[inline(always)]
fn move_funds(
    program_id: &Address,
    accounts: &mut [AccountView],
    data: &[u8],
    out: bool,
) -> ProgramResult {
    let [authority, agent_acc, vault_a, vault_b, user_a, user_b, token_program, ..] = accounts
    else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    let mut args = ArgReader::new(data);
    let (amount_a, amount_b) = (args.u64()?, args.u64()?);
    args.finish()?;
    checks::address(token_program, &TOKEN_PROGRAM_ID)?;
    // SAFETY: read-only use of the agent; no other view is live.
    let agent = unsafe { load_agent(agent_acc, program_id)? };
    check_authority(agent, authority)?;
    if vault_a.address().to_bytes() != agent.vault_a
        || vault_b.address().to_bytes() != agent.vault_b
    {
        return Err(MlAgentError::WrongVault.into());
    }
    let id = agent.agent_id.to_le_bytes();
    let bump = [agent.bump];
    let seeds = agent_seeds(agent, &id, &bump);
    for (vault, user, amount) in [
        (&*vault_a, &*user_a, amount_a),
        (&*vault_b, &*user_b, amount_b),
    ] {
        if amount == 0 {
            continue;
        }
        if out {
            token::transfer(vault, user, agent_acc, amount, &[Signer::from(&seeds)])?;
        } else {
            token::transfer(user, vault, authority, amount, &[])?;
        }
    }
    Ok(())
}

pub fn deposit(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    move_funds(program_id, accounts, data, false)
}

pub fn withdraw(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    move_funds(program_id, accounts, data, true)
}
