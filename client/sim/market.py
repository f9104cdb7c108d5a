"""A market simulator: an async task that walks a pool's price along a path by trading.

``MarketSimulator`` trades as its own wallet against anything satisfying ``Market`` (the
on-chain constant-product pool of issue 6 through its client, or the in-memory
``ConstantProductPool`` here, used offline and in tests), one target price per tick, and can
publish each target to a ``PricePublisher`` (the price-feed account).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

Side = Literal["buy", "sell"]


@dataclass(frozen=True)
class Fill:
    side: Side  # "buy": quote in, base out; "sell": base in, quote out
    amount_in: int
    amount_out: int
    price_after: float


class Market(Protocol):
    async def price(self) -> float:
        """Quote per base unit, as the pool's reserves show it."""
        ...

    async def trade_toward(self, target: float) -> Fill | None:
        """Trade (as the simulator's wallet) so the price moves to ``target``; None if already
        there within one unit."""
        ...


class PricePublisher(Protocol):
    async def publish(self, price: float) -> None: ...


@dataclass
class ConstantProductPool:
    """x·y = k over integer reserves with a fee in basis points on the input, like the
    on-chain pool: price = quote / base."""

    base: int
    quote: int
    fee_bps: int = 30
    fills: list[Fill] = field(default_factory=list)

    def spot(self) -> float:
        return self.quote / self.base

    async def price(self) -> float:
        return self.spot()

    def quote_out(self, side: Side, amount_in: int) -> int:
        """Output for ``amount_in`` after the fee, rounded down (the pool keeps the dust)."""
        if amount_in <= 0:
            raise ValueError(f"amount_in must be positive, got {amount_in}")
        effective = amount_in * (10_000 - self.fee_bps)
        reserve_in, reserve_out = (
            (self.quote, self.base) if side == "buy" else (self.base, self.quote)
        )
        return (effective * reserve_out) // (reserve_in * 10_000 + effective)

    def swap(self, side: Side, amount_in: int, min_out: int = 0) -> Fill:
        out = self.quote_out(side, amount_in)
        if out < min_out:
            raise ValueError(f"slippage: {out} < min_out {min_out}")
        if side == "buy":
            self.quote += amount_in
            self.base -= out
        else:
            self.base += amount_in
            self.quote -= out
        fill = Fill(side, amount_in, out, self.spot())
        self.fills.append(fill)
        return fill

    def amount_to(self, target: float) -> tuple[Side, int] | None:
        """Input that moves the spot price to about ``target`` (fee ignored, so it slightly
        undershoots)."""
        k = self.base * self.quote
        base_after = math.sqrt(k / target)
        if base_after < self.base - 1:
            return "buy", max(1, round(math.sqrt(k * target) - self.quote))
        if base_after > self.base + 1:
            return "sell", max(1, round(base_after - self.base))
        return None

    async def trade_toward(self, target: float) -> Fill | None:
        move = self.amount_to(target)
        return None if move is None else self.swap(*move)


@dataclass(frozen=True)
class SimulatorReport:
    ticks: int
    trades: int
    first_price: float
    last_price: float
    # Largest |pool price / target - 1| after a tick.
    max_tracking_error: float


class MarketSimulator:
    """Walks ``market`` along ``path``: one ``trade_toward`` (and ``publish``) per tick.

    A tick is ``interval`` seconds, or, with ``wait_tick``, whatever that awaitable takes
    (e.g. "N slots passed"). ``run`` returns when the path ends or ``stop()`` is called.
    """

    def __init__(
        self,
        market: Market,
        path: Sequence[float],
        *,
        interval: float = 0.0,
        wait_tick: Callable[[], Awaitable[None]] | None = None,
        publisher: PricePublisher | None = None,
    ) -> None:
        self.market = market
        self.path = list(path)
        self.interval = interval
        self.wait_tick = wait_tick
        self.publisher = publisher
        self._stop = asyncio.Event()
        self.tick = 0

    def stop(self) -> None:
        self._stop.set()

    async def step(self) -> Fill | None:
        """Advance one tick by hand (trade toward the next price); None at the path's end."""
        if self.tick >= len(self.path):
            return None
        target = self.path[self.tick]
        fill = await self.market.trade_toward(target)
        if self.publisher is not None:
            await self.publisher.publish(target)
        self.tick += 1
        return fill

    async def run(self) -> SimulatorReport:
        trades = 0
        worst = 0.0
        for target in self.path:
            if self._stop.is_set():
                break
            if await self.market.trade_toward(target) is not None:
                trades += 1
            if self.publisher is not None:
                await self.publisher.publish(target)
            worst = max(worst, abs(await self.market.price() / target - 1))
            self.tick += 1
            if self.wait_tick is not None:
                await self.wait_tick()
            elif self.interval:
                await asyncio.sleep(self.interval)
        return SimulatorReport(
            ticks=self.tick,
            trades=trades,
            first_price=self.path[0] if self.path else math.nan,
            last_price=await self.market.price(),
            max_tracking_error=worst,
        )
