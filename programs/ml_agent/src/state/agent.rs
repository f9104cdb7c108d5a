//! The trading agent account (PDA `["agent", authority, agent_id LE]`).
//!
//! Everything `agent_step` needs is here, so the crank passes no configuration: the model set
//! (up to four headers, each following its active version or pinned to one, with vote weights;
//! a pin holds the version's weights account and chunk root, checked every step),
//! the price source, the declared feature spec, the risk limits, a ring of recent prices, the
//! counters, and a ring of the last decisions (features, action, confidence, price) that the SDK
//! exports for retraining. Vaults are PDAs `["agent_vault", agent, mint]` owned by the agent.

use crate::interface::{field, SeedSpec, Ty, TypeSpec};

pub const AGENT_SEED: &[u8] = b"agent";
pub const AGENT_VAULT_SEED: &[u8] = b"agent_vault";

/// An agent's seeds in its authority's instructions (IDL only: self-referencing, clients pass
/// it).
pub const AGENT_PDA: &[SeedSpec] = &[
    SeedSpec::Const(AGENT_SEED),
    SeedSpec::Account("authority"),
    SeedSpec::Field("agent.agent_id", "Agent"),
];

/// An agent's seeds in agent_step, where nobody in particular signs (IDL only).
pub const AGENT_PDA_CRANK: &[SeedSpec] = &[
    SeedSpec::Const(AGENT_SEED),
    SeedSpec::Field("agent.authority", "Agent"),
    SeedSpec::Field("agent.agent_id", "Agent"),
];
pub const MAX_MODELS: usize = 4;
pub const MAX_FEATURES: usize = 8;
pub const HISTORY: usize = 64;
pub const LOG_LEN: usize = 32;

/// `Agent::source_kind`.
pub const SOURCE_POOL: u8 = 0;
pub const SOURCE_FEED: u8 = 1;
pub const SOURCE_PYTH: u8 = 2;

/// Limits and thresholds the authority may change with `configure_agent`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RiskParams {
    /// Quote units a BUY spends, and the quote value a SELL sells.
    pub trade_size: u64,
    /// Largest base balance a BUY may leave in the vault.
    pub max_position: u64,
    /// Largest quote value of one trade.
    pub max_trade: u64,
    /// Largest quote value traded per UTC day (unix_timestamp / 86,400).
    pub max_turnover_per_day: u64,
    pub min_slots_between_trades: u64,
    /// Oldest acceptable price: slots for a PriceFeed, seconds for Pyth (unused for the pool).
    pub max_price_age: u64,
    /// Smallest (ensemble) confidence, Q16 (65,536 = 1.0), that may trade.
    pub threshold_q16: u32,
    /// Widest acceptable price confidence interval, in basis points of the price.
    pub max_conf_bps: u32,
    /// Largest shortfall of the swap's output below the pre-trade spot value, in basis points.
    pub slippage_bps: u16,
    /// The widest gap, in basis points of the reference price, between the pool's spot price
    /// and the reference at which a trade is still allowed; 1..=10,000 and required for every
    /// agent (the bound cannot be switched off). The reference is the oracle price (converted
    /// to B atoms per A atom) for feed / Pyth agents and the pool's TWAP since the previous
    /// sample for pool agents, so a price pushed inside the transaction fails the step.
    pub max_oracle_dev_bps: u16,
    pub padding: [u8; 4],
}

impl RiskParams {
    pub const LEN: usize = core::mem::size_of::<RiskParams>();
    pub const SPEC: TypeSpec = TypeSpec::plain(
        "RiskParams",
        "Trade size, risk limits, confidence threshold and price-quality limits of an agent.",
        &[
            field("trade_size", Ty::U64),
            field("max_position", Ty::U64),
            field("max_trade", Ty::U64),
            field("max_turnover_per_day", Ty::U64),
            field("min_slots_between_trades", Ty::U64),
            field("max_price_age", Ty::U64),
            field("threshold_q16", Ty::U32),
            field("max_conf_bps", Ty::U32),
            field("slippage_bps", Ty::U16),
            field("max_oracle_dev_bps", Ty::U16),
            field("padding", Ty::Array(&Ty::U8, 4)),
        ],
    );

    pub fn read(a: &mut crate::args::ArgReader) -> Result<Self, crate::error::MlAgentError> {
        Ok(RiskParams {
            trade_size: a.u64()?,
            max_position: a.u64()?,
            max_trade: a.u64()?,
            max_turnover_per_day: a.u64()?,
            min_slots_between_trades: a.u64()?,
            max_price_age: a.u64()?,
            threshold_q16: a.u32()?,
            max_conf_bps: a.u32()?,
            slippage_bps: a.u16()?,
            max_oracle_dev_bps: a.u16()?,
            padding: *a.array::<4>()?,
        })
    }

    /// Values that make no sense are refused rather than silently clamped. Every agent must
    /// bound the spot price's deviation from its reference (0 would demand spot == reference
    /// exactly, i.e. never trade, so it is refused too).
    pub fn valid(&self, _source_kind: u8) -> bool {
        let dev_ok = self.max_oracle_dev_bps > 0 && self.max_oracle_dev_bps <= 10_000;
        self.trade_size > 0
            && self.threshold_q16 <= 65536
            && self.slippage_bps <= 10_000
            && self.max_conf_bps <= 10_000
            && dev_ok
            && self.padding == [0; 4]
    }
}

/// One entry of the decision log.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct DecisionRecord {
    pub step: u64,
    pub slot: u64,
    /// The price observed this step (0 when none was read: paused, stale).
    pub price: u64,
    pub amount_in: u64,
    pub amount_out: u64,
    pub features: [i32; MAX_FEATURES],
    pub confidence_q16: u32,
    /// 0 SELL, 1 HOLD, 2 BUY.
    pub action: u8,
    /// See `instructions::agent::reason`.
    pub reason: u8,
    /// The winning class (255 when no inference ran).
    pub class: u8,
    pub n_features: u8,
}

impl DecisionRecord {
    pub const SPEC: TypeSpec = TypeSpec::plain(
        "DecisionRecord",
        "One agent_step: the features the models saw, the decision and why, and the trade.",
        &[
            field("step", Ty::U64),
            field("slot", Ty::U64),
            field("price", Ty::U64),
            field("amount_in", Ty::U64),
            field("amount_out", Ty::U64),
            field("features", Ty::Array(&Ty::I32, MAX_FEATURES)),
            field("confidence_q16", Ty::U32),
            field("action", Ty::U8),
            field("reason", Ty::U8),
            field("class", Ty::U8),
            field("n_features", Ty::U8),
        ],
    );
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Agent {
    pub discriminator: [u8; 8],
    pub authority: [u8; 32],
    pub pool: [u8; 32],
    /// The pool (SOURCE_POOL), the PriceFeed (SOURCE_FEED); zero for Pyth, whose update
    /// accounts change address: Pyth is pinned by `pyth_feed_id` and its owner instead.
    pub price_source: [u8; 32],
    pub pyth_feed_id: [u8; 32],
    pub vault_a: [u8; 32],
    pub vault_b: [u8; 32],
    pub models: [[u8; 32]; MAX_MODELS],
    pub agent_id: u64,
    /// Completed steps; `agent_step(expected_step)` must name it (replay protection).
    pub step: u64,
    pub last_trade_slot: u64,
    pub day: u64,
    pub turnover_today: u64,
    pub trades: u64,
    pub buys: u64,
    pub sells: u64,
    pub quote_spent: u64,
    pub quote_received: u64,
    pub base_bought: u64,
    pub base_sold: u64,
    pub last_price: u64,
    /// Slot of the last price sample (pool agents: also of the first cumulative reading).
    pub last_price_slot: u64,
    pub risk: RiskParams,
    /// 0: follow the model's active version; n: pinned to version n.
    pub model_versions: [u32; MAX_MODELS],
    pub model_weights: [u16; MAX_MODELS],
    /// `n_features` (kind, parameter) pairs; see `features.rs`.
    pub features: [u8; 2 * MAX_FEATURES],
    /// Exponent of the feed's prices when the agent was created (a change is refused per step).
    pub exponent: i32,
    pub n_features: u8,
    pub n_models: u8,
    pub source_kind: u8,
    pub paused: u8,
    pub bump: u8,
    pub vault_a_bump: u8,
    pub vault_b_bump: u8,
    pub hist_len: u8,
    /// Index of the next write in `history` / `log`.
    pub hist_head: u8,
    pub log_len: u8,
    pub log_head: u8,
    /// Decimals of mint B minus decimals of mint A, read from the mints at creation: with
    /// `exponent` it converts an oracle price to B atoms per A atom.
    pub decimals_diff: i8,
    pub history: [u64; HISTORY],
    pub log: [DecisionRecord; LOG_LEN],
    // Price sampling (issue 11): one sample per slot, oracle samples strictly newer, pool
    // samples are TWAPs between two readings of the pool's cumulative price.
    /// Pool agents: the pool's cumulative price at the last sample (`last_price_slot`).
    pub twap_cum_hi: u64,
    pub twap_cum_lo: u64,
    /// Feed / Pyth agents: publish slot / time of the last accepted sample.
    pub last_published: i64,
    /// 1 once a sample (pool agents: the first cumulative reading) was taken.
    pub sampled: u8,
    // Feature history (issue 15): three fields out of what was padding, so the size is the same.
    /// 1 while the agent's `AgentHistory` account exists: every step must then pass it.
    pub has_history: u8,
    /// T: the window of the existing history, else the one the agent's window models declare
    /// (models of `T * n_features` inputs), else 0.
    pub history_window: u16,
    /// How many of the agent's model slots took the window (`T * n_features` inputs) when the
    /// set was checked: while it is non-zero, a step without a full window is WARMING_UP.
    pub window_models: u8,
    pub sample_padding: [u8; 3],
    // Model content pins (issue 11, models): one block, so other additions merge around it.
    /// Pinned slots: the weights account of the pinned version, which a crank must pass
    /// (anything else fails the step); zero for a slot that follows the active version.
    pub pinned_weights: [[u8; 32]; MAX_MODELS],
    /// Pinned slots: that version's chunk root, the hash its bytes were verified against at
    /// upload; each step compares it with the weights account, so a version recreated at the
    /// same address with other bytes is not run (`MODEL_UNAVAILABLE`). Zero when following.
    pub pinned_roots: [[u8; 32]; MAX_MODELS],
}

impl Agent {
    pub const LEN: usize = core::mem::size_of::<Agent>();
    pub const SPEC: TypeSpec = TypeSpec::account(
        "Agent",
        "An autonomous trading agent (PDA [\"agent\", authority, agent_id LE]): models (a pinned \
         version's weights account and chunk root), price source, feature spec, risk limits, \
         price history, counters, decision log, and whether it has a feature history \
         (AgentHistory) and the window its window models read.",
        &[
            field("authority", Ty::Pubkey),
            field("pool", Ty::Pubkey),
            field("price_source", Ty::Pubkey),
            field("pyth_feed_id", Ty::Array(&Ty::U8, 32)),
            field("vault_a", Ty::Pubkey),
            field("vault_b", Ty::Pubkey),
            field("models", Ty::Array(&Ty::Pubkey, MAX_MODELS)),
            field("agent_id", Ty::U64),
            field("step", Ty::U64),
            field("last_trade_slot", Ty::U64),
            field("day", Ty::U64),
            field("turnover_today", Ty::U64),
            field("trades", Ty::U64),
            field("buys", Ty::U64),
            field("sells", Ty::U64),
            field("quote_spent", Ty::U64),
            field("quote_received", Ty::U64),
            field("base_bought", Ty::U64),
            field("base_sold", Ty::U64),
            field("last_price", Ty::U64),
            field("last_price_slot", Ty::U64),
            field("risk", Ty::Defined("RiskParams")),
            field("model_versions", Ty::Array(&Ty::U32, MAX_MODELS)),
            field("model_weights", Ty::Array(&Ty::U16, MAX_MODELS)),
            field("features", Ty::Array(&Ty::U8, 2 * MAX_FEATURES)),
            field("exponent", Ty::I32),
            field("n_features", Ty::U8),
            field("n_models", Ty::U8),
            field("source_kind", Ty::U8),
            field("paused", Ty::U8),
            field("bump", Ty::U8),
            field("vault_a_bump", Ty::U8),
            field("vault_b_bump", Ty::U8),
            field("hist_len", Ty::U8),
            field("hist_head", Ty::U8),
            field("log_len", Ty::U8),
            field("log_head", Ty::U8),
            field("decimals_diff", Ty::I8),
            field("history", Ty::Array(&Ty::U64, HISTORY)),
            field("log", Ty::Array(&Ty::Defined("DecisionRecord"), LOG_LEN)),
            field("twap_cum_hi", Ty::U64),
            field("twap_cum_lo", Ty::U64),
            field("last_published", Ty::I64),
            field("sampled", Ty::U8),
            field("has_history", Ty::U8),
            field("history_window", Ty::U16),
            field("window_models", Ty::U8),
            field("sample_padding", Ty::Array(&Ty::U8, 3)),
            field("pinned_weights", Ty::Array(&Ty::Pubkey, MAX_MODELS)),
            field(
                "pinned_roots",
                Ty::Array(&Ty::Array(&Ty::U8, 32), MAX_MODELS),
            ),
        ],
    );

    /// Price `back` steps ago (0 = newest); callers keep `back < hist_len`.
    #[inline(always)]
    pub fn price_back(&self, back: usize) -> u64 {
        let at = (self.hist_head as usize + HISTORY - 1 - back) % HISTORY;
        self.history[at]
    }

    pub fn push_price(&mut self, p: u64) {
        self.history[self.hist_head as usize % HISTORY] = p;
        self.hist_head = ((self.hist_head as usize + 1) % HISTORY) as u8;
        if (self.hist_len as usize) < HISTORY {
            self.hist_len += 1;
        }
    }

    pub fn push_log(&mut self, r: &DecisionRecord) {
        self.log[self.log_head as usize % LOG_LEN] = *r;
        self.log_head = ((self.log_head as usize + 1) % LOG_LEN) as u8;
        if (self.log_len as usize) < LOG_LEN {
            self.log_len += 1;
        }
    }
}
