"""A market with real SPL tokens, a pool, models in the registry and an agent, on any chain."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from client.agent import AgentClient, FeatureSpec, ModelSlot, Risk, StepResult
from client.chain.base import Chain
from client.chain.litesvm import LiteSvmChain
from client.market import MarketClient
from client.model.compiler import compile_model
from client.model.format import encode
from client.model.ir import DenseLayer, FloatModel, Head
from client.registry import ModelRegistry

# return:1, sma_ratio:4, volatility:3, position -> an iris-size 4-input model.
SPEC = FeatureSpec.parse("return:1,sma_ratio:4,volatility:3,position")
LABELS = ("sell", "hold", "buy")
RESERVE = 1_000_000_000


def linear_model(weights: list[list[float]], bias: list[float], n: int = 4) -> bytes:
    """A 3-class softmax over the features (class 0 SELL, 1 HOLD, 2 BUY), compiled to INT8."""
    fm = FloatModel(
        n,
        (DenseLayer(np.asarray(weights, dtype=np.float64), np.asarray(bias, dtype=np.float64)),),
        Head.SOFTMAX,
        LABELS,
        name="agent",
    )
    rng = np.random.default_rng(1)
    calib = rng.uniform(-0.3, 0.3, (256, n))
    calib[:, n - 1] = rng.uniform(0, 1, 256)
    lo = [-1.0] * (n - 1) + [0.0]
    hi = [1.0] * (n - 1) + [2.0]
    return encode(compile_model(fm, calib, 8, input_range=(lo, hi)))


def momentum_model(k: float = 60.0) -> bytes:
    """BUY on a rise, SELL on a fall (return:1 dominates), HOLD when flat."""
    return linear_model([[-k, 0, 0, 0], [0, 0, 0, 0.01], [k, 0, 0, 0]], [0.0, 1.0, 0.0])


def constant_model(cls: int, margin: float = 3.0) -> bytes:
    """Always `cls`, with a confidence set by `margin`."""
    bias = [0.0, 0.0, 0.0]
    bias[cls] = margin
    return linear_model([[0.01, 0, 0, 0], [0, 0.01, 0, 0], [0, 0, 0.01, 0]], bias)


def default_risk(**kw: int) -> Risk:
    base = {
        "trade_size": 1_000_000,
        "max_position": 50_000_000,
        "max_trade": 5_000_000,
        "max_turnover_per_day": 1_000_000_000,
        "min_slots_between_trades": 0,
        "max_price_age": 50,
        "threshold_q16": 30_000,
        "max_conf_bps": 100,
        "slippage_bps": 200,
    }
    base.update(kw)
    return Risk(**base)


risk = default_risk


@dataclass
class World:
    chain: Chain
    payer: Keypair
    market: MarketClient
    agents: AgentClient
    registry: ModelRegistry
    mint_a: Pubkey
    mint_b: Pubkey
    pool: Pubkey
    user_a: Pubkey
    user_b: Pubkey
    user_lp: Pubkey

    async def deploy(self, model: bytes, target: Pubkey | None = None) -> tuple[Pubkey, Pubkey]:
        d = await self.registry.deploy(model, target=target)
        return d.model, d.weights

    async def agent(
        self,
        models: list[ModelSlot],
        agent_id: int,
        *,
        fund: bool = True,
        risk: Risk | None = None,
        source: int = 0,
        price_source: Pubkey | None = None,
        pyth_feed_id: bytes = bytes(32),
    ) -> Pubkey:
        agent = await self.agents.create(
            agent_id=agent_id,
            pool=self.pool,
            models=models,
            spec=SPEC,
            risk=risk or default_risk(),
            source=source,
            price_source=price_source,
            pyth_feed_id=pyth_feed_id,
        )
        if fund:
            await self.agents.deposit(
                agent, self.user_a, self.user_b, amount_a=10_000_000, amount_b=10_000_000
            )
        return agent

    async def step_then_move(
        self, agent: Pubkey, up: bool, amount: int = 20_000_000
    ) -> tuple[str, str]:
        """Crank, then move the pool price in the same transaction: the move lands in the slot
        of the agent's sample, so the next sample's TWAP window holds only the moved price
        whatever the cluster's slot timing. Returns the crank's (action, reason)."""
        from solders.compute_budget import set_compute_unit_limit

        from client.agent.client import decision_from_event
        from client.program import parse_events

        src, dst = (self.user_b, self.user_a) if up else (self.user_a, self.user_b)
        step = await self.agents.step_instruction(agent)
        swap = self.market.swap_instruction(
            await self.market.pool(self.pool),
            self.payer.pubkey(),
            src,
            dst,
            amount_in=amount,
            min_out=0,
            a_to_b=not up,
        )
        res = await self.chain.send([set_compute_unit_limit(400_000), step, swap], self.payer)
        (d,) = [decision_from_event(e.data) for e in parse_events(res.logs) if e.name == "Decision"]
        return d.action, d.reason

    async def move_price(self, up: bool, amount: int = 20_000_000) -> None:
        """An outside trader moves the pool price (B per A) up (buys A) or down (sells A)."""
        src, dst = (self.user_b, self.user_a) if up else (self.user_a, self.user_b)
        await self.market.swap(self.pool, src, dst, amount_in=amount, min_out=0, a_to_b=not up)


async def make_world(
    chain: Chain, payer: Keypair, fee_bps: int = 30, decimals: tuple[int, int] = (6, 6)
) -> World:
    market = MarketClient(chain, payer)
    mint_a = await market.create_mint(decimals[0])
    mint_b = await market.create_mint(decimals[1])
    pool = await market.create_pool(mint_a, mint_b, fee_bps=fee_bps)
    st = await market.pool(pool)
    user_a = await market.create_token_account(mint_a, payer.pubkey())
    user_b = await market.create_token_account(mint_b, payer.pubkey())
    user_lp = await market.create_token_account(st.lp_mint, payer.pubkey())
    await market.mint_to(mint_a, user_a, 10 * RESERVE)
    await market.mint_to(mint_b, user_b, 10 * RESERVE)
    await market.add_liquidity(pool, user_a, user_b, user_lp, amount_a=RESERVE, max_b=RESERVE)
    return World(
        chain,
        payer,
        market,
        AgentClient(chain, payer),
        ModelRegistry(chain, payer),
        mint_a,
        mint_b,
        pool,
        user_a,
        user_b,
        user_lp,
    )


async def step(w: World, agent: Pubkey, *, warp: bool = True, **kw: object) -> StepResult:
    """One crank in the next slot (an agent takes at most one price sample per slot)."""
    if warp:
        assert isinstance(w.chain, LiteSvmChain)
        w.chain.warp_slots(1)
    r = await w.agents.step(agent, **kw)  # type: ignore[arg-type]
    assert isinstance(r, StepResult)
    return r


async def warm(w: World, agent: Pubkey) -> None:
    """Fill a pool agent's price history: its first step only reads the pool's cumulative
    price, then every step until the spec's lookback is met is a warm-up."""
    for _ in range(SPEC.lookback):
        r = await step(w, agent)
        assert (r.decision.reason, r.decision.class_id) == ("warmup", 255)
