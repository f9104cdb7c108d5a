//! Instruction dispatch on Anchor's 8-byte `sha256("global:<name>")` discriminator.

use pinocchio::{error::ProgramError, AccountView, Address, ProgramResult};

use crate::error::MlAgentError;
use crate::instructions;
use crate::instructions::registry as reg;
use crate::instructions::{agent, market};

const AGENT_STEP: u64 = u64::from_le_bytes(agent::step::AGENT_STEP.discriminator);
const CREATE_POOL: u64 = u64::from_le_bytes(market::pool::CREATE_POOL.discriminator);
const ADD_LIQUIDITY: u64 = u64::from_le_bytes(market::pool::ADD_LIQUIDITY.discriminator);
const REMOVE_LIQUIDITY: u64 = u64::from_le_bytes(market::pool::REMOVE_LIQUIDITY.discriminator);
const SWAP: u64 = u64::from_le_bytes(market::pool::SWAP.discriminator);
const SYNC: u64 = u64::from_le_bytes(market::pool::SYNC.discriminator);
const CREATE_PRICE_FEED: u64 = u64::from_le_bytes(market::feed::CREATE_PRICE_FEED.discriminator);
const PUBLISH_PRICE: u64 = u64::from_le_bytes(market::feed::PUBLISH_PRICE.discriminator);
const CREATE_AGENT: u64 = u64::from_le_bytes(agent::create::CREATE_AGENT.discriminator);
const CONFIGURE_AGENT: u64 = u64::from_le_bytes(agent::create::CONFIGURE_AGENT.discriminator);
const PAUSE_AGENT: u64 = u64::from_le_bytes(agent::admin::PAUSE_AGENT.discriminator);
const RESUME_AGENT: u64 = u64::from_le_bytes(agent::admin::RESUME_AGENT.discriminator);
const DEPOSIT: u64 = u64::from_le_bytes(agent::admin::DEPOSIT.discriminator);
const WITHDRAW: u64 = u64::from_le_bytes(agent::admin::WITHDRAW.discriminator);
const SET_AGENT_MODELS: u64 = u64::from_le_bytes(agent::set_models::SET_AGENT_MODELS.discriminator);
const CLOSE_AGENT: u64 = u64::from_le_bytes(agent::close::CLOSE_AGENT.discriminator);
const PING: u64 = u64::from_le_bytes(instructions::ping::SPEC.discriminator);
const INFER: u64 = u64::from_le_bytes(instructions::infer::SPEC.discriminator);
const CREATE_MODEL: u64 = u64::from_le_bytes(reg::create_model::SPEC.discriminator);
const CREATE_VERSION: u64 = u64::from_le_bytes(reg::create_version::SPEC.discriminator);
const OPEN_PAGE: u64 = u64::from_le_bytes(reg::open_page::SPEC.discriminator);
const COMMIT_PAGES: u64 = u64::from_le_bytes(reg::commit_pages::SPEC.discriminator);
const CLOSE_PAGE: u64 = u64::from_le_bytes(reg::close_page::SPEC.discriminator);
const WRITE_CHUNK: u64 = u64::from_le_bytes(reg::write_chunk::SPEC.discriminator);
const FINALIZE_VERSION: u64 = u64::from_le_bytes(reg::finalize_version::SPEC.discriminator);
const ACTIVATE_VERSION: u64 = u64::from_le_bytes(reg::activate_version::SPEC.discriminator);
const FREEZE_MODEL: u64 = u64::from_le_bytes(reg::freeze_model::SPEC.discriminator);
const PROPOSE_AUTHORITY: u64 = u64::from_le_bytes(reg::propose_authority::SPEC.discriminator);
const ACCEPT_AUTHORITY: u64 = u64::from_le_bytes(reg::accept_authority::SPEC.discriminator);
const CLOSE_VERSION: u64 = u64::from_le_bytes(reg::close_version::SPEC.discriminator);
const CLOSE_MODEL: u64 = u64::from_le_bytes(reg::close_model::SPEC.discriminator);

/// Always inlined into the entrypoint: outlined, it would take five arguments plus a hidden
/// return pointer, one more than the BPF backend can pass.
#[inline(always)]
pub fn process_instruction(
    program_id: &Address,
    accounts: &mut [AccountView],
    data: &[u8],
) -> ProgramResult {
    if data.len() < 8 {
        return Err(MlAgentError::InstructionMissing.into());
    }
    let (disc, rest) = data.split_at(8);
    let disc = read_disc(disc);
    // Inference is the hot path for callers and CPI: one compare before the table. The table
    // sits in its own function so that LLVM cannot fold this compare into the table's search
    // (it did: `infer`'s CU then moved by a few with every instruction added or removed).
    if disc == INFER {
        return instructions::infer::process(program_id, accounts, rest);
    }
    match dispatch(program_id, accounts, data) {
        0 => Ok(()),
        e => Err(ProgramError::from(e)),
    }
}

/// The discriminator: one 8-byte load where the data is 8-aligned (always, in the runtime's
/// input buffer), instead of eight byte loads. `disc` is exactly 8 bytes (`split_at(8)`).
#[inline(always)]
fn read_disc(disc: &[u8]) -> u64 {
    if disc.as_ptr() as usize & 7 == 0 {
        // SAFETY: 8 readable bytes, 8-aligned.
        u64::from_le(unsafe { *(disc.as_ptr() as *const u64) })
    } else {
        u64::from_le_bytes([
            disc[0], disc[1], disc[2], disc[3], disc[4], disc[5], disc[6], disc[7],
        ])
    }
}

/// Every instruction but `infer`, by discriminator. Returns the error as its u64 encoding (0:
/// success) so the call needs no hidden return pointer: five argument registers are all BPF
/// has, and the slices take two each.
#[inline(never)]
fn dispatch(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> u64 {
    let (disc, rest) = data.split_at(8);
    let disc = read_disc(disc);
    let result = match disc {
        PING => instructions::ping::process(program_id, accounts, rest),
        // The upload hot path first.
        WRITE_CHUNK => reg::write_chunk::process(program_id, accounts, rest),
        OPEN_PAGE => reg::open_page::process(program_id, accounts, rest),
        COMMIT_PAGES => reg::commit_pages::process(program_id, accounts, rest),
        CLOSE_PAGE => reg::close_page::process(program_id, accounts, rest),
        CREATE_MODEL => reg::create_model::process(program_id, accounts, rest),
        CREATE_VERSION => reg::create_version::process(program_id, accounts, rest),
        FINALIZE_VERSION => reg::finalize_version::process(program_id, accounts, rest),
        ACTIVATE_VERSION => reg::activate_version::process(program_id, accounts, rest),
        FREEZE_MODEL => reg::freeze_model::process(program_id, accounts, rest),
        PROPOSE_AUTHORITY => reg::propose_authority::process(program_id, accounts, rest),
        ACCEPT_AUTHORITY => reg::accept_authority::process(program_id, accounts, rest),
        CLOSE_VERSION => reg::close_version::process(program_id, accounts, rest),
        CLOSE_MODEL => reg::close_model::process(program_id, accounts, rest),
        // Market and trading agents.
        AGENT_STEP => agent::step::agent_step(program_id, accounts, rest),
        SWAP => market::pool::swap(program_id, accounts, rest),
        PUBLISH_PRICE => market::feed::publish_price(program_id, accounts, rest),
        CREATE_POOL => market::pool::create_pool(program_id, accounts, rest),
        ADD_LIQUIDITY => market::pool::add_liquidity(program_id, accounts, rest),
        REMOVE_LIQUIDITY => market::pool::remove_liquidity(program_id, accounts, rest),
        SYNC => market::pool::sync(program_id, accounts, rest),
        CREATE_PRICE_FEED => market::feed::create_price_feed(program_id, accounts, rest),
        CREATE_AGENT => agent::create::create_agent(program_id, accounts, rest),
        CONFIGURE_AGENT => agent::create::configure_agent(program_id, accounts, rest),
        PAUSE_AGENT => agent::admin::pause_agent(program_id, accounts, rest),
        RESUME_AGENT => agent::admin::resume_agent(program_id, accounts, rest),
        DEPOSIT => agent::admin::deposit(program_id, accounts, rest),
        WITHDRAW => agent::admin::withdraw(program_id, accounts, rest),
        SET_AGENT_MODELS => agent::set_models::set_agent_models(program_id, accounts, rest),
        CLOSE_AGENT => agent::close::close_agent(program_id, accounts, rest),
        _ => Err(MlAgentError::InstructionFallbackNotFound.into()),
    };
    match result {
        Ok(()) => 0,
        Err(e) => u64::from(e),
    }
}
