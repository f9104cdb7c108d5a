"""A trading world on any chain: two SPL mints, the program's pool with liquidity, a simulator
wallet, a model deployed through the registry and a funded agent.

    world = await create_world(chain, payer, model_bytes, spec, risk)
    sim = MarketSimulator(OnChainPool(chain, world.pool, world.sim), path)
    program = await AgentStepProgram.load(chain, payer, world.agent)

The payer is the mints' authority, the pool's liquidity provider and the agent's authority
(and, for a feed-priced agent, ``feed_id`` set, the price feed's publisher).
``create_market`` is the first half alone: mints, pool with liquidity, simulator wallet.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from ..agent import SOURCE_FEED, SOURCE_POOL, AgentClient, FeatureSpec, ModelSlot, Risk
from ..chain.base import Chain
from ..market import MarketClient
from ..registry.registry import ModelRegistry
from ..sim.onchain import PoolTwin, SimWallet, fund_wallet


@dataclass(frozen=True)
class WorldConfig:
    """Sizes in atoms; both mints have ``decimals`` decimals, so prices read the same in atoms
    and in tokens. The pool starts at ``price`` quote per base."""

    price: float = 100.0
    decimals: int = 6
    pool_base: int = 10_000 * 10**6
    fee_bps: int = 30
    agent_base: int = 100 * 10**6
    agent_quote: int = 10_000 * 10**6
    sim_base: int = 1_000_000 * 10**6
    sim_quote: int = 100_000_000 * 10**6
    agent_id: int = 1

    @property
    def pool_quote(self) -> int:
        return round(self.pool_base * self.price)

    def twin(self) -> PoolTwin:
        """The pool as it starts, offline."""
        return PoolTwin(self.pool_base, self.pool_quote, self.fee_bps)


def default_risk(decimals: int = 6, **overrides: int) -> Risk:
    """One trade is 100 quote tokens (or that much base); position up to 300 base tokens."""
    one = 10**decimals
    base = {
        "trade_size": 100 * one,
        "max_position": 300 * one,
        "max_trade": 1_000 * one,
        "max_turnover_per_day": 10**18,
        "min_slots_between_trades": 0,
        "max_price_age": 100,
        "threshold_q16": 0,
        "max_conf_bps": 100,
        "slippage_bps": 100,
    }
    base.update(overrides)
    return Risk(**base)


@dataclass
class World:
    chain: Chain
    payer: Keypair
    config: WorldConfig
    mint_a: Pubkey
    mint_b: Pubkey
    pool: Pubkey
    user_a: Pubkey
    user_b: Pubkey
    sim: SimWallet
    model: Pubkey
    weights: Pubkey
    agent: Pubkey
    spec: FeatureSpec
    risk: Risk
    timings: dict[str, float] = field(default_factory=dict)
    # The agent's price feed (None: the agent prices from the pool).
    feed: Pubkey | None = None


@dataclass(frozen=True)
class MarketSetup:
    """Two mints, the program's pool over them with liquidity, the payer's token accounts
    (holding ``agent_base``/``agent_quote`` for a deposit) and a funded simulator wallet."""

    mint_a: Pubkey
    mint_b: Pubkey
    pool: Pubkey
    user_a: Pubkey
    user_b: Pubkey
    sim: SimWallet


async def create_market(chain: Chain, payer: Keypair, cfg: WorldConfig) -> MarketSetup:
    market = MarketClient(chain, payer)
    mint_a = await market.create_mint(cfg.decimals)
    mint_b = await market.create_mint(cfg.decimals)
    pool = await market.create_pool(mint_a, mint_b, fee_bps=cfg.fee_bps)
    st = await market.pool(pool)
    user_a = await market.create_token_account(mint_a, payer.pubkey())
    user_b = await market.create_token_account(mint_b, payer.pubkey())
    user_lp = await market.create_token_account(st.lp_mint, payer.pubkey())
    await market.mint_to(mint_a, user_a, cfg.pool_base + cfg.agent_base)
    await market.mint_to(mint_b, user_b, cfg.pool_quote + cfg.agent_quote)
    await market.add_liquidity(
        pool, user_a, user_b, user_lp, amount_a=cfg.pool_base, max_b=cfg.pool_quote
    )
    sim = await fund_wallet(
        chain, payer, mint_a, mint_b, amount_a=cfg.sim_base, amount_b=cfg.sim_quote
    )
    return MarketSetup(mint_a, mint_b, pool, user_a, user_b, sim)


async def create_world(
    chain: Chain,
    payer: Keypair,
    model: bytes,
    spec: FeatureSpec,
    risk: Risk,
    config: WorldConfig | None = None,
    *,
    feed_id: bytes | None = None,
    feed_exponent: int = -8,
) -> World:
    """``feed_id``: price the agent from a new program price feed (the payer publishes; the
    feed starts at ``config.price``) instead of from the pool."""
    import time

    cfg = config or WorldConfig()
    timings: dict[str, float] = {}
    t = time.perf_counter()
    deployed = await ModelRegistry(chain, payer).deploy(model)
    timings["deploy_model"] = time.perf_counter() - t

    t = time.perf_counter()
    m = await create_market(chain, payer, cfg)
    feed: Pubkey | None = None
    if feed_id is not None:
        market = MarketClient(chain, payer)
        feed = await market.create_feed(feed_id, feed_exponent)
        value = round(cfg.price * 10**-feed_exponent)
        await market.publish(feed, value, value * 5 // 10_000)
    timings["create_market"] = time.perf_counter() - t

    t = time.perf_counter()
    agents = AgentClient(chain, payer)
    agent = await agents.create(
        agent_id=cfg.agent_id,
        pool=m.pool,
        models=[ModelSlot(deployed.model)],
        spec=spec,
        risk=risk,
        source=SOURCE_POOL if feed is None else SOURCE_FEED,
        price_source=feed,
    )
    await agents.deposit(
        agent, m.user_a, m.user_b, amount_a=cfg.agent_base, amount_b=cfg.agent_quote
    )
    timings["create_agent"] = time.perf_counter() - t
    return World(
        chain,
        payer,
        cfg,
        m.mint_a,
        m.mint_b,
        m.pool,
        m.user_a,
        m.user_b,
        m.sim,
        deployed.model,
        deployed.weights,
        agent,
        spec,
        risk,
        timings,
        feed,
    )
