"""The simulator on the program's pool and price feed (LiteSVM): real swaps from its own
wallet move the pool toward each target, exactly as the offline PoolTwin does, and each target
is published to the feed."""

from __future__ import annotations

from solders.keypair import Keypair

from client.agent import FeatureSpec
from client.bot.world import WorldConfig, create_world, default_risk
from client.chain.litesvm import LiteSvmChain
from client.market import MarketClient
from client.sim.market import MarketSimulator
from client.sim.onchain import FeedPublisher, OnChainPool
from tests.agent.world import constant_model

SPEC = FeatureSpec.parse("return:1,sma_ratio:4,volatility:3,position")


async def test_simulator_trades_the_pool_and_publishes(svm: LiteSvmChain, payer: Keypair) -> None:
    cfg = WorldConfig()
    world = await create_world(svm, payer, constant_model(1), SPEC, default_risk(), cfg)
    market = MarketClient(svm, payer)
    feed = await market.create_feed(b"S" * 32, -8)
    pool = OnChainPool(svm, world.pool, world.sim)
    publisher = FeedPublisher(svm, payer, feed, exponent=-8)
    path = [100.0, 104.0, 97.5, 97.5, 101.25]
    twin = cfg.twin()
    sim = MarketSimulator(pool, path, publisher=publisher)
    lamports = await svm.get_balance(payer.pubkey())
    for target in path:
        fill = await sim.step()
        expected = twin.trade_toward_sync(target)
        assert (fill is None) == (expected is None)
        a, b, _ = await pool.reserves()
        assert (a, b) == (twin.reserve_a, twin.reserve_b)
        assert abs(b / a / target - 1) < 0.004  # within about the 0.3 % fee
        f = await market.feed(feed)
        assert f.price == round(target * 10**8) and f.conf == f.price * 5 // 10_000
    assert pool.swaps == 4  # the repeated 97.5 needs no trade
    # The swaps were the simulator wallet's: the payer paid only the five publishes.
    assert lamports - await svm.get_balance(payer.pubkey()) == 5 * 5000
    assert await market.balance(world.sim.token_a) != cfg.sim_base
