"""The in-memory constant-product pool and the simulator that walks it along a path."""

from __future__ import annotations

import pytest

from client.sim import ConstantProductPool, MarketSimulator, gbm


def test_swap_keeps_k_and_charges_the_fee() -> None:
    pool = ConstantProductPool(base=1_000_000, quote=100_000_000, fee_bps=30)
    k = pool.base * pool.quote
    fill = pool.swap("buy", 1_000_000)
    assert fill.amount_out == (1_000_000 * 9970 * 1_000_000) // (
        100_000_000 * 10_000 + 1_000_000 * 9970
    )
    assert pool.base * pool.quote >= k  # the fee stays in the pool
    with pytest.raises(ValueError, match="slippage"):
        pool.swap("sell", 1000, min_out=10**9)
    with pytest.raises(ValueError, match="must be positive"):
        pool.swap("sell", 0)


class Published:
    def __init__(self) -> None:
        self.prices: list[float] = []

    async def publish(self, price: float) -> None:
        self.prices.append(price)


async def test_simulator_tracks_the_path_and_publishes() -> None:
    path = gbm(200, s0=100.0, sigma=0.01, seed=9).prices.tolist()
    pool = ConstantProductPool(base=10**9, quote=100 * 10**9, fee_bps=0)
    feed = Published()
    report = await MarketSimulator(pool, path, publisher=feed).run()
    assert report.ticks == 200 and feed.prices == path
    assert report.trades >= 190  # every tick moves the price by more than one unit
    assert report.max_tracking_error < 1e-6
    assert abs(report.last_price / path[-1] - 1) < 1e-6


async def test_simulator_stops_when_asked() -> None:
    pool = ConstantProductPool(base=10**9, quote=100 * 10**9)
    sim = MarketSimulator(pool, [100.0, 101.0, 102.0, 103.0])

    async def tick() -> None:
        if sim.tick == 2:
            sim.stop()

    sim.wait_tick = tick
    assert (await sim.run()).ticks == 2
