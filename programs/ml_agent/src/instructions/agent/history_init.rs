//! `init_agent_history(window)`: give an agent a feature history of `window` steps (authority
//! only; the authority pays the rent). PDA `["agent_history", agent]`, `window * n_features`
//! i32 values (`state::agent_history`).
//!
//! The shape is fixed here: `T = window`, `F = the agent's feature count` (which never
//! changes). If the agent's models already read a window (a model of `T' * F` inputs accepted
//! by `create_agent` / `set_agent_models`), `window` must be that `T'`. From now on every
//! `agent_step` must pass this account, and `set_agent_models` accepts window models only of
//! this shape. The history starts empty: window models run once it holds `T` vectors.

use pinocchio::{cpi::Seed, AccountView, Address, ProgramResult};

use super::{check_authority, load_agent};
use crate::args::ArgReader;
use crate::checks;
use crate::error::MlAgentError;
use crate::events::{emit, BorshWriter};
use crate::instructions::market::create_pda;
use crate::interface::{field, AccountSpec, InstructionSpec, Ty, TypeSpec, SYSTEM_PROGRAM};
use crate::state::agent_history::{
    AgentHistory, AGENT_HISTORY_PDA, AGENT_HISTORY_SEED, MAX_WINDOW, MIN_WINDOW,
};

pub const INIT_AGENT_HISTORY: InstructionSpec = InstructionSpec::new(
    "init_agent_history",
    "Create the agent's feature history (authority only, who pays the rent): a ring of the \
     last `window` (2..=128) feature vectors agent_step computes, which models of window x \
     n_features inputs read (time-major, oldest first). If the agent's models already read a \
     window, `window` must be theirs. Every agent_step must then pass it.",
    &[
        AccountSpec::new("authority").mutable().signer(),
        AccountSpec::new("agent")
            .mutable()
            .pda(crate::state::agent::AGENT_PDA),
        AccountSpec::new("history").mutable().pda(AGENT_HISTORY_PDA),
        AccountSpec::new("system_program").address(SYSTEM_PROGRAM),
    ],
    &[field("window", Ty::U16)],
    None,
);

pub const AGENT_HISTORY_CHANGED: TypeSpec = TypeSpec::event(
    "AgentHistoryChanged",
    "An agent's feature history was created (or closed: window 0) at step `step`.",
    &[
        field("agent", Ty::Pubkey),
        field("history", Ty::Pubkey),
        field("step", Ty::U64),
        field("window", Ty::U16),
        field("n_features", Ty::U8),
    ],
);

pub fn init_agent_history(
    program_id: &Address,
    accounts: &mut [AccountView],
    data: &[u8],
) -> ProgramResult {
    let [authority, agent_acc, history, system_program, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    let mut args = ArgReader::new(data);
    let window = args.u16()?;
    args.finish()?;
    checks::writable(authority)?;
    checks::writable(agent_acc)?;
    checks::writable(history)?;
    checks::address(system_program, &pinocchio_system::ID)?;
    // SAFETY: the only view of the agent's data in this instruction.
    let agent = unsafe { load_agent(agent_acc, program_id)? };
    check_authority(agent, authority)?;
    if agent.has_history != 0 {
        return Err(MlAgentError::HistoryExists.into());
    }
    if !(MIN_WINDOW..=MAX_WINDOW).contains(&window)
        || (agent.window_models != 0 && window != agent.history_window)
    {
        return Err(MlAgentError::BadWindow.into());
    }
    let ak = agent_acc.address().as_ref();
    let (expected, bump) = Address::find_program_address(&[AGENT_HISTORY_SEED, ak], program_id);
    checks::address(history, &expected).map_err(|_| MlAgentError::ConstraintSeeds)?;
    if !history.is_data_empty() || !history.owned_by(&pinocchio_system::ID) {
        return Err(MlAgentError::AccountDiscriminatorAlreadySet.into());
    }
    let b = [bump];
    create_pda(
        authority,
        history,
        AgentHistory::space(window, agent.n_features),
        program_id,
        &[
            Seed::from(AGENT_HISTORY_SEED),
            Seed::from(ak),
            Seed::from(&b),
        ],
    )?;
    // SAFETY: freshly created and zeroed, `space` >= LEN bytes, 8-aligned, no other borrow.
    let h = unsafe { &mut *(history.data_ptr() as *mut AgentHistory) };
    h.discriminator = AgentHistory::SPEC.discriminator;
    h.agent = agent_acc.address().to_bytes();
    h.window = window;
    h.n_features = agent.n_features;
    h.bump = bump;
    h.created_step = agent.step;
    agent.has_history = 1;
    agent.history_window = window;

    emit_history_event(agent_acc, history, agent.step, window, agent.n_features);
    Ok(())
}

/// `AgentHistoryChanged` (window 0: closed).
pub fn emit_history_event(
    agent_acc: &AccountView,
    history: &AccountView,
    step: u64,
    window: u16,
    n_features: u8,
) {
    let mut buf = [0u8; 8 + 64 + 8 + 2 + 1];
    let mut w = BorshWriter::event(&AGENT_HISTORY_CHANGED, &mut buf);
    w.bytes(agent_acc.address().as_ref())
        .bytes(history.address().as_ref())
        .u64(step)
        .u16(window)
        .u8(n_features);
    emit(w.finish());
}
