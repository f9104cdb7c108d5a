//! Zero-copy views of the program's accounts.

pub mod agent;
pub mod agent_history;
pub mod features;
pub mod job;
pub mod model;
pub mod ping;
pub mod pool;

use crate::interface::TypeSpec;

/// Every account type, for the IDL generator.
pub const ACCOUNTS: &[&TypeSpec] = &[
    &ping::PingRecord::SPEC,
    &model::ModelHeader::SPEC,
    &model::ModelWeights::SPEC,
    &model::ModelPage::SPEC,
    &model::ModelTombstone::SPEC,
    &pool::Pool::SPEC,
    &pool::PriceFeed::SPEC,
    &agent::Agent::SPEC,
    &features::FeaturesAccount::SPEC,
    &job::InferenceJob::SPEC,
    &agent_history::AgentHistory::SPEC,
];
