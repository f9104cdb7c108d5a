"""The bot trading on a real Surfpool:

* the off-chain ``infer`` strategy: ``ping`` + ``infer`` + ``swap`` from the bot's wallet through
  the raw-transaction sender (same-signature rebroadcast), real tokens moved, wallet audit;
* a feed-priced agent: the simulator trades the pool and publishes every target to the
  program's price feed while the bot cranks ``agent_step``; step counter, Trade events against
  the trade counter, vault deltas, and decisions priced from freshly published feed values.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from dataclasses import dataclass, field

import pytest
from solders.keypair import Keypair

from client.agent import FeatureSpec
from client.agent.decide import Risk
from client.bot import Bot, BotConfig, FeedConfig, Schedule
from client.bot.story import run_market
from client.bot.world import WorldConfig, create_world, default_risk
from client.chain.connect import ensure_program
from client.chain.rpc import RpcChain
from client.market import MarketClient
from client.sim.onchain import FeedPublisher, pool_swap_out
from client.sim.paths import shipped_series
from tests.agent.world import constant_model
from tests.bot.test_infer_onchain import BUY, SELL, TRADE, make_setup, strategy
from tests.validators import ValidatorEndpoint

pytestmark = pytest.mark.surfpool

FAST_FEED = FeedConfig(idle_timeout=2.0, poll_interval=0.2)


@pytest.fixture
async def deployed(rpc_chain: RpcChain, rpc_payer: Keypair) -> Keypair:
    await ensure_program(rpc_chain, rpc_payer)
    return rpc_payer


async def test_infer_strategy_trades_on_surfpool(
    surfpool: ValidatorEndpoint, rpc_chain: RpcChain, deployed: Keypair
) -> None:
    s = await make_setup(rpc_chain, deployed, [BUY, SELL])
    strat = strategy(s, BUY)
    a0, b0, fee = await s.reserves()
    wa0, wb0 = await s.wallet_balances()
    config = BotConfig(schedule=Schedule(every_slots=1), feed=FAST_FEED)

    def bot() -> Bot:
        return Bot(rpc_chain, s.wallet.keypair, strat, ws_url=surfpool.ws_url, config=config)

    buy = await asyncio.wait_for(bot().run(steps=2), 120)
    out = pool_swap_out(b0, a0, TRADE, fee)
    # The second BUY holds: already long, so its transaction carries no swap.
    assert [(r.decision, r.trade is not None) for r in buy.records] == [
        ("buy", True),
        ("buy", False),
    ]
    assert buy.records[0].events == ("Pinged", "Inference", "Swapped")
    assert await s.wallet_balances() == (wa0 + out, wb0 - TRADE)

    strat.model = s.models[SELL]
    sell = await asyncio.wait_for(bot().run(steps=1), 120)
    back = pool_swap_out(a0 - out, b0 + TRADE, out, fee)
    [rec] = sell.records
    assert rec.trade is not None and (rec.trade.amount_in, rec.trade.amount_out) == (out, back)
    assert await s.wallet_balances() == (wa0, wb0 - TRADE + back)
    assert await s.reserves() == (a0, b0 + TRADE - back, fee)
    audit = await strat.audit(rpc_chain)
    assert audit.ok and audit.steps_counted == 3 and audit.swaps == 2, audit


@dataclass
class RecordingPublisher(FeedPublisher):
    published: list[int] = field(default_factory=list)

    async def publish(self, price: float) -> None:
        await super().publish(price)
        self.published.append(self.to_int(price))


def feed_risk() -> Risk:
    """One trade per step (no cooldown); a deviation bound between pool and feed where the
    program has one (the simulator moves the pool to each target it publishes, less the fee)."""
    names = {f.name for f in dataclasses.fields(Risk)}
    extra = {"max_oracle_dev_bps": 500} if "max_oracle_dev_bps" in names else {}
    return default_risk(**extra)


STEPS = 20
START = 100


async def test_feed_priced_agent_cranked_with_the_simulator(
    surfpool: ValidatorEndpoint, rpc_chain: RpcChain, deployed: Keypair
) -> None:
    path = shipped_series().prices.tolist()[START:]
    spec = FeatureSpec.parse("return:1,sma_ratio:4,volatility:3,position")  # short warm-up
    cfg = WorldConfig(price=path[0])
    world = await create_world(
        rpc_chain, deployed, constant_model(BUY), spec, feed_risk(), cfg, feed_id=b"F" * 32
    )
    assert world.feed is not None
    publisher = RecordingPublisher(rpc_chain, deployed, world.feed, exponent=-8)
    config = BotConfig(schedule=Schedule(every_slots=1), feed=FAST_FEED)
    run = await asyncio.wait_for(
        run_market(
            rpc_chain,
            deployed,
            world,
            path,
            STEPS,
            ws_url=surfpool.ws_url,
            lockstep=False,  # the simulator trades and publishes on its own clock
            sim_interval=0.1,
            publisher=publisher,
            config=config,
        ),
        180,
    )
    audit = run.audit
    assert run.bot.steps_landed == STEPS and audit.steps_counted == STEPS, audit
    assert audit.trades_seen == audit.trades_counted > 0, audit
    assert audit.ok, audit  # each vault = start + the sum of the Trade events
    assert run.simulator_swaps > 0 and publisher.published

    decisions = run.program.ledger.decisions
    assert [d.step for d in decisions] == list(range(STEPS))
    # The agent read the feed (a feed-source Decision carries the feed's mantissa), and at least
    # one decision used a value the simulator published during the run, newer than the price
    # the previous decision saw.
    initial = round(cfg.price * 10**8)
    priced = [d.price for d in decisions if d.price]
    assert priced and set(priced) <= {initial, *publisher.published}
    fresh = [
        b
        for a, b in itertools.pairwise(decisions)
        if b.price and b.price != a.price and b.price in publisher.published
    ]
    assert fresh, [(d.step, d.price, d.reason) for d in decisions]
    feed = await MarketClient(rpc_chain, deployed).feed(world.feed)
    assert feed.price == publisher.published[-1]
