//! Zero-copy views of the program's accounts.

pub mod model;
pub mod ping;

use crate::interface::TypeSpec;

/// Every account type, for the IDL generator.
pub const ACCOUNTS: &[&TypeSpec] = &[
    &ping::PingRecord::SPEC,
    &model::ModelHeader::SPEC,
    &model::ModelWeights::SPEC,
    &model::ModelPage::SPEC,
];
