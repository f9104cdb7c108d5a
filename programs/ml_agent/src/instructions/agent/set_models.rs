//! `set_agent_models`: replace an agent's models (authority only).
//!
//! The way back for an agent whose model became unavailable (`MODEL_UNAVAILABLE` steps): the
//! author closed the pinned version, activated one with other inputs, or closed the model. The
//! new set passes the checks `create_agent` makes (each model a 3-class classifier over exactly
//! the agent's features; a pinned version must be a finalized version of that model) and its
//! pins are recorded afresh. Nothing else changes: price history, counters, log, funds.

use pinocchio::{AccountView, Address, ProgramResult};

use super::{
    apply_model_set, check_authority, check_model_set, load_agent, ModelSet, ModelSetCheck, Pins,
};
use crate::args::ArgReader;
use crate::checks;
use crate::error::MlAgentError;
use crate::events::{emit, BorshWriter};
use crate::interface::{field, AccountSpec, InstructionSpec, Ty, TypeSpec};
use crate::state::agent::MAX_MODELS;

pub const SET_AGENT_MODELS: InstructionSpec = InstructionSpec::new(
    "set_agent_models",
    "Replace the agent's models (authority only), with the checks of create_agent: each model's \
     active version, or the pinned version, must be a 3-class classifier over the agent's \
     features. Remaining accounts: (model header, weights) per model, in order.",
    &[
        AccountSpec::new("authority").signer(),
        AccountSpec::new("agent").mutable(),
    ],
    &[
        field("n_models", Ty::U8),
        field("model_versions", Ty::Array(&Ty::U32, MAX_MODELS)),
        field("model_weights", Ty::Array(&Ty::U16, MAX_MODELS)),
    ],
    None,
);

pub const AGENT_MODELS_SET: TypeSpec = TypeSpec::event(
    "AgentModelsSet",
    "The authority replaced the agent's models; `step` is the next step to run with them.",
    &[
        field("agent", Ty::Pubkey),
        field("step", Ty::U64),
        field("n_models", Ty::U8),
        field("models", Ty::Array(&Ty::Pubkey, MAX_MODELS)),
        field("model_versions", Ty::Array(&Ty::U32, MAX_MODELS)),
    ],
);

pub fn set_agent_models(
    program_id: &Address,
    accounts: &mut [AccountView],
    data: &[u8],
) -> ProgramResult {
    let (fixed, models) = accounts.split_at_mut(accounts.len().min(2));
    let [authority, agent_acc] = fixed else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    let mut args = ArgReader::new(data);
    let set = ModelSet::read(&mut args)?;
    args.finish()?;
    checks::writable(agent_acc)?;
    // SAFETY: the only view of the agent in this instruction; the model accounts are others
    // (an agent is not a model header or weights account: discriminators differ).
    let agent = unsafe { load_agent(agent_acc, program_id)? };
    check_authority(agent, authority)?;
    if !set.valid() {
        return Err(MlAgentError::InvalidArgument.into());
    }
    let mut pins = Pins::default();
    check_model_set(
        program_id,
        models,
        &ModelSetCheck {
            set: &set,
            n_features: agent.n_features as usize,
            window: if agent.has_history != 0 {
                agent.history_window
            } else {
                0
            },
        },
        &mut pins,
    )?;
    apply_model_set(agent, &set, &pins);

    let mut buf = [0u8; 8 + 32 + 8 + 1 + 32 * MAX_MODELS + 4 * MAX_MODELS];
    let mut w = BorshWriter::event(&AGENT_MODELS_SET, &mut buf);
    w.bytes(agent_acc.address().as_ref())
        .u64(agent.step)
        .u8(set.n_models);
    for h in agent.models.iter() {
        w.bytes(h);
    }
    for v in set.versions {
        w.u32(v);
    }
    emit(w.finish());
    Ok(())
}
