//! Instruction dispatch on Anchor's 8-byte `sha256("global:<name>")` discriminator.

use pinocchio::{AccountView, Address, ProgramResult};

use crate::error::MlAgentError;
use crate::instructions;

const PING: [u8; 8] = instructions::ping::SPEC.discriminator;

pub fn process_instruction(
    program_id: &Address,
    accounts: &mut [AccountView],
    data: &[u8],
) -> ProgramResult {
    if data.len() < 8 {
        return Err(MlAgentError::InstructionMissing.into());
    }
    let (disc, rest) = data.split_at(8);
    // `split_at(8)` guarantees the length.
    let disc: [u8; 8] = [
        disc[0], disc[1], disc[2], disc[3], disc[4], disc[5], disc[6], disc[7],
    ];
    match disc {
        PING => instructions::ping::process(program_id, accounts, rest),
        _ => Err(MlAgentError::InstructionFallbackNotFound.into()),
    }
}
