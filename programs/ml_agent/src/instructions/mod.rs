//! One module per instruction; each starts with its checks and declares its IDL spec.

pub mod ping;

use crate::interface::InstructionSpec;

/// Every instruction, for dispatch and the IDL generator.
pub const INSTRUCTIONS: &[&InstructionSpec] = &[&ping::SPEC];
