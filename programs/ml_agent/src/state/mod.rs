//! Zero-copy views of the program's accounts.

pub mod ping;

use crate::interface::TypeSpec;

/// Every account type, for the IDL generator.
pub const ACCOUNTS: &[&TypeSpec] = &[&ping::PingRecord::SPEC];
