//! `close_agent_history`: delete the agent's feature history (authority only; the rent goes
//! back to the authority). The agent's window models then hold (WARMING_UP) until a new history
//! of their shape is created and filled again; a new history starts empty, so closing and
//! recreating one never shortens a warm-up or carries old values over.

use pinocchio::{AccountView, Address, ProgramResult};

use super::history_init::emit_history_event;
use super::{check_authority, load_agent};
use crate::args::ArgReader;
use crate::checks;
use crate::error::MlAgentError;
use crate::instructions::registry::close_account;
use crate::interface::{AccountSpec, InstructionSpec};
use crate::state::agent_history::{HistoryView, AGENT_HISTORY_PDA};

pub const CLOSE_AGENT_HISTORY: InstructionSpec = InstructionSpec::new(
    "close_agent_history",
    "Close the agent's feature history (authority only); its rent goes to the authority. \
     Window models hold (warming up) until a new history is created and filled.",
    &[
        AccountSpec::new("authority")
            .mutable()
            .signer()
            .docs("Receives the rent."),
        AccountSpec::new("agent")
            .mutable()
            .pda(crate::state::agent::AGENT_PDA),
        AccountSpec::new("history").mutable().pda(AGENT_HISTORY_PDA),
    ],
    &[],
    None,
);

pub fn close_agent_history(
    program_id: &Address,
    accounts: &mut [AccountView],
    data: &[u8],
) -> ProgramResult {
    let [authority, agent_acc, history, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    ArgReader::new(data).finish()?;
    checks::writable(authority)?;
    checks::writable(agent_acc)?;
    checks::writable(history)?;
    // SAFETY: the only view of the agent's data in this instruction.
    let agent = unsafe { load_agent(agent_acc, program_id)? };
    check_authority(agent, authority)?;
    // SAFETY: the only view of the history's data; dropped before the account is closed.
    let n_features = unsafe { HistoryView::load(history, program_id, agent_acc.address())? }
        .head
        .n_features;
    agent.has_history = 0;
    if agent.window_models == 0 {
        agent.history_window = 0;
    }
    close_account(history, authority)?;
    emit_history_event(agent_acc, history, agent.step, 0, n_features);
    Ok(())
}
