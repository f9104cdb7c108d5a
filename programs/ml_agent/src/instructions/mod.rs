//! One module per instruction; each starts with its checks and declares its IDL spec.

pub mod agent;
pub mod features;
pub mod infer;
pub mod job;
pub mod market;
pub mod ping;
pub mod registry;

use crate::interface::InstructionSpec;

/// Every instruction, for dispatch and the IDL generator.
pub const INSTRUCTIONS: &[&InstructionSpec] = &[
    &ping::SPEC,
    &infer::SPEC,
    &registry::create_model::SPEC,
    &registry::create_version::SPEC,
    &registry::open_page::SPEC,
    &registry::write_chunk::SPEC,
    &registry::commit_pages::SPEC,
    &registry::close_page::SPEC,
    &registry::finalize_version::SPEC,
    &registry::activate_version::SPEC,
    &registry::freeze_model::SPEC,
    &registry::propose_authority::SPEC,
    &registry::accept_authority::SPEC,
    &registry::close_version::SPEC,
    &registry::close_model::SPEC,
    &market::pool::CREATE_POOL,
    &market::pool::ADD_LIQUIDITY,
    &market::pool::REMOVE_LIQUIDITY,
    &market::pool::SWAP,
    &market::pool::SYNC,
    &market::feed::CREATE_PRICE_FEED,
    &market::feed::PUBLISH_PRICE,
    &agent::create::CREATE_AGENT,
    &agent::create::CONFIGURE_AGENT,
    &agent::admin::PAUSE_AGENT,
    &agent::admin::RESUME_AGENT,
    &agent::admin::DEPOSIT,
    &agent::admin::WITHDRAW,
    &agent::set_models::SET_AGENT_MODELS,
    &agent::close::CLOSE_AGENT,
    &agent::step::AGENT_STEP,
    &features::create_features::SPEC,
    &features::write_features::SPEC,
    &features::close_features::SPEC,
    &job::create_job::SPEC,
    &job::infer_step::SPEC,
    &job::close_job::SPEC,
    &agent::history_init::INIT_AGENT_HISTORY,
    &agent::history_close::CLOSE_AGENT_HISTORY,
];
