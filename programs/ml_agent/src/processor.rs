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
const INIT_AGENT_HISTORY: u64 =
    u64::from_le_bytes(agent::history_init::INIT_AGENT_HISTORY.discriminator);
const CLOSE_AGENT_HISTORY: u64 =
    u64::from_le_bytes(agent::history_close::CLOSE_AGENT_HISTORY.discriminator);
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
const CREATE_FEATURES: u64 =
    u64::from_le_bytes(instructions::features::create_features::SPEC.discriminator);
const WRITE_FEATURES: u64 =
    u64::from_le_bytes(instructions::features::write_features::SPEC.discriminator);
const CLOSE_FEATURES: u64 =
    u64::from_le_bytes(instructions::features::close_features::SPEC.discriminator);
const CREATE_JOB: u64 = u64::from_le_bytes(instructions::job::create_job::SPEC.discriminator);
const INFER_STEP: u64 = u64::from_le_bytes(instructions::job::infer_step::SPEC.discriminator);
const CLOSE_JOB: u64 = u64::from_le_bytes(instructions::job::close_job::SPEC.discriminator);
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
    match disc {
        PING => outlined::ping(program_id, accounts, rest),
        // The upload hot path first.
        WRITE_CHUNK => outlined::write_chunk(program_id, accounts, rest),
        OPEN_PAGE => outlined::open_page(program_id, accounts, rest),
        COMMIT_PAGES => outlined::commit_pages(program_id, accounts, rest),
        CLOSE_PAGE => outlined::close_page(program_id, accounts, rest),
        CREATE_MODEL => outlined::create_model(program_id, accounts, rest),
        CREATE_VERSION => outlined::create_version(program_id, accounts, rest),
        FINALIZE_VERSION => outlined::finalize_version(program_id, accounts, rest),
        ACTIVATE_VERSION => outlined::activate_version(program_id, accounts, rest),
        FREEZE_MODEL => outlined::freeze_model(program_id, accounts, rest),
        PROPOSE_AUTHORITY => outlined::propose_authority(program_id, accounts, rest),
        ACCEPT_AUTHORITY => outlined::accept_authority(program_id, accounts, rest),
        CLOSE_VERSION => outlined::close_version(program_id, accounts, rest),
        CLOSE_MODEL => outlined::close_model(program_id, accounts, rest),
        // Market and trading agents.
        AGENT_STEP => outlined::agent_step(program_id, accounts, rest),
        SWAP => outlined::swap(program_id, accounts, rest),
        PUBLISH_PRICE => outlined::publish_price(program_id, accounts, rest),
        CREATE_POOL => outlined::create_pool(program_id, accounts, rest),
        ADD_LIQUIDITY => outlined::add_liquidity(program_id, accounts, rest),
        REMOVE_LIQUIDITY => outlined::remove_liquidity(program_id, accounts, rest),
        SYNC => outlined::sync(program_id, accounts, rest),
        CREATE_PRICE_FEED => outlined::create_price_feed(program_id, accounts, rest),
        CREATE_AGENT => outlined::create_agent(program_id, accounts, rest),
        CONFIGURE_AGENT => outlined::configure_agent(program_id, accounts, rest),
        PAUSE_AGENT => outlined::pause_agent(program_id, accounts, rest),
        RESUME_AGENT => outlined::resume_agent(program_id, accounts, rest),
        DEPOSIT => outlined::deposit(program_id, accounts, rest),
        WITHDRAW => outlined::withdraw(program_id, accounts, rest),
        SET_AGENT_MODELS => outlined::set_agent_models(program_id, accounts, rest),
        CLOSE_AGENT => outlined::close_agent(program_id, accounts, rest),
        // Features accounts and inference jobs.
        INFER_STEP => outlined::infer_step(program_id, accounts, rest),
        WRITE_FEATURES => outlined::write_features(program_id, accounts, rest),
        CREATE_FEATURES => outlined::create_features(program_id, accounts, rest),
        CLOSE_FEATURES => outlined::close_features(program_id, accounts, rest),
        CREATE_JOB => outlined::create_job(program_id, accounts, rest),
        CLOSE_JOB => outlined::close_job(program_id, accounts, rest),
        INIT_AGENT_HISTORY => outlined::init_agent_history(program_id, accounts, rest),
        CLOSE_AGENT_HISTORY => outlined::close_agent_history(program_id, accounts, rest),
        _ => u64::from(ProgramError::from(
            MlAgentError::InstructionFallbackNotFound,
        )),
    }
}

/// Every handler but `infer` is compiled as its own function, called from `dispatch`. Inlined
/// into one function they made ~40,000 instructions, and LLVM's BPF backend encodes conditional branches in
/// 16 bits ("Branch target out of insn range" when linking SBPF v3 at -O3). Out of line each
/// handler costs one call (a few CU); `infer`, the hot path, stays inlined.
///
/// The BPF calling convention allows five argument registers and no aggregate returns, and the
/// Rust ABI returns even an 8-byte `ProgramResult` through a hidden pointer (a sixth argument),
/// so each wrapper returns the runtime's `u64` encoding of its result instead.
mod outlined {
    use pinocchio::{AccountView, Address, SUCCESS};

    use crate::instructions;
    use crate::instructions::registry as reg;
    use crate::instructions::{agent, market};

    macro_rules! outlined {
        ($($name:ident => $handler:path;)*) => {$(
            #[inline(never)]
            pub fn $name(
                program_id: &Address,
                accounts: &mut [AccountView],
                data: &[u8],
            ) -> u64 {
                match $handler(program_id, accounts, data) {
                    Ok(()) => SUCCESS,
                    Err(error) => error.into(),
                }
            }
        )*};
    }

    outlined! {
        ping => instructions::ping::process;
        write_chunk => reg::write_chunk::process;
        open_page => reg::open_page::process;
        commit_pages => reg::commit_pages::process;
        close_page => reg::close_page::process;
        create_model => reg::create_model::process;
        create_version => reg::create_version::process;
        finalize_version => reg::finalize_version::process;
        activate_version => reg::activate_version::process;
        freeze_model => reg::freeze_model::process;
        propose_authority => reg::propose_authority::process;
        accept_authority => reg::accept_authority::process;
        close_version => reg::close_version::process;
        close_model => reg::close_model::process;
        agent_step => agent::step::agent_step;
        swap => market::pool::swap;
        publish_price => market::feed::publish_price;
        create_pool => market::pool::create_pool;
        add_liquidity => market::pool::add_liquidity;
        remove_liquidity => market::pool::remove_liquidity;
        sync => market::pool::sync;
        create_price_feed => market::feed::create_price_feed;
        create_agent => agent::create::create_agent;
        configure_agent => agent::create::configure_agent;
        pause_agent => agent::admin::pause_agent;
        resume_agent => agent::admin::resume_agent;
        deposit => agent::admin::deposit;
        withdraw => agent::admin::withdraw;
        set_agent_models => agent::set_models::set_agent_models;
        close_agent => agent::close::close_agent;
        infer_step => instructions::job::infer_step::process;
        write_features => instructions::features::write_features::process;
        create_features => instructions::features::create_features::process;
        close_features => instructions::features::close_features::process;
        create_job => instructions::job::create_job::process;
        close_job => instructions::job::close_job::process;
        init_agent_history => agent::history_init::init_agent_history;
        close_agent_history => agent::history_close::close_agent_history;
    }
}
