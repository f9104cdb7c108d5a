//! `agent_step(expected_step)`: the permissionless crank.
//!
//! Order of a step (the Python twin `client/agent/replay.py` follows it line by line):
//! 1. `expected_step` must equal the agent's step counter (a replayed or duplicated crank
//!    transaction fails with `StepMismatch` and changes nothing);
//! 2. the UTC day rolls the turnover counter over;
//! 3. the pool brings its TWAP accumulator up to this slot (before anything trades);
//!    paused -> PAUSED; a second sample in one slot -> PRICE_NOT_ADVANCED; otherwise read the
//!    price (owner/type/feed errors fail the transaction; old -> STALE_PRICE, uncertain ->
//!    PRICE_UNCERTAIN, a feed / Pyth price not strictly newer than the last sample ->
//!    PRICE_NOT_ADVANCED, none of them updates the history). A pool agent's price is the
//!    pool's TWAP since its previous sample (its very first step only reads the accumulator:
//!    WARMUP), never the spot;
//! 4. push the price; fewer prices than the feature spec needs -> WARMUP;
//! 5. features on chain (`features.rs`), each model run by `kernels::exec` on them (clamped to
//!    the model's declared range), weighted vote. The model accounts must be the agent's (the
//!    header it recorded, the pinned weights account or the header's active one): a crank
//!    passing others fails. A model that is genuinely unavailable (gone, its pinned content
//!    changed, no longer fitting the spec, refused by the kernels) makes the step a
//!    MODEL_UNAVAILABLE HOLD, so no model author can stop the step counter. Before a model
//!    runs, the models' compute bounds so far (`kernels::cost`, stored at finalize) are added
//!    up: models that together could exceed what any step can spend are a MODEL_UNAVAILABLE
//!    HOLD too (`ModelTooCostly`), decided by the bounds alone. The compute limit and the
//!    instructions before ours are the crank's choice, so they never make a HOLD: too little
//!    compute for models that fit fails the transaction, which changes nothing;
//! 6. `decide`: HOLD, LOW_CONFIDENCE, COOLDOWN, RISK_LIMIT, ORACLE_DEVIATION /
//!    TWAP_DEVIATION (spot too far from the reference: oracle, or TWAP), SLIPPAGE (the output
//!    below the reference value less `slippage_bps`: `min_out` never comes from the spot) or
//!    TRADED;
//! 7. trade: two SPL transfers (agent PDA -> pool vault, pool PDA -> agent vault);
//! 8. counters, decision log, `Decision` event (and `Trade` when it traded); step += 1.
//!
//! The crank chooses nothing: every amount comes from the agent's configuration, the vault
//! balances and the pool reserves, so it cannot move funds except by the models' decision.

use pinocchio::{
    cpi::Signer,
    sysvars::{clock::Clock, Sysvar},
    AccountView, Address, ProgramResult,
};

use super::{
    agent_seeds, load_agent, load_model_bytes, model_view, model_window, reason, BUY, HOLD, SELL,
};
use crate::args::ArgReader;
use crate::checks;
use crate::error::MlAgentError;
use crate::events::{emit, BorshWriter};
use crate::features::{compute, spec_lookback, FeatureInput};
use crate::instructions::market::{check_vaults, load_pool_mut, pool_pay, swap_out};
use crate::interface::{field, AccountSpec, InstructionSpec, SeedSpec, Ty, TypeSpec};
use crate::kernels::cost::{cost_bound, floor};
use crate::kernels::exec::{run, NoObserver};
use crate::kernels::model::ModelView;
use crate::kernels::scratch::Scratch;
use crate::oracle::{
    self, judge, ref_q32, within_deviation, within_deviation_q32, QuoteLimits, Reading,
};
use crate::state::agent::{
    Agent, DecisionRecord, MAX_FEATURES, MAX_MODELS, SOURCE_FEED, SOURCE_POOL,
};
use crate::state::agent_history::{window_into, AgentHistory, HistoryView};
use crate::state::model::{stored_cost_bound, ModelHeader, ModelStatus};
use crate::state::pool::{twap_q32, Pool};
use crate::token::{self, TOKEN_PROGRAM, TOKEN_PROGRAM_ID};
use crate::wide::{mul_div_ceil, mul_div_floor};

pub const AGENT_STEP: InstructionSpec = InstructionSpec::new(
    "agent_step",
    "Permissionless crank: read the price (pool agents: the pool's TWAP since the last \
     sample), update the history, compute the features, run the models, decide within the \
     risk limits and the deviation bound and trade. expected_step must equal the agent's step \
     counter. Remaining accounts: the agent's feature history (PDA [\"agent_history\", \
     agent]) when it has one, then (model header, weights) per model, in the agent's order.",
    &[
        AccountSpec::new("agent")
            .mutable()
            .pda(crate::state::agent::AGENT_PDA_CRANK),
        AccountSpec::new("pool").mutable().relations(&["agent"]),
        AccountSpec::new("pool_vault_a").mutable().pda(&[
            SeedSpec::Const(crate::state::pool::POOL_VAULT_SEED),
            SeedSpec::Account("pool"),
            SeedSpec::Field("pool.mint_a", "Pool"),
        ]),
        AccountSpec::new("pool_vault_b").mutable().pda(&[
            SeedSpec::Const(crate::state::pool::POOL_VAULT_SEED),
            SeedSpec::Account("pool"),
            SeedSpec::Field("pool.mint_b", "Pool"),
        ]),
        AccountSpec::new("vault_a").mutable().relations(&["agent"]),
        AccountSpec::new("vault_b").mutable().relations(&["agent"]),
        AccountSpec::new("price_source").relations(&["agent"]),
        AccountSpec::new("token_program").address(TOKEN_PROGRAM),
    ],
    &[field("expected_step", Ty::U64)],
    None,
);

pub const DECISION: TypeSpec = TypeSpec::event(
    "Decision",
    "Every agent_step: the features, the decision (action 0 SELL, 1 HOLD, 2 BUY), why (reason \
     0 traded, 1 hold, 2 low confidence, 3 risk limit, 4 cooldown, 5 stale price, 6 paused, \
     7 warmup, 8 price uncertain, 9 slippage, 10 oracle deviation, 11 model unavailable, 12 \
     TWAP deviation, 13 price not advanced, 14 warming up: the feature window is not full) and \
     the trade amounts (0 without a trade).",
    &[
        field("agent", Ty::Pubkey),
        field("step", Ty::U64),
        field("slot", Ty::U64),
        field("price", Ty::U64),
        field("action", Ty::U8),
        field("reason", Ty::U8),
        field("class", Ty::U8),
        field("confidence_q16", Ty::U32),
        field("n_features", Ty::U8),
        field("features", Ty::Array(&Ty::I32, MAX_FEATURES)),
        field("amount_in", Ty::U64),
        field("amount_out", Ty::U64),
    ],
);

pub const TRADE: TypeSpec = TypeSpec::event(
    "Trade",
    "A trade the agent made: side 0 SELL (base in) or 2 BUY (quote in); balances and reserves \
     after it.",
    &[
        field("agent", Ty::Pubkey),
        field("step", Ty::U64),
        field("side", Ty::U8),
        field("amount_in", Ty::U64),
        field("amount_out", Ty::U64),
        field("base_balance", Ty::U64),
        field("quote_balance", Ty::U64),
        field("reserve_a", Ty::U64),
        field("reserve_b", Ty::U64),
    ],
);

pub const MODEL_UNAVAILABLE: TypeSpec = TypeSpec::event(
    "ModelUnavailable",
    "A step held because one of the agent's models could not run (reason 11 in its Decision): \
     which slot, its header, and the program error code that stopped it.",
    &[
        field("agent", Ty::Pubkey),
        field("step", Ty::U64),
        field("index", Ty::U8),
        field("model", Ty::Pubkey),
        field("error", Ty::U32),
    ],
);

/// The largest compute budget of a transaction (the step cannot read what its transaction has
/// left: `sol_remaining_compute_units` needs feature
/// `5TuppMutoyzhUSfuYdhgzD47F92GL1g89KpCZQKqedxP`, which Surfpool 1.5.0 does not activate, so
/// a program calling it does not even load there; and what is left is the crank's choice).
pub const MAX_TX_CU: u64 = 1_400_000;
/// Upper bound of what a step spends before its first model (accounts, price, features) ...
pub const STEP_BEFORE_CU: u64 = 40_000;
/// ... and after its last (vote, `decide`, the two transfer CPIs, log, events). A whole step
/// with one small model and a trade measures ~16,000 (docs/agent.md): both are loose.
pub const STEP_AFTER_CU: u64 = 40_000;
/// What an agent's models may cost together: more can never run in one step, whoever cranks.
pub const MODELS_MAX_CU: u64 = MAX_TX_CU - STEP_BEFORE_CU - STEP_AFTER_CU;

/// Seconds per turnover day.
pub const DAY_SECONDS: u64 = 86_400;

/// Market state a decision is sized against.
pub struct Market {
    pub reserve_a: u64,
    pub reserve_b: u64,
    pub base_balance: u64,
    pub quote_balance: u64,
    pub fee_bps: u16,
    pub slot: u64,
    /// Feed / Pyth agents: this step's oracle price (mantissa, `agent.exponent`), checked
    /// exactly against the spot; 0 for a pool-priced agent.
    pub oracle_price: u64,
    /// The reference price, Q32 B atoms per A atom: the TWAP sample (pool agents) or the
    /// oracle price converted. Sizing and `min_out` use it, never the spot.
    pub ref_q32: u64,
}

/// What to do: the reason, and for TRADED the amounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub reason: u8,
    pub amount_in: u64,
    pub amount_out: u64,
    /// Quote value of the trade (BUY: quote in; SELL: quote out).
    pub value: u64,
}

const fn no_trade(reason: u8) -> Plan {
    Plan {
        reason,
        amount_in: 0,
        amount_out: 0,
        value: 0,
    }
}

/// The decision and risk logic, pure so it is unit-tested and mirrored by the Python twin.
pub fn decide(a: &Agent, m: &Market, action: u8, confidence: u32) -> Plan {
    let r = &a.risk;
    if action == HOLD {
        return no_trade(reason::HOLD);
    }
    if confidence < r.threshold_q16 {
        return no_trade(reason::LOW_CONFIDENCE);
    }
    if a.trades > 0 && m.slot < a.last_trade_slot.saturating_add(r.min_slots_between_trades) {
        return no_trade(reason::COOLDOWN);
    }
    let (ra, rb, px) = (m.reserve_a, m.reserve_b, m.ref_q32);
    if ra == 0 || rb == 0 || px == 0 {
        return no_trade(reason::RISK_LIMIT);
    }
    // Sizing: a BUY spends trade_size quote; a SELL sells trade_size of quote value at the
    // reference price (rounded down), never more than the vault holds. `fair` is what the
    // input is worth at the reference price.
    let (amount_in, out, value, fair) = if action == BUY {
        let x = r.trade_size.min(m.quote_balance);
        let out = swap_out(rb, ra, x, m.fee_bps).unwrap_or(0);
        (x, out, x, mul_div_floor(x, 1 << 32, px).unwrap_or(0))
    } else {
        let want = mul_div_floor(r.trade_size, 1 << 32, px).unwrap_or(u64::MAX);
        let x = want.min(m.base_balance);
        let out = swap_out(ra, rb, x, m.fee_bps).unwrap_or(0);
        (x, out, out, mul_div_floor(x, px, 1 << 32).unwrap_or(0))
    };
    if amount_in == 0 || out == 0 || value > r.max_trade {
        return no_trade(reason::RISK_LIMIT);
    }
    if action == BUY {
        match m.base_balance.checked_add(out) {
            Some(pos) if pos <= r.max_position => {}
            _ => return no_trade(reason::RISK_LIMIT),
        }
    }
    match a.turnover_today.checked_add(value) {
        Some(t) if t <= r.max_turnover_per_day => {}
        _ => return no_trade(reason::RISK_LIMIT),
    }
    // The pool's spot price must agree with the reference within max_oracle_dev_bps, both
    // ways: the oracle (exactly) or the TWAP.
    if m.oracle_price != 0 {
        let shift = a.exponent as i64 + a.decimals_diff as i64;
        if !within_deviation(ra, rb, m.oracle_price, shift, r.max_oracle_dev_bps) {
            return no_trade(reason::ORACLE_DEVIATION);
        }
    } else if !within_deviation_q32(ra, rb, px, r.max_oracle_dev_bps) {
        return no_trade(reason::TWAP_DEVIATION);
    }
    // The output may fall short of the input's value at the reference price by at most
    // slippage_bps (fee and price impact included); the bound is rounded up, in the agent's
    // favour. Nothing read from the pool in this transaction enters it.
    let min_out = mul_div_ceil(fair, 10_000 - r.slippage_bps as u64, 10_000).unwrap_or(u64::MAX);
    if out < min_out {
        return no_trade(reason::SLIPPAGE);
    }
    Plan {
        reason: reason::TRADED,
        amount_in,
        amount_out: out,
        value,
    }
}

/// Weighted vote: each model adds `weight x confidence` to its class; the best class wins with
/// confidence `score / total weight`; a tie for the best score is HOLD.
pub fn vote(classes: &[u32], confs: &[u32], weights: &[u16]) -> (u8, u32) {
    let mut score = [0u64; 3];
    let mut total = 0u64;
    for i in 0..classes.len() {
        let c = (classes[i] as usize).min(2);
        score[c] += weights[i] as u64 * confs[i] as u64;
        total += weights[i] as u64;
    }
    let best = score[0].max(score[1]).max(score[2]);
    let winners = score.iter().filter(|s| **s == best).count();
    let class = if winners > 1 {
        HOLD
    } else {
        score.iter().position(|s| *s == best).unwrap_or(1) as u8
    };
    let conf = score[class as usize].checked_div(total).unwrap_or(0) as u32;
    (class, conf)
}

pub fn agent_step(
    program_id: &Address,
    accounts: &mut [AccountView],
    data: &[u8],
) -> ProgramResult {
    let (fixed, rest) = accounts.split_at_mut(accounts.len().min(8));
    let [agent_acc, pool_acc, pool_va, pool_vb, vault_a, vault_b, price, token_program] = fixed
    else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    let mut args = ArgReader::new(data);
    let expected_step = args.u64()?;
    args.finish()?;

    checks::writable(agent_acc)?;
    // SAFETY: the only view of the agent's data in this instruction.
    let agent = unsafe { load_agent(agent_acc, program_id)? };
    if expected_step != agent.step {
        return Err(MlAgentError::StepMismatch.into());
    }
    if pool_acc.address().to_bytes() != agent.pool {
        return Err(MlAgentError::WrongVault.into());
    }
    // SAFETY: the only view of the pool's data in this instruction.
    let pool = unsafe { load_pool_mut(pool_acc, program_id)? };
    check_vaults(pool, pool_va, pool_vb)?;
    if vault_a.address().to_bytes() != agent.vault_a
        || vault_b.address().to_bytes() != agent.vault_b
    {
        return Err(MlAgentError::WrongVault.into());
    }
    checks::writable(vault_a)?;
    checks::writable(vault_b)?;
    checks::address(token_program, &TOKEN_PROGRAM_ID)?;
    // An agent with a feature history names it first among the remaining accounts, on every
    // step: missing, another agent's or any other account fails the transaction, so a crank
    // can neither skip a push nor feed the models someone else's window.
    let (mut hist, models) = if agent.has_history != 0 {
        let Some((h, models)) = rest.split_first_mut() else {
            return Err(MlAgentError::HistoryMismatch.into());
        };
        // SAFETY: the only view of the history's data in this instruction (it is neither the
        // agent nor the pool: their discriminators differ from an AgentHistory's).
        let v = unsafe { HistoryView::load(h, program_id, agent_acc.address()) }
            .map_err(|_| MlAgentError::HistoryMismatch)?;
        // Its shape was the agent's at creation; F never changes (checked all the same: the
        // window copy trusts it).
        if v.head.n_features != agent.n_features {
            return Err(MlAgentError::HistoryMismatch.into());
        }
        checks::writable(h)?;
        (Some(v), models)
    } else {
        (None, rest)
    };

    let clock = Clock::get()?;
    let now = if clock.unix_timestamp > 0 {
        clock.unix_timestamp as u64
    } else {
        0
    };
    let day = now / DAY_SECONDS;
    if day != agent.day {
        agent.day = day;
        agent.turnover_today = 0;
    }
    let mut rec = DecisionRecord {
        step: agent.step,
        slot: clock.slot,
        action: HOLD,
        class: 255,
        n_features: agent.n_features,
        ..DecisionRecord::default()
    };
    // The TWAP accumulator first, with the reserves this slot started from.
    pool.observe(clock.slot);
    let (ra, rb) = (pool.reserve_a, pool.reserve_b);
    let mut traded = false;
    if agent.paused != 0 {
        rec.reason = reason::PAUSED;
    } else {
        let reading = if agent.sampled != 0 && clock.slot <= agent.last_price_slot {
            Reading::NotAdvanced
        } else {
            read_price(agent, program_id, price, pool_acc, pool, &clock)?
        };
        match reading {
            Reading::Stale => rec.reason = reason::STALE_PRICE,
            Reading::Uncertain => rec.reason = reason::PRICE_UNCERTAIN,
            Reading::NotAdvanced => rec.reason = reason::PRICE_NOT_ADVANCED,
            Reading::First => {
                // A pool agent's first step: the start of its first TWAP window.
                (agent.twap_cum_hi, agent.twap_cum_lo) = pool.cumulative();
                agent.last_price_slot = clock.slot;
                agent.sampled = 1;
                rec.reason = reason::WARMUP;
            }
            Reading::Fresh(p) => {
                agent.push_price(p);
                agent.last_price = p;
                agent.last_price_slot = clock.slot;
                agent.sampled = 1;
                (agent.twap_cum_hi, agent.twap_cum_lo) = pool.cumulative();
                rec.price = p;
                let nf = agent.n_features as usize;
                let need = spec_lookback(&agent.features[..2 * nf]).unwrap_or(usize::MAX);
                if (agent.hist_len as usize) < need {
                    rec.reason = reason::WARMUP;
                } else {
                    let base = token::amount(vault_a);
                    compute(
                        &FeatureInput {
                            agent,
                            base_balance: base,
                        },
                        &mut rec.features,
                    );
                    let mut vote = Vote::new(&rec.features, None);
                    if let Some(h) = hist.as_mut() {
                        h.push(&rec.features, agent.step, clock.slot);
                        if h.full() {
                            vote.window = Some(Window {
                                head: &*h.head,
                                ring: &*h.ring,
                            });
                        }
                    }
                    if agent.window_models != 0 && vote.window.is_none() {
                        // Window models cannot run before the window is full: nothing runs.
                        vote.failed = WARMING;
                    } else {
                        infer_all(program_id, agent, models, &mut vote)?;
                    }
                    // A model that could not run leaves the vote at HOLD with confidence 0, so
                    // `decide` returns at its first check; the reason is set below.
                    let (class, conf) = (vote.class, vote.conf);
                    rec.class = class;
                    rec.action = class;
                    rec.confidence_q16 = conf;
                    let market = Market {
                        reserve_a: ra,
                        reserve_b: rb,
                        base_balance: base,
                        quote_balance: token::amount(vault_b),
                        fee_bps: pool.fee_bps,
                        slot: clock.slot,
                        oracle_price: if agent.source_kind == SOURCE_POOL {
                            0
                        } else {
                            p
                        },
                        ref_q32: if agent.source_kind == SOURCE_POOL {
                            p
                        } else {
                            let shift = agent.exponent as i64 + agent.decimals_diff as i64;
                            ref_q32(p, shift).unwrap_or(0)
                        },
                    };
                    let plan = decide(agent, &market, class, conf);
                    rec.reason = plan.reason;
                    if plan.reason == reason::TRADED {
                        execute(&Execution {
                            agent,
                            agent_acc,
                            pool,
                            pool_acc,
                            pool_va,
                            pool_vb,
                            vault_a,
                            vault_b,
                            buy: class == BUY,
                            plan: &plan,
                        })?;
                        // The pool's books follow its vaults: in on one side, out on the
                        // other (both checked by the token transfers above).
                        if class == BUY {
                            pool.reserve_b = rb + plan.amount_in;
                            pool.reserve_a = ra - plan.amount_out;
                        } else {
                            pool.reserve_a = ra + plan.amount_in;
                            pool.reserve_b = rb - plan.amount_out;
                        }
                        rec.amount_in = plan.amount_in;
                        rec.amount_out = plan.amount_out;
                        record_trade(agent, class, &plan, clock.slot)?;
                        traded = true;
                    }
                    if vote.failed == WARMING {
                        rec.reason = reason::WARMING_UP;
                        rec.class = 255;
                    } else if vote.failed != NO_FAILURE {
                        rec.reason = reason::MODEL_UNAVAILABLE;
                        rec.class = 255;
                        emit_unavailable(agent_acc, agent, &vote);
                    }
                }
            }
        }
    }
    agent.push_log(&rec);
    emit_decision(agent_acc, &rec);
    if traded {
        emit_trade(agent_acc, &rec, &[vault_a, vault_b], pool);
    }
    agent.step = agent
        .step
        .checked_add(1)
        .ok_or(MlAgentError::ArithmeticOverflow)?;
    Ok(())
}

/// Read and judge the agent's price source (inlined: six arguments). The pool has observed
/// this slot already.
#[inline(always)]
fn read_price(
    agent: &mut Agent,
    program_id: &Address,
    price: &AccountView,
    pool_acc: &AccountView,
    pool: &Pool,
    clock: &Clock,
) -> Result<Reading, MlAgentError> {
    let limits = |now: i64| QuoteLimits {
        exponent: agent.exponent,
        max_age: agent.risk.max_price_age,
        now,
        max_conf_bps: agent.risk.max_conf_bps,
    };
    match agent.source_kind {
        SOURCE_POOL => {
            if price.address() != pool_acc.address() {
                return Err(MlAgentError::PriceSourceMismatch);
            }
            if agent.sampled == 0 {
                return Ok(Reading::First);
            }
            // The caller checked clock.slot > last_price_slot: the window is not empty.
            let dt = clock.slot - agent.last_price_slot;
            let c0 = (agent.twap_cum_hi, agent.twap_cum_lo);
            Ok(match twap_q32(c0, pool.cumulative(), dt) {
                Some(p) if p > 0 && p < crate::features::MAX_PRICE => Reading::Fresh(p),
                _ => Reading::Uncertain,
            })
        }
        kind => {
            // Owner and type first: a look-alike account fails as what it is.
            let (q, now) = if kind == SOURCE_FEED {
                let q = oracle::read_feed(price, program_id)?;
                if price.address().to_bytes() != agent.price_source {
                    return Err(MlAgentError::PriceSourceMismatch);
                }
                (q, clock.slot as i64)
            } else {
                (
                    oracle::read_pyth(price, &agent.pyth_feed_id)?,
                    clock.unix_timestamp,
                )
            };
            let r = judge(&q, &limits(now));
            if let Reading::Fresh(_) = r {
                // A sample the crank could choose (an older update, the same one again)
                // never enters the history.
                if agent.sampled != 0 && q.published <= agent.last_published {
                    return Ok(Reading::NotAdvanced);
                }
                agent.last_published = q.published;
            }
            Ok(r)
        }
    }
}

/// `Vote::failed` when every model ran.
const NO_FAILURE: u8 = u8::MAX;
/// `Vote::failed` when the agent's window models are warming up (no model ran).
const WARMING: u8 = u8::MAX - 1;

/// A full feature history: what a window model reads.
#[derive(Clone, Copy)]
struct Window<'a> {
    head: &'a AgentHistory,
    ring: &'a [i32],
}

/// The features the models run on, and what running them gave: the vote, or the first model
/// that could not run.
struct Vote<'a> {
    features: &'a [i32; MAX_FEATURES],
    /// The full window, when the agent has a history that holds `T` vectors.
    window: Option<Window<'a>>,
    class: u8,
    conf: u32,
    /// Slot of the model that could not run, or `NO_FAILURE`.
    failed: u8,
    /// Its error code (`MlAgentError`).
    error: u32,
}

impl<'a> Vote<'a> {
    fn new(features: &'a [i32; MAX_FEATURES], window: Option<Window<'a>>) -> Self {
        Vote {
            features,
            window,
            class: HOLD,
            conf: 0,
            failed: NO_FAILURE,
            error: 0,
        }
    }
}

/// Run every model on the features (each clamped to its declared range) and vote. An `Err`
/// is the crank's doing (model accounts other than the agent's) and fails the step; a model
/// that cannot run is recorded in `out.failed` and the step goes on as a HOLD.
fn infer_all(
    program_id: &Address,
    agent: &Agent,
    models: &[AccountView],
    out: &mut Vote,
) -> Result<(), MlAgentError> {
    let features = out.features;
    let nm = agent.n_models as usize;
    if models.len() != 2 * nm {
        return Err(MlAgentError::ModelSetMismatch);
    }
    let mut classes = [0u32; MAX_MODELS];
    let mut confs = [0u32; MAX_MODELS];
    let mut meter = Meter { total: 0 };
    for i in 0..nm {
        let (h, w) = (&models[2 * i], &models[2 * i + 1]);
        check_slot_accounts(program_id, agent, i, h, w)?;
        let slot = Slot {
            agent,
            i,
            h,
            w,
            features,
            window: out.window,
        };
        if let Err(e) = run_slot(
            program_id,
            &slot,
            &mut meter,
            &mut classes[i],
            &mut confs[i],
        ) {
            out.failed = i as u8;
            out.error = e as u32;
            return Ok(());
        }
    }
    (out.class, out.conf) = vote(&classes[..nm], &confs[..nm], &agent.model_weights[..nm]);
    Ok(())
}

/// The addresses a crank must get right, because the agent determines them: the recorded
/// header; for a pinned slot the recorded weights account; for a following slot the weights
/// account the header names as active (when the header is a live model at all; a header that
/// is gone or closed is the model's failure, whatever weights account comes with it).
#[inline(always)]
fn check_slot_accounts(
    program_id: &Address,
    agent: &Agent,
    i: usize,
    h: &AccountView,
    w: &AccountView,
) -> Result<(), MlAgentError> {
    if h.address().to_bytes() != agent.models[i] {
        return Err(MlAgentError::ModelSetMismatch);
    }
    if agent.model_versions[i] != 0 {
        if w.address().to_bytes() != agent.pinned_weights[i] {
            return Err(MlAgentError::PinnedVersionMismatch);
        }
        return Ok(());
    }
    // SAFETY: read-only view; no mutable borrow of the header is live.
    if let Ok(hd) = unsafe { ModelHeader::load(h, program_id) } {
        let live = hd.status == ModelStatus::Ready as u8 || hd.status == ModelStatus::Frozen as u8;
        if live && hd.active_weights != w.address().to_bytes() {
            return Err(MlAgentError::NotActiveVersion);
        }
    }
    Ok(())
}

/// The models' bounds so far: every model is charged its bound before it runs.
struct Meter {
    total: u64,
}

impl Meter {
    /// `ModelTooCostly` when `cu` more would take the models past what any step can spend.
    fn check(&self, cu: u64) -> Result<(), MlAgentError> {
        if self.total.saturating_add(cu) > MODELS_MAX_CU {
            return Err(MlAgentError::ModelTooCostly);
        }
        Ok(())
    }

    fn charge(&mut self, cu: u64) -> Result<(), MlAgentError> {
        self.check(cu)?;
        self.total += cu;
        Ok(())
    }
}

/// One model slot of the agent and the features to run it on.
struct Slot<'a> {
    agent: &'a Agent,
    i: usize,
    h: &'a AccountView,
    w: &'a AccountView,
    features: &'a [i32; MAX_FEATURES],
    window: Option<Window<'a>>,
}

/// Run model slot `s.i` (accounts already checked) into `class` and `conf`, or say why it
/// cannot run. (Arguments travel in `Slot`: the BPF backend passes at most five.)
fn run_slot(
    program_id: &Address,
    s: &Slot,
    meter: &mut Meter,
    class: &mut u32,
    conf: &mut u32,
) -> Result<(), MlAgentError> {
    let (agent, i, h, w, features) = (s.agent, s.i, s.h, s.w, s.features);
    let nf = agent.n_features as usize;
    let m = load_model_bytes(program_id, h, w, agent.model_versions[i])?;
    // A pinned slot runs the bytes it was pinned to: same account and same content hash (the
    // account could have been closed and recreated at its address with other bytes).
    if agent.model_versions[i] != 0 && m.weights.chunk_root != agent.pinned_roots[i] {
        return Err(MlAgentError::PinnedVersionMismatch);
    }
    // An active version may have changed since creation: check it still fits (its inputs are
    // the feature vector, or the full window of the agent's history).
    let view = model_view(&m)?;
    if view.n_features != nf {
        return run_window(
            &WindowRun {
                view: &view,
                window: s.window,
                n_features: nf,
                ops_checked: m.ops_checked,
                weights: m.weights,
            },
            meter,
            class,
            conf,
        );
    }
    // Its bound before any of its work: stored at finalize, or (a version sealed by older
    // code) computed here, once the part that needs no walk is known to fit (the walk costs
    // less than that part, so it cannot take the step past the largest budget either).
    let bound = match stored_cost_bound(m.weights) {
        Some(b) => b,
        None => {
            meter.check(floor(view.n_features, view.n_ops))?;
            cost_bound(&view)
        }
    };
    meter.charge(bound)?;
    let (lo, hi) = view.ranges();
    let mut x = [0i32; MAX_FEATURES];
    for j in 0..nf {
        x[j] = features[j].clamp(lo[j], hi[j].max(lo[j]));
    }
    // SAFETY: 4 * nf bytes of an i32 array; u8 has no alignment needs.
    let xb = unsafe { core::slice::from_raw_parts(x.as_ptr() as *const u8, 4 * nf) };
    #[cfg(target_arch = "bpf")]
    // SAFETY: models run one after another; nothing from the previous run is still used.
    let mut scratch = unsafe { Scratch::heap() };
    #[cfg(not(target_arch = "bpf"))]
    let mut arena = std::vec![0i64; crate::kernels::scratch::DEFAULT_HEAP_BYTES / 8];
    #[cfg(not(target_arch = "bpf"))]
    let mut scratch = Scratch::new(&mut arena);
    // A version finalize marked OPS_CHECKED takes the marked executor, as in `infer`. Its
    // buffers here are a third of the whole heap, at least the size finalize's dry run
    // checked every width against (that run first set aside infer's return-data words).
    let r = if m.ops_checked {
        run::<_, true>(&view, xb, &mut scratch, &mut NoObserver)
    } else {
        run::<_, false>(&view, xb, &mut scratch, &mut NoObserver)
    }
    .map_err(|_| MlAgentError::UnsupportedModel)?;
    *class = r.class;
    *conf = r.confidence.clamp(0, 65536) as u32;
    Ok(())
}

/// A model whose inputs are not the agent's feature vector, and the window it may read.
struct WindowRun<'a, 'v> {
    view: &'a ModelView<'v>,
    /// The agent's full feature history, if it has one.
    window: Option<Window<'a>>,
    n_features: usize,
    ops_checked: bool,
    weights: &'a crate::state::model::ModelWeights,
}

/// Run a model over the full window: `T * F` inputs, time-major and oldest first, each clamped
/// to the model's declared range for its index, copied into the heap (up to 4 KiB: more than
/// the BPF stack frame), then the executor `infer` runs on the rest of the heap. A model of
/// any other width, or a window model without a full window of its shape, cannot run.
/// (Out of line, so a step without window models pays nothing for it.)
#[inline(never)]
fn run_window(
    r: &WindowRun,
    meter: &mut Meter,
    class: &mut u32,
    conf: &mut u32,
) -> Result<(), MlAgentError> {
    let view = r.view;
    let n = view.n_features;
    let window = match (r.window, model_window(n, r.n_features)) {
        (Some(w), Some(t)) if t == w.head.window => w,
        _ => return Err(MlAgentError::FeatureSpecMismatch),
    };
    // The bound, as for a single-vector model.
    let bound = match stored_cost_bound(r.weights) {
        Some(b) => b,
        None => {
            meter.check(floor(view.n_features, view.n_ops))?;
            cost_bound(view)
        }
    };
    meter.charge(bound)?;
    #[cfg(target_arch = "bpf")]
    // SAFETY: models run one after another; nothing from the previous run is still used.
    let mut scratch = unsafe { Scratch::heap() };
    #[cfg(not(target_arch = "bpf"))]
    let mut arena = std::vec![0i64; crate::kernels::scratch::DEFAULT_HEAP_BYTES / 8];
    #[cfg(not(target_arch = "bpf"))]
    let mut scratch = Scratch::new(&mut arena);
    let words = n.div_ceil(2);
    let buf = scratch
        .take(words)
        .map_err(|_| MlAgentError::UnsupportedModel)?;
    // SAFETY: `words` i64 hold 2 * words >= n i32; i64 alignment covers i32's.
    let x = unsafe { core::slice::from_raw_parts_mut(buf.as_mut_ptr() as *mut i32, n) };
    let (lo, hi) = view.ranges();
    window_into(window.head, window.ring, lo, hi, x);
    // SAFETY: 4n bytes of the i32 slice above; u8 has no alignment needs.
    let xb = unsafe { core::slice::from_raw_parts(x.as_ptr() as *const u8, 4 * n) };
    // The marked executor trusts finalize's dry run, which checked every width against a
    // third of the heap less infer's return-data words: it may run here only if the window
    // took no more than those words. (A window model's ranges and affine alone are 20 bytes an
    // input, so only windows of up to ~200 inputs can be marked at all, 4 KiB files.)
    let marked = r.ops_checked && words <= crate::instructions::infer::MAX_OUTPUTS + 2;
    let res = if marked {
        run::<_, true>(view, xb, &mut scratch, &mut NoObserver)
    } else {
        run::<_, false>(view, xb, &mut scratch, &mut NoObserver)
    }
    .map_err(|_| MlAgentError::UnsupportedModel)?;
    *class = res.class;
    *conf = res.confidence.clamp(0, 65536) as u32;
    Ok(())
}

struct Execution<'a> {
    agent: &'a Agent,
    agent_acc: &'a AccountView,
    pool: &'a crate::state::pool::Pool,
    pool_acc: &'a AccountView,
    pool_va: &'a AccountView,
    pool_vb: &'a AccountView,
    vault_a: &'a AccountView,
    vault_b: &'a AccountView,
    buy: bool,
    plan: &'a Plan,
}

/// The swap: the agent pays into the pool (agent PDA signs), the pool pays out (pool PDA signs).
fn execute(e: &Execution) -> ProgramResult {
    let id = e.agent.agent_id.to_le_bytes();
    let bump = [e.agent.bump];
    let seeds = agent_seeds(e.agent, &id, &bump);
    let (from, into, pay_from, pay_to) = if e.buy {
        (e.vault_b, e.pool_vb, e.pool_va, e.vault_a)
    } else {
        (e.vault_a, e.pool_va, e.pool_vb, e.vault_b)
    };
    token::transfer(
        from,
        into,
        e.agent_acc,
        e.plan.amount_in,
        &[Signer::from(&seeds)],
    )?;
    pool_pay(e.pool, e.pool_acc, pay_from, pay_to, e.plan.amount_out)
}

fn record_trade(agent: &mut Agent, side: u8, plan: &Plan, slot: u64) -> Result<(), MlAgentError> {
    let add = |a: u64, b: u64| a.checked_add(b).ok_or(MlAgentError::ArithmeticOverflow);
    agent.trades = add(agent.trades, 1)?;
    agent.last_trade_slot = slot;
    agent.turnover_today = add(agent.turnover_today, plan.value)?;
    if side == BUY {
        agent.buys = add(agent.buys, 1)?;
        agent.quote_spent = add(agent.quote_spent, plan.amount_in)?;
        agent.base_bought = add(agent.base_bought, plan.amount_out)?;
    } else if side == SELL {
        agent.sells = add(agent.sells, 1)?;
        agent.base_sold = add(agent.base_sold, plan.amount_in)?;
        agent.quote_received = add(agent.quote_received, plan.amount_out)?;
    }
    Ok(())
}

fn emit_decision(agent_acc: &AccountView, r: &DecisionRecord) {
    let mut buf = [0u8; 8 + 32 + 24 + 3 + 4 + 1 + 32 + 16];
    let mut w = BorshWriter::event(&DECISION, &mut buf);
    w.bytes(agent_acc.address().as_ref())
        .u64(r.step)
        .u64(r.slot)
        .u64(r.price)
        .u8(r.action)
        .u8(r.reason)
        .u8(r.class)
        .u32(r.confidence_q16)
        .u8(r.n_features);
    for f in r.features {
        w.u32(f as u32);
    }
    w.u64(r.amount_in).u64(r.amount_out);
    emit(w.finish());
}

fn emit_unavailable(agent_acc: &AccountView, agent: &Agent, v: &Vote) {
    let mut buf = [0u8; 8 + 32 + 8 + 1 + 32 + 4];
    let mut w = BorshWriter::event(&MODEL_UNAVAILABLE, &mut buf);
    w.bytes(agent_acc.address().as_ref())
        .u64(agent.step)
        .u8(v.failed)
        .bytes(&agent.models[v.failed as usize % MAX_MODELS])
        .u32(v.error);
    emit(w.finish());
}

fn emit_trade(agent_acc: &AccountView, r: &DecisionRecord, acc: &[&AccountView; 2], pool: &Pool) {
    let mut buf = [0u8; 8 + 32 + 8 + 1 + 48];
    let mut w = BorshWriter::event(&TRADE, &mut buf);
    w.bytes(agent_acc.address().as_ref())
        .u64(r.step)
        .u8(r.action)
        .u64(r.amount_in)
        .u64(r.amount_out)
        .u64(token::amount(acc[0]))
        .u64(token::amount(acc[1]))
        .u64(pool.reserve_a)
        .u64(pool.reserve_b);
    emit(w.finish());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::agent::RiskParams;

    fn agent() -> std::boxed::Box<Agent> {
        // SAFETY: plain integers; zero is valid.
        let mut a: std::boxed::Box<Agent> = std::boxed::Box::new(unsafe { core::mem::zeroed() });
        a.risk = RiskParams {
            trade_size: 1_000,
            max_position: 1_000_000,
            max_trade: 10_000,
            max_turnover_per_day: 100_000,
            min_slots_between_trades: 5,
            max_price_age: 10,
            threshold_q16: 40_000,
            max_conf_bps: 100,
            slippage_bps: 100,
            max_oracle_dev_bps: 100,
            padding: [0; 4],
        };
        a
    }

    fn market() -> Market {
        Market {
            reserve_a: 1_000_000,
            reserve_b: 1_000_000,
            base_balance: 5_000,
            quote_balance: 5_000,
            fee_bps: 30,
            slot: 100,
            oracle_price: 0,
            ref_q32: 1 << 32,
        }
    }

    #[test]
    fn pool_agents_trade_against_the_twap_not_the_spot() {
        let a = agent();
        // Someone pushed the spot 2 % up inside the slot; the TWAP still says 1.0.
        let pushed = Market {
            reserve_b: 1_020_000,
            ..market()
        };
        assert_eq!(
            decide(&a, &pushed, BUY, 65536).reason,
            reason::TWAP_DEVIATION
        );
        assert_eq!(
            decide(&a, &pushed, SELL, 65536).reason,
            reason::TWAP_DEVIATION
        );
        // Within the band, min_out is the reference value less slippage: a spot 0.9 % above
        // the TWAP with a 0.3 % fee fails a 1 % slippage bound on a BUY...
        let up = Market {
            reserve_b: 1_009_000,
            ..market()
        };
        assert_eq!(decide(&a, &up, BUY, 65536).reason, reason::SLIPPAGE);
        // ...which the old spot-based bound (fair value at the pushed spot) would have passed.
        let spot_fair = 1_000u64 * 1_000_000 / 1_009_000;
        let out = swap_out(1_009_000, 1_000_000, 1_000, 30).unwrap();
        assert!(out >= spot_fair * 9_900 / 10_000);
        // A SELL is sized at the reference: trade_size of quote value is 1,000 A at 1.0.
        let s = decide(&a, &up, SELL, 65536);
        assert_eq!((s.reason, s.amount_in), (reason::TRADED, 1_000));
        // No reference price: nothing to size against.
        let none = Market {
            ref_q32: 0,
            ..market()
        };
        assert_eq!(decide(&a, &none, BUY, 65536).reason, reason::RISK_LIMIT);
    }

    #[test]
    fn every_reason() {
        let a = agent();
        let m = market();
        assert_eq!(decide(&a, &m, HOLD, 65536).reason, reason::HOLD);
        assert_eq!(decide(&a, &m, BUY, 39_999).reason, reason::LOW_CONFIDENCE);
        let p = decide(&a, &m, BUY, 40_000);
        assert_eq!(p.reason, reason::TRADED);
        assert_eq!(p.amount_in, 1_000);
        assert_eq!(
            Some(p.amount_out),
            swap_out(1_000_000, 1_000_000, 1_000, 30)
        );
        let s = decide(&a, &m, SELL, 65536);
        assert_eq!((s.reason, s.amount_in), (reason::TRADED, 1_000));
        let mut c = agent();
        c.trades = 1;
        c.last_trade_slot = 96;
        assert_eq!(decide(&c, &m, BUY, 65536).reason, reason::COOLDOWN);
        c.last_trade_slot = 95;
        assert_eq!(decide(&c, &m, BUY, 65536).reason, reason::TRADED);
        let mut r = agent();
        r.risk.max_position = 5_500;
        assert_eq!(decide(&r, &m, BUY, 65536).reason, reason::RISK_LIMIT);
        let mut r = agent();
        r.risk.max_trade = 999;
        assert_eq!(decide(&r, &m, BUY, 65536).reason, reason::RISK_LIMIT);
        let mut r = agent();
        r.turnover_today = 99_500;
        assert_eq!(decide(&r, &m, BUY, 65536).reason, reason::RISK_LIMIT);
        let mut r = agent();
        r.risk.slippage_bps = 10; // the 0.3 % fee alone exceeds it
        assert_eq!(decide(&r, &m, BUY, 65536).reason, reason::SLIPPAGE);
        let broke = Market {
            quote_balance: 0,
            ..market()
        };
        assert_eq!(decide(&a, &broke, BUY, 65536).reason, reason::RISK_LIMIT);
    }

    #[test]
    fn oracle_deviation_both_ways() {
        // Feed at exponent -6, both mints 6 decimals: price 1,000,000 = 1 B atom per A atom.
        let mut a = agent();
        a.exponent = -6;
        a.risk.max_oracle_dev_bps = 50;
        let at = |p: u64| Market {
            oracle_price: p,
            ..market()
        };
        assert_eq!(
            decide(&a, &at(1_000_000), BUY, 65536).reason,
            reason::TRADED
        );
        assert_eq!(
            decide(&a, &at(1_005_000), SELL, 65536).reason,
            reason::TRADED
        );
        // Pool 0.5 % below / above the oracle (and one atom more): refused either side.
        assert_eq!(
            decide(&a, &at(1_005_026), BUY, 65536).reason,
            reason::ORACLE_DEVIATION
        );
        assert_eq!(
            decide(&a, &at(995_024), SELL, 65536).reason,
            reason::ORACLE_DEVIATION
        );
        assert_eq!(decide(&a, &at(995_025), SELL, 65536).reason, reason::TRADED);
        assert_eq!(
            decide(&a, &at(1_005_025), BUY, 65536).reason,
            reason::TRADED
        );
        // Decimals: B has 3 more decimals than A, so the same mantissa is 1,000 B atoms.
        a.decimals_diff = 3;
        assert_eq!(
            decide(&a, &at(1_000_000), BUY, 65536).reason,
            reason::ORACLE_DEVIATION
        );
        assert_eq!(decide(&a, &at(1_000), BUY, 65536).reason, reason::TRADED);
        // The deviation is checked after the risk limits, before the slippage bound.
        a.risk.max_trade = 1;
        assert_eq!(decide(&a, &at(1), BUY, 65536).reason, reason::RISK_LIMIT);
    }

    #[test]
    fn models_past_what_a_step_can_spend_are_too_costly() {
        let mut m = Meter { total: 0 };
        assert_eq!(m.charge(MODELS_MAX_CU - 10), Ok(()));
        assert_eq!(m.check(10), Ok(()));
        assert_eq!(m.charge(11), Err(MlAgentError::ModelTooCostly));
        // A failed charge leaves the total; a saturated (never-fits) bound cannot wrap.
        assert_eq!(m.total, MODELS_MAX_CU - 10);
        assert_eq!(m.charge(u64::MAX), Err(MlAgentError::ModelTooCostly));
        assert_eq!(m.charge(10), Ok(()));
        assert_eq!(MODELS_MAX_CU, 1_320_000);
    }

    #[test]
    fn weighted_vote() {
        assert_eq!(vote(&[2], &[50_000], &[1]), (2, 50_000));
        // 4 x 40,000 for BUY beats 1 x 65,536 + 1 x 60,000 for SELL; 3 x 40,000 does not.
        assert_eq!(
            vote(&[2, 0, 0], &[40_000, 65_536, 60_000], &[4, 1, 1]),
            (2, 160_000 / 6)
        );
        assert_eq!(
            vote(&[2, 0, 0], &[40_000, 65_536, 60_000], &[3, 1, 1]),
            (0, 125_536 / 5)
        );
        // A tie is HOLD.
        assert_eq!(vote(&[2, 0], &[50_000, 50_000], &[1, 1]).0, HOLD);
    }
}
