"""The simulator's market on chain: the program's constant-product pool over real SPL tokens,
traded by the simulator's own wallet, and the program's price feed as a ``PricePublisher``.

Prices are quote per base in *atoms* (``reserve_b / reserve_a``); with two mints of the same
decimals that is also the price in whole tokens, which is how the shipped CSV is read.

``PoolTwin`` is the pool's integer arithmetic in Python (``swap_out`` of
``instructions/market``): the backtest walks it with the same ``amount_toward`` the on-chain
simulator uses, so an offline run and a chain run see the same reserves, tick by tick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer

from ..chain.base import Chain
from ..market import MarketClient, spot_q32
from .market import Fill, Side


def pool_swap_out(reserve_in: int, reserve_out: int, amount_in: int, fee_bps: int) -> int:
    """The program's swap output: the fee is taken off the input, the output rounded down."""
    x = amount_in * (10_000 - fee_bps) // 10_000
    return reserve_out * x // (reserve_in + x) if reserve_in + x else 0


def amount_toward(reserve_a: int, reserve_b: int, target: float) -> tuple[Side, int] | None:
    """The trade that moves ``reserve_b / reserve_a`` to about ``target`` (fee ignored, so it
    undershoots by about the fee): ("buy", quote in) or ("sell", base in); None when the pool
    is within one base atom of it."""
    if target <= 0 or not math.isfinite(target):
        raise ValueError(f"target price must be positive and finite, got {target}")
    k = reserve_a * reserve_b
    base_after = math.sqrt(k / target)
    if base_after < reserve_a - 1:
        return "buy", max(1, round(math.sqrt(k * target) - reserve_b))
    if base_after > reserve_a + 1:
        return "sell", max(1, round(base_after - reserve_a))
    return None


@dataclass
class PoolTwin:
    """The on-chain pool's reserves, integer swap and cumulative price, offline (a
    ``Market``). Call ``observe(slot)`` before each trade or agent step, as every pool
    instruction does on chain (``Pool::observe``)."""

    reserve_a: int
    reserve_b: int
    fee_bps: int = 30
    cumulative: int = 0
    last_slot: int = 0

    def observe(self, slot: int) -> None:
        """Accumulate the price left by the previous slot (the first touch of a slot only)."""
        if slot > self.last_slot:
            price = spot_q32(self.reserve_a, self.reserve_b)
            self.cumulative = (self.cumulative + price * (slot - self.last_slot)) % (1 << 128)
            self.last_slot = slot

    def spot(self) -> float:
        return self.reserve_b / self.reserve_a

    async def price(self) -> float:
        return self.spot()

    def swap(self, side: Side, amount_in: int) -> Fill:
        """``buy``: quote (B) in, base (A) out; ``sell``: base in, quote out."""
        if side == "buy":
            out = pool_swap_out(self.reserve_b, self.reserve_a, amount_in, self.fee_bps)
            self.reserve_b += amount_in
            self.reserve_a -= out
        else:
            out = pool_swap_out(self.reserve_a, self.reserve_b, amount_in, self.fee_bps)
            self.reserve_a += amount_in
            self.reserve_b -= out
        return Fill(side, amount_in, out, self.spot())

    def trade_toward_sync(self, target: float) -> Fill | None:
        move = amount_toward(self.reserve_a, self.reserve_b, target)
        return None if move is None else self.swap(*move)

    async def trade_toward(self, target: float) -> Fill | None:
        return self.trade_toward_sync(target)


@dataclass(frozen=True)
class SimWallet:
    """The simulator's own wallet: a keypair paying its own fees, and its two token accounts."""

    keypair: Keypair
    token_a: Pubkey
    token_b: Pubkey


async def fund_wallet(
    chain: Chain,
    funder: Keypair,
    mint_a: Pubkey,
    mint_b: Pubkey,
    *,
    amount_a: int,
    amount_b: int,
    lamports: int = 10 * 10**9,
) -> SimWallet:
    """A new wallet with SOL for fees and ``amount_a``/``amount_b`` tokens minted to it
    (``funder`` must be both mints' authority)."""
    wallet = Keypair()
    await chain.send(
        [
            transfer(
                TransferParams(
                    from_pubkey=funder.pubkey(), to_pubkey=wallet.pubkey(), lamports=lamports
                )
            )
        ],
        funder,
    )
    mints = MarketClient(chain, funder)
    token_a = await mints.create_token_account(mint_a, wallet.pubkey())
    token_b = await mints.create_token_account(mint_b, wallet.pubkey())
    await mints.mint_to(mint_a, token_a, amount_a)
    await mints.mint_to(mint_b, token_b, amount_b)
    return SimWallet(wallet, token_a, token_b)


@dataclass
class OnChainPool:
    """The program's pool as the simulator's ``Market``: every move is a real ``swap``
    transaction signed and paid for by ``wallet``."""

    chain: Chain
    pool: Pubkey
    wallet: SimWallet

    def __post_init__(self) -> None:
        self.market = MarketClient(self.chain, self.wallet.keypair)
        self.swaps = 0

    async def reserves(self) -> tuple[int, int, int]:
        st = await self.market.pool(self.pool)
        return st.reserve_a, st.reserve_b, st.fee_bps

    async def price(self) -> float:
        a, b, _ = await self.reserves()
        return b / a

    async def trade_toward(self, target: float) -> Fill | None:
        a, b, fee = await self.reserves()
        move = amount_toward(a, b, target)
        if move is None:
            return None
        side, amount = move
        buy = side == "buy"
        src, dst = (
            (self.wallet.token_b, self.wallet.token_a)
            if buy
            else (self.wallet.token_a, self.wallet.token_b)
        )
        out = pool_swap_out(b, a, amount, fee) if buy else pool_swap_out(a, b, amount, fee)
        await self.market.swap(
            self.pool,
            src,
            dst,
            amount_in=amount,
            min_out=0,
            a_to_b=not buy,
            user=self.wallet.keypair,
        )
        self.swaps += 1
        a2, b2 = (a - out, b + amount) if buy else (a + amount, b - out)
        return Fill(side, amount, out, b2 / a2)


@dataclass
class FeedPublisher:
    """Publishes each simulator target to the program's price feed (``publish_price``):
    ``round(price * 10**-exponent)`` with a confidence of ``conf_bps`` of it."""

    chain: Chain
    publisher: Keypair
    feed: Pubkey
    exponent: int = -8
    conf_bps: int = 5

    def __post_init__(self) -> None:
        self.market = MarketClient(self.chain, self.publisher)

    def to_int(self, price: float) -> int:
        return round(price * 10**-self.exponent)

    async def publish(self, price: float) -> None:
        value = self.to_int(price)
        await self.market.publish(self.feed, value, value * self.conf_bps // 10_000)
