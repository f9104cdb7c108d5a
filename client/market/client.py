"""Async market client: real SPL tokens via the Token program, pools and feeds via the IDL."""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import (
    InitializeAccountParams,
    InitializeMintParams,
    MintToParams,
    initialize_account,
    initialize_mint,
    mint_to,
)

from ..chain.base import Chain, ChainError, TxResult
from ..program import PROGRAM_ID, build_ix, decode_account, find_pda

MINT_LEN = 82
TOKEN_ACCOUNT_LEN = 165
# Shares the first deposit locks forever (`state::pool::MINIMUM_LIQUIDITY`).
MINIMUM_LIQUIDITY = 1000
MAX_CUMULATIVE_PRICE = (1 << 56) - 1
WIDE = 1 << 128


def pool_address(mint_a: Pubkey, mint_b: Pubkey) -> Pubkey:
    return find_pda([b"pool", bytes(mint_a), bytes(mint_b)])[0]


def feed_address(publisher: Pubkey, feed_id: bytes) -> Pubkey:
    return find_pda([b"feed", bytes(publisher), feed_id])[0]


def spot_q32(reserve_a: int, reserve_b: int) -> int:
    """The Q32 spot price the pool accumulates per slot (`Pool::spot_q32`): capped, 0 for an
    empty side."""
    if reserve_a == 0 or reserve_b == 0:
        return 0
    return min((reserve_b << 32) // reserve_a, MAX_CUMULATIVE_PRICE)


def first_deposit_lp(amount_a: int, amount_b: int) -> int:
    """LP minted by a pool's first deposit: floor(sqrt(a * b)) - MINIMUM_LIQUIDITY (0 when the
    deposit is too small, which the program refuses)."""
    return max(math.isqrt(amount_a * amount_b) - MINIMUM_LIQUIDITY, 0)


@dataclass(frozen=True)
class PoolState:
    """A pool as the program keeps it: `reserve_a` / `reserve_b` are its tracked reserves (the
    vault balances, `vault_balance_*`, may be larger by donations not yet `sync`ed)."""

    address: Pubkey
    mint_a: Pubkey
    mint_b: Pubkey
    vault_a: Pubkey
    vault_b: Pubkey
    lp_mint: Pubkey
    fee_bps: int
    reserve_a: int
    reserve_b: int
    lp_supply: int
    locked_lp: int = 0
    cumulative: int = 0
    last_slot: int = 0
    vault_balance_a: int = 0
    vault_balance_b: int = 0

    @property
    def total_shares(self) -> int:
        """LP in wallets plus the locked shares."""
        return self.lp_supply + self.locked_lp

    def redeemable(self, lp: int) -> tuple[int, int]:
        """What burning `lp` LP returns now (`remove_liquidity`, rounded down)."""
        shares = self.total_shares
        if shares == 0:
            return 0, 0
        return lp * self.reserve_a // shares, lp * self.reserve_b // shares

    def cumulative_at(self, slot: int) -> int:
        """The cumulative price (Q32 x slots, modulo 2^128) once a touch at `slot` has brought
        it up to date (`Pool::observe`): what an `agent_step` at `slot` reads."""
        dt = max(slot - self.last_slot, 0)
        return (self.cumulative + spot_q32(self.reserve_a, self.reserve_b) * dt) % WIDE

    @property
    def price(self) -> float:
        """Spot price, B per A (atoms)."""
        return self.reserve_b / self.reserve_a if self.reserve_a else float("nan")

    @property
    def price_q32(self) -> int:
        """What the agent's pool source reads: floor(reserve_b * 2^32 / reserve_a)."""
        return (self.reserve_b << 32) // self.reserve_a if self.reserve_a else 0


@dataclass(frozen=True)
class FeedState:
    address: Pubkey
    publisher: Pubkey
    feed_id: bytes
    price: int
    conf: int
    exponent: int
    publish_slot: int
    publish_time: int


def token_amount(data: bytes) -> int:
    return int(struct.unpack_from("<Q", data, 64)[0])


@dataclass
class MarketClient:
    chain: Chain
    payer: Keypair

    async def send(
        self, ixs: Sequence[Instruction], signers: list[Keypair] | None = None
    ) -> TxResult:
        """Send `ixs` paid (and signed) by the payer plus `signers`."""
        return await self.chain.send(ixs, self.payer, signers or [])

    # ---------------------------------------------------------------- SPL tokens

    async def create_mint(self, decimals: int = 6, authority: Pubkey | None = None) -> Pubkey:
        """Create a new SPL mint with `decimals`; the mint authority defaults to the payer."""
        return await self._new_token_account(
            MINT_LEN,
            lambda mint: initialize_mint(
                InitializeMintParams(
                    decimals=decimals,
                    program_id=TOKEN_PROGRAM_ID,
                    mint=mint,
                    mint_authority=authority or self.payer.pubkey(),
                )
            ),
        )

    async def create_token_account(self, mint: Pubkey, owner: Pubkey) -> Pubkey:
        """Create a new SPL token account of `mint` owned by `owner`."""
        return await self._new_token_account(
            TOKEN_ACCOUNT_LEN,
            lambda acc: initialize_account(
                InitializeAccountParams(
                    program_id=TOKEN_PROGRAM_ID, account=acc, mint=mint, owner=owner
                )
            ),
        )

    async def _new_token_account(
        self, space: int, initialize: Callable[[Pubkey], Instruction]
    ) -> Pubkey:
        """A fresh rent-exempt Token-program account of `space` bytes, created and initialized
        (by `initialize(address)`) in one transaction."""
        acc = Keypair()
        rent = await self.chain.minimum_balance_for_rent_exemption(space)
        await self.send(
            [
                create_account(
                    CreateAccountParams(
                        from_pubkey=self.payer.pubkey(),
                        to_pubkey=acc.pubkey(),
                        lamports=rent,
                        space=space,
                        owner=TOKEN_PROGRAM_ID,
                    )
                ),
                initialize(acc.pubkey()),
            ],
            [acc],
        )
        return acc.pubkey()

    async def mint_to(self, mint: Pubkey, dest: Pubkey, amount: int) -> None:
        """Mint `amount` atoms of `mint` to `dest` (the payer is the mint authority)."""
        await self.send(
            [
                mint_to(
                    MintToParams(
                        program_id=TOKEN_PROGRAM_ID,
                        mint=mint,
                        dest=dest,
                        mint_authority=self.payer.pubkey(),
                        amount=amount,
                    )
                )
            ]
        )

    async def balance(self, token_account: Pubkey) -> int:
        """The token amount held by SPL token account `token_account`."""
        acc = await self.chain.get_account(token_account)
        if acc is None:
            raise ChainError(f"token account {token_account} does not exist")
        return token_amount(bytes(acc.data))

    # ---------------------------------------------------------------- pools

    async def create_pool(self, mint_a: Pubkey, mint_b: Pubkey, fee_bps: int = 30) -> Pubkey:
        """Create the constant-product pool of `mint_a`/`mint_b` (prices are B per A)."""
        pool = pool_address(mint_a, mint_b)
        await self.send(
            [
                build_ix(
                    "create_pool",
                    {"fee_bps": fee_bps},
                    {
                        "creator": self.payer.pubkey(),
                        "pool": pool,
                        "mint_a": mint_a,
                        "mint_b": mint_b,
                        "vault_a": find_pda([b"pool_vault", bytes(pool), bytes(mint_a)])[0],
                        "vault_b": find_pda([b"pool_vault", bytes(pool), bytes(mint_b)])[0],
                        "lp_mint": find_pda([b"lp", bytes(pool)])[0],
                    },
                )
            ]
        )
        return pool

    async def pool(self, address: Pubkey) -> PoolState:
        """Decode the pool at `address` (reserves, LP supply, fee, spot price)."""
        acc = await self.chain.get_account(address)
        if acc is None or acc.owner != PROGRAM_ID:
            raise ChainError(f"{address} is not a pool of this program")
        name, p = decode_account(bytes(acc.data))
        if name != "Pool":
            raise ChainError(f"{address} is a {name}, not a Pool")
        va, vb, lp = await self.chain.get_multiple_accounts([p.vault_a, p.vault_b, p.lp_mint])
        if va is None or vb is None or lp is None:
            raise ChainError(f"pool {address} is missing a vault or its LP mint")
        return PoolState(
            address,
            p.mint_a,
            p.mint_b,
            p.vault_a,
            p.vault_b,
            p.lp_mint,
            p.fee_bps,
            p.reserve_a,
            p.reserve_b,
            int(struct.unpack_from("<Q", bytes(lp.data), 36)[0]),
            locked_lp=p.locked_lp,
            cumulative=(p.price_cumulative_hi << 64) | p.price_cumulative_lo,
            last_slot=p.last_slot,
            vault_balance_a=token_amount(bytes(va.data)),
            vault_balance_b=token_amount(bytes(vb.data)),
        )

    async def sync(self, pool: Pubkey) -> TxResult:
        """Fold donations sitting in the vaults into the reserves (permissionless)."""
        st = await self.pool(pool)
        ix = build_ix("sync", {}, {"pool": pool, "vault_a": st.vault_a, "vault_b": st.vault_b})
        return await self.send([ix])

    async def _liquidity(self, name: str, pool: Pubkey, args: dict[str, int], user: Keypair,
                         user_a: Pubkey, user_b: Pubkey, user_lp: Pubkey) -> TxResult:  # fmt: skip
        st = await self.pool(pool)
        ix = build_ix(
            name,
            args,
            {
                "user": user.pubkey(),
                "pool": pool,
                "vault_a": st.vault_a,
                "vault_b": st.vault_b,
                "lp_mint": st.lp_mint,
                "user_a": user_a,
                "user_b": user_b,
                "user_lp": user_lp,
            },
        )
        return await self.chain.send([ix], self.payer, [user])

    async def add_liquidity(
        self,
        pool: Pubkey,
        user_a: Pubkey,
        user_b: Pubkey,
        user_lp: Pubkey,
        *,
        amount_a: int,
        max_b: int,
        min_lp: int = 0,
        user: Keypair | None = None,
    ) -> TxResult:
        """Deposit `amount_a` of A and at most `max_b` of B for at least `min_lp` LP tokens."""
        args = {"amount_a": amount_a, "max_b": max_b, "min_lp": min_lp}
        return await self._liquidity(
            "add_liquidity", pool, args, user or self.payer, user_a, user_b, user_lp
        )

    async def remove_liquidity(
        self,
        pool: Pubkey,
        user_a: Pubkey,
        user_b: Pubkey,
        user_lp: Pubkey,
        *,
        lp: int,
        min_a: int = 0,
        min_b: int = 0,
        user: Keypair | None = None,
    ) -> TxResult:
        """Burn `lp` LP tokens for at least `min_a` of A and `min_b` of B."""
        args = {"lp": lp, "min_a": min_a, "min_b": min_b}
        return await self._liquidity(
            "remove_liquidity", pool, args, user or self.payer, user_a, user_b, user_lp
        )

    def quote(self, st: PoolState, amount_in: int, a_to_b: bool) -> int:
        """Expected output (the program's formula, rounded down)."""
        r_in, r_out = (st.reserve_a, st.reserve_b) if a_to_b else (st.reserve_b, st.reserve_a)
        x = amount_in * (10_000 - st.fee_bps) // 10_000
        return r_out * x // (r_in + x) if r_in + x else 0

    def swap_instruction(
        self,
        st: PoolState,
        user: Pubkey,
        src: Pubkey,
        dst: Pubkey,
        *,
        amount_in: int,
        min_out: int,
        a_to_b: bool,
    ) -> Instruction:
        """A `swap` instruction on the pool `st` (to compose into a larger transaction)."""
        return build_ix(
            "swap",
            {"amount_in": amount_in, "min_out": min_out, "a_to_b": a_to_b},
            {
                "user": user,
                "pool": st.address,
                "vault_a": st.vault_a,
                "vault_b": st.vault_b,
                "user_src": src,
                "user_dst": dst,
            },
        )

    async def swap(
        self,
        pool: Pubkey,
        src: Pubkey,
        dst: Pubkey,
        *,
        amount_in: int,
        min_out: int,
        a_to_b: bool,
        user: Keypair | None = None,
        check: bool = True,
    ) -> TxResult:
        """Swap `amount_in` from `src` into `dst`, failing below `min_out` (slippage guard)."""
        st = await self.pool(pool)
        u = user or self.payer
        ix = self.swap_instruction(
            st, u.pubkey(), src, dst, amount_in=amount_in, min_out=min_out, a_to_b=a_to_b
        )
        return await self.chain.send([ix], self.payer, [u], check=check)

    # ---------------------------------------------------------------- price feeds

    async def create_feed(self, feed_id: bytes, exponent: int = -8) -> Pubkey:
        """Create the payer's price feed for `feed_id` (price = value x 10^exponent)."""
        feed = feed_address(self.payer.pubkey(), feed_id)
        await self.send(
            [
                build_ix(
                    "create_price_feed",
                    {"feed_id": list(feed_id), "exponent": exponent},
                    {"publisher": self.payer.pubkey(), "feed": feed},
                )
            ]
        )
        return feed

    async def publish(
        self, feed: Pubkey, price: int, conf: int, publisher: Keypair | None = None
    ) -> TxResult:
        """Publish `price` with confidence `conf` to `feed` (as `publisher`, default the payer)."""
        p = publisher or self.payer
        ix = build_ix(
            "publish_price", {"price": price, "conf": conf}, {"publisher": p.pubkey(), "feed": feed}
        )
        return await self.chain.send([ix], self.payer, [p])

    async def feed(self, address: Pubkey) -> FeedState:
        """Decode the price feed at `address`."""
        acc = await self.chain.get_account(address)
        if acc is None or acc.owner != PROGRAM_ID:
            raise ChainError(f"{address} is not a price feed of this program")
        name, f = decode_account(bytes(acc.data))
        if name != "PriceFeed":
            raise ChainError(f"{address} is a {name}, not a PriceFeed")
        return FeedState(
            address,
            f.publisher,
            bytes(f.feed_id),
            f.price,
            f.conf,
            f.exponent,
            f.publish_slot,
            f.publish_time,
        )
