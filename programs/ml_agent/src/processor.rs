//! Instruction dispatch on Anchor's 8-byte `sha256("global:<name>")` discriminator.

use pinocchio::{AccountView, Address, ProgramResult};

use crate::error::MlAgentError;
use crate::instructions;
use crate::instructions::registry as reg;
use crate::instructions::{agent, market};

const AGENT_STEP: [u8; 8] = agent::step::AGENT_STEP.discriminator;
const CREATE_POOL: [u8; 8] = market::pool::CREATE_POOL.discriminator;
const ADD_LIQUIDITY: [u8; 8] = market::pool::ADD_LIQUIDITY.discriminator;
const REMOVE_LIQUIDITY: [u8; 8] = market::pool::REMOVE_LIQUIDITY.discriminator;
const SWAP: [u8; 8] = market::pool::SWAP.discriminator;
const CREATE_PRICE_FEED: [u8; 8] = market::feed::CREATE_PRICE_FEED.discriminator;
const PUBLISH_PRICE: [u8; 8] = market::feed::PUBLISH_PRICE.discriminator;
const CREATE_AGENT: [u8; 8] = agent::create::CREATE_AGENT.discriminator;
const CONFIGURE_AGENT: [u8; 8] = agent::create::CONFIGURE_AGENT.discriminator;
const PAUSE_AGENT: [u8; 8] = agent::admin::PAUSE_AGENT.discriminator;
const RESUME_AGENT: [u8; 8] = agent::admin::RESUME_AGENT.discriminator;
const DEPOSIT: [u8; 8] = agent::admin::DEPOSIT.discriminator;
const WITHDRAW: [u8; 8] = agent::admin::WITHDRAW.discriminator;
const PING: [u8; 8] = instructions::ping::SPEC.discriminator;
const INFER: [u8; 8] = instructions::infer::SPEC.discriminator;
const CREATE_MODEL: [u8; 8] = reg::create_model::SPEC.discriminator;
const CREATE_VERSION: [u8; 8] = reg::create_version::SPEC.discriminator;
const OPEN_PAGE: [u8; 8] = reg::open_page::SPEC.discriminator;
const COMMIT_PAGES: [u8; 8] = reg::commit_pages::SPEC.discriminator;
const CLOSE_PAGE: [u8; 8] = reg::close_page::SPEC.discriminator;
const WRITE_CHUNK: [u8; 8] = reg::write_chunk::SPEC.discriminator;
const FINALIZE_VERSION: [u8; 8] = reg::finalize_version::SPEC.discriminator;
const ACTIVATE_VERSION: [u8; 8] = reg::activate_version::SPEC.discriminator;
const FREEZE_MODEL: [u8; 8] = reg::freeze_model::SPEC.discriminator;
const PROPOSE_AUTHORITY: [u8; 8] = reg::propose_authority::SPEC.discriminator;
const ACCEPT_AUTHORITY: [u8; 8] = reg::accept_authority::SPEC.discriminator;
const CLOSE_VERSION: [u8; 8] = reg::close_version::SPEC.discriminator;
const CLOSE_MODEL: [u8; 8] = reg::close_model::SPEC.discriminator;

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
    // `split_at(8)` guarantees the length.
    let disc: [u8; 8] = [
        disc[0], disc[1], disc[2], disc[3], disc[4], disc[5], disc[6], disc[7],
    ];
    match disc {
        // Inference is the hot path for callers and CPI.
        INFER => instructions::infer::process(program_id, accounts, rest),
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
        CREATE_PRICE_FEED => market::feed::create_price_feed(program_id, accounts, rest),
        CREATE_AGENT => agent::create::create_agent(program_id, accounts, rest),
        CONFIGURE_AGENT => agent::create::configure_agent(program_id, accounts, rest),
        PAUSE_AGENT => agent::admin::pause_agent(program_id, accounts, rest),
        RESUME_AGENT => agent::admin::resume_agent(program_id, accounts, rest),
        DEPOSIT => agent::admin::deposit(program_id, accounts, rest),
        WITHDRAW => agent::admin::withdraw(program_id, accounts, rest),
        _ => Err(MlAgentError::InstructionFallbackNotFound.into()),
    }
}
