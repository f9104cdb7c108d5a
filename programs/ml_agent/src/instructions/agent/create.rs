//! `create_agent` and `configure_agent`.
//!
//! Creation validates everything `agent_step` will rely on, so a misconfigured agent never
//! exists: the pool and its mints, the price source (owner, layout, feed id), the feature spec,
//! and every model (a 3-class classifier whose input count equals the feature count; a pinned
//! version must exist). The agent PDA and its two vault PDAs are created here.

use pinocchio::{cpi::Seed, AccountView, Address, ProgramResult};

use super::{
    apply_model_set, check_authority, check_model_set, load_agent, ModelSet, ModelSetCheck, Pins,
};
use crate::args::ArgReader;
use crate::checks;
use crate::error::MlAgentError;
use crate::events::{emit, BorshWriter};
use crate::features::spec_lookback;
use crate::instructions::market::{create_pda, load_pool};
use crate::interface::{
    field, AccountSpec, InstructionSpec, SeedSpec, Ty, TypeSpec, SYSTEM_PROGRAM,
};
use crate::oracle;
use crate::state::agent::{
    Agent, RiskParams, AGENT_SEED, AGENT_VAULT_SEED, MAX_FEATURES, MAX_MODELS, SOURCE_FEED,
    SOURCE_POOL, SOURCE_PYTH,
};
use crate::token::{self, TOKEN_PROGRAM, TOKEN_PROGRAM_ID};

/// What `create_agent` declares besides its accounts.
pub struct AgentSetup {
    pub source_kind: u8,
    pub n_features: u8,
    pub features: [u8; 2 * MAX_FEATURES],
    pub models: ModelSet,
    pub pyth_feed_id: [u8; 32],
    pub risk: RiskParams,
}

pub const AGENT_SETUP: TypeSpec = TypeSpec::plain(
    "AgentSetup",
    "Agent configuration: price source kind (0 pool, 1 PriceFeed, 2 Pyth), feature spec \
     ((kind, param) pairs), models (version 0 = follow active; vote weights), Pyth feed id, risk.",
    &[
        field("source_kind", Ty::U8),
        field("n_features", Ty::U8),
        field("features", Ty::Array(&Ty::U8, 2 * MAX_FEATURES)),
        field("n_models", Ty::U8),
        field("model_versions", Ty::Array(&Ty::U32, MAX_MODELS)),
        field("model_weights", Ty::Array(&Ty::U16, MAX_MODELS)),
        field("pyth_feed_id", Ty::Array(&Ty::U8, 32)),
        field("risk", Ty::Defined("RiskParams")),
    ],
);

impl AgentSetup {
    fn read(a: &mut ArgReader) -> Result<Self, MlAgentError> {
        let source_kind = a.u8()?;
        let n_features = a.u8()?;
        let features = *a.array::<{ 2 * MAX_FEATURES }>()?;
        // Same fields, same order as `set_agent_models`' arguments.
        let models = ModelSet::read(a)?;
        Ok(AgentSetup {
            source_kind,
            n_features,
            features,
            models,
            pyth_feed_id: *a.array::<32>()?,
            risk: RiskParams::read(a)?,
        })
    }
}

pub const CREATE_AGENT: InstructionSpec = InstructionSpec::new(
    "create_agent",
    "Create an agent and its two vault PDAs. Remaining accounts: (model header, weights) per \
     model, in order (the active weights, or the pinned version's).",
    &[
        AccountSpec::new("authority").mutable().signer(),
        AccountSpec::new("agent").mutable().pda(&[
            SeedSpec::Const(AGENT_SEED),
            SeedSpec::Account("authority"),
            SeedSpec::Arg("agent_id"),
        ]),
        AccountSpec::new("pool").pda(&[
            SeedSpec::Const(crate::state::pool::POOL_SEED),
            SeedSpec::Account("mint_a"),
            SeedSpec::Account("mint_b"),
        ]),
        AccountSpec::new("mint_a"),
        AccountSpec::new("mint_b"),
        AccountSpec::new("vault_a").mutable().pda(&[
            SeedSpec::Const(AGENT_VAULT_SEED),
            SeedSpec::Account("agent"),
            SeedSpec::Account("mint_a"),
        ]),
        AccountSpec::new("vault_b").mutable().pda(&[
            SeedSpec::Const(AGENT_VAULT_SEED),
            SeedSpec::Account("agent"),
            SeedSpec::Account("mint_b"),
        ]),
        AccountSpec::new("price_source").docs("The pool, a PriceFeed, or a Pyth PriceUpdateV2."),
        AccountSpec::new("token_program").address(TOKEN_PROGRAM),
        AccountSpec::new("system_program").address(SYSTEM_PROGRAM),
    ],
    &[
        field("agent_id", Ty::U64),
        field("setup", Ty::Defined("AgentSetup")),
    ],
    None,
);

pub const CONFIGURE_AGENT: InstructionSpec = InstructionSpec::new(
    "configure_agent",
    "Replace the agent's risk limits and thresholds (authority only). Feed and Pyth agents \
     need 1 <= max_oracle_dev_bps <= 10,000; pool agents 0.",
    &[
        AccountSpec::new("authority").signer(),
        AccountSpec::new("agent")
            .mutable()
            .pda(crate::state::agent::AGENT_PDA),
    ],
    &[field("risk", Ty::Defined("RiskParams"))],
    None,
);

pub const AGENT_CREATED: TypeSpec = TypeSpec::event(
    "AgentCreated",
    "An agent was created.",
    &[
        field("agent", Ty::Pubkey),
        field("authority", Ty::Pubkey),
        field("pool", Ty::Pubkey),
        field("source_kind", Ty::U8),
        field("n_models", Ty::U8),
        field("n_features", Ty::U8),
    ],
);

pub fn create_agent(
    program_id: &Address,
    accounts: &mut [AccountView],
    data: &[u8],
) -> ProgramResult {
    let (fixed, models) = accounts.split_at_mut(accounts.len().min(10));
    let [authority, agent, pool_acc, mint_a, mint_b, vault_a, vault_b, price, token_program, system_program] =
        fixed
    else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    let mut args = ArgReader::new(data);
    let agent_id = args.u64()?;
    let s = AgentSetup::read(&mut args)?;
    args.finish()?;

    checks::signer(authority)?;
    checks::writable(authority)?;
    checks::address(token_program, &TOKEN_PROGRAM_ID)?;
    checks::address(system_program, &pinocchio_system::ID)?;
    let nf = s.n_features as usize;
    if nf == 0
        || nf > MAX_FEATURES
        || spec_lookback(&s.features[..2 * nf]).is_none()
        || s.features[2 * nf..].iter().any(|b| *b != 0)
    {
        return Err(MlAgentError::BadFeatureSpec.into());
    }
    if !s.models.valid() || !s.risk.valid(s.source_kind) {
        return Err(MlAgentError::InvalidArgument.into());
    }

    // SAFETY: read-only view of the pool.
    let pool = unsafe { load_pool(pool_acc, program_id)? };
    if mint_a.address().to_bytes() != pool.mint_a || mint_b.address().to_bytes() != pool.mint_b {
        return Err(MlAgentError::WrongVault.into());
    }
    // B decimals minus A decimals (each 0..=255): converts an oracle price to atoms.
    let decimals_diff = token::mint_decimals(mint_b)? as i16 - token::mint_decimals(mint_a)? as i16;
    let decimals_diff = i8::try_from(decimals_diff).map_err(|_| MlAgentError::InvalidArgument)?;

    // The price source: owner and layout now, so a step can trust the pinned address.
    let (price_source, exponent) = match s.source_kind {
        SOURCE_POOL => {
            if price.address() != pool_acc.address() {
                return Err(MlAgentError::PriceSourceMismatch.into());
            }
            (pool_acc.address().to_bytes(), 0)
        }
        SOURCE_FEED => {
            let q = oracle::read_feed(price, program_id)?;
            (price.address().to_bytes(), q.exponent)
        }
        SOURCE_PYTH => {
            let q = oracle::read_pyth(price, &s.pyth_feed_id)?;
            ([0u8; 32], q.exponent)
        }
        _ => return Err(MlAgentError::InvalidArgument.into()),
    };

    // Every model must take exactly the declared features, or a window of them, and have 3
    // classes.
    let mut pins = Pins::default();
    check_model_set(
        program_id,
        models,
        &ModelSetCheck {
            set: &s.models,
            n_features: nf,
            window: 0,
        },
        &mut pins,
    )?;

    if !agent.is_data_empty() || !agent.owned_by(&pinocchio_system::ID) {
        return Err(MlAgentError::AccountDiscriminatorAlreadySet.into());
    }
    let id = agent_id.to_le_bytes();
    let auth = authority.address().as_ref();
    let (expected, bump) = Address::find_program_address(&[AGENT_SEED, auth, &id], program_id);
    checks::address(agent, &expected).map_err(|_| MlAgentError::ConstraintSeeds)?;
    let ak = agent.address().as_ref();
    let (va, va_bump) = Address::find_program_address(
        &[AGENT_VAULT_SEED, ak, mint_a.address().as_ref()],
        program_id,
    );
    let (vb, vb_bump) = Address::find_program_address(
        &[AGENT_VAULT_SEED, ak, mint_b.address().as_ref()],
        program_id,
    );
    checks::address(vault_a, &va).map_err(|_| MlAgentError::ConstraintSeeds)?;
    checks::address(vault_b, &vb).map_err(|_| MlAgentError::ConstraintSeeds)?;

    let b = [bump];
    create_pda(
        authority,
        agent,
        Agent::LEN,
        program_id,
        &[
            Seed::from(AGENT_SEED),
            Seed::from(auth),
            Seed::from(&id),
            Seed::from(&b),
        ],
    )?;
    for (vault, mint, vbump) in [
        (&*vault_a, &*mint_a, va_bump),
        (&*vault_b, &*mint_b, vb_bump),
    ] {
        let vb = [vbump];
        let seeds = [
            Seed::from(AGENT_VAULT_SEED),
            Seed::from(ak),
            Seed::from(mint.address().as_ref()),
            Seed::from(&vb),
        ];
        create_pda(
            authority,
            vault,
            token::ACCOUNT_LEN,
            &TOKEN_PROGRAM_ID,
            &seeds,
        )?;
        token::initialize_account3(vault, mint, agent.address())?;
    }

    // SAFETY: freshly created, zeroed, Agent::LEN bytes, no other borrow.
    let a = unsafe { &mut *(agent.data_ptr() as *mut Agent) };
    a.discriminator = Agent::SPEC.discriminator;
    a.authority = authority.address().to_bytes();
    a.pool = pool_acc.address().to_bytes();
    a.price_source = price_source;
    a.pyth_feed_id = if s.source_kind == SOURCE_PYTH {
        s.pyth_feed_id
    } else {
        [0; 32]
    };
    a.vault_a = va.to_bytes();
    a.vault_b = vb.to_bytes();
    a.agent_id = agent_id;
    a.risk = s.risk;
    apply_model_set(a, &s.models, &pins);
    a.features = s.features;
    a.exponent = exponent;
    a.decimals_diff = decimals_diff;
    a.n_features = s.n_features;
    a.source_kind = s.source_kind;
    a.bump = bump;
    a.vault_a_bump = va_bump;
    a.vault_b_bump = vb_bump;

    let mut buf = [0u8; 8 + 96 + 3];
    let mut w = BorshWriter::event(&AGENT_CREATED, &mut buf);
    w.bytes(ak)
        .bytes(auth)
        .bytes(pool_acc.address().as_ref())
        .u8(s.source_kind)
        .u8(s.models.n_models)
        .u8(s.n_features);
    emit(w.finish());
    Ok(())
}

pub fn configure_agent(
    program_id: &Address,
    accounts: &mut [AccountView],
    data: &[u8],
) -> ProgramResult {
    let [authority, agent_acc, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    let mut args = ArgReader::new(data);
    let risk = RiskParams::read(&mut args)?;
    args.finish()?;
    checks::writable(agent_acc)?;
    // SAFETY: the only view of the agent in this instruction.
    let agent = unsafe { load_agent(agent_acc, program_id)? };
    check_authority(agent, authority)?;
    if !risk.valid(agent.source_kind) {
        return Err(MlAgentError::InvalidArgument.into());
    }
    agent.risk = risk;
    Ok(())
}
