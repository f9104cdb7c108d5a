"""Market commands: the constant-product pool and the program's price feeds.

python -m client market create [--mint-a M --mint-b M | --new-mints --supply N] [--fee-bps 30]
python -m client market add-liquidity POOL --user-a T --user-b T --user-lp T --amount-a N --max-b N
python -m client market swap POOL --src T --dst T --amount-in N [--min-out N] --a-to-b|--b-to-a
python -m client market sync POOL
python -m client market price POOL|FEED [--publish PRICE --conf CONF]
python -m client market price --new-feed LABEL [--exponent -6]

`create` also makes the payer's token accounts for A, B and the LP mint and prints them (the
later commands take token accounts, not wallets). With `--new-mints` the payer is the mint
authority and `--supply` atoms of each are minted to those accounts: a test market in one step.

A pool keeps its own reserves: tokens sent straight to a vault show as `vault_balance_*` and
count for nobody until `sync` folds them into the reserves (for every share). The first deposit
locks 1,000 shares (`locked_lp`). `price` shows the spot and the cumulative price the agents'
TWAP is read from.
"""

from __future__ import annotations

import argparse
import hashlib
from typing import Any

from solders.pubkey import Pubkey

from ..chain.base import ChainError
from ..market import MarketClient
from ..market.client import feed_address
from ..program import PROGRAM_ID, decode_account
from .context import CliContext, add_common_options


def parse_pubkey(text: str, what: str) -> Pubkey:
    """A base58 address, or a ValueError naming the option (exit code 1 with the message)."""
    try:
        return Pubkey.from_string(text)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a base58 address") from None


def _amount(text: str) -> int:
    try:
        v = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer amount") from None
    if not 0 <= v < 2**64:
        raise argparse.ArgumentTypeError(f"{text} is outside 0..2^64-1")
    return v


def register(sub: argparse._SubParsersAction) -> None:
    market = sub.add_parser("market", help="constant-product pools and price feeds")
    msub = market.add_subparsers(dest="market_command", metavar="ACTION", required=True)

    p = msub.add_parser("create", help="create a pool (and the payer's token accounts)")
    p.add_argument("--mint-a", help="base mint (A)")
    p.add_argument("--mint-b", help="quote mint (B); prices are B per A")
    p.add_argument("--new-mints", action="store_true", help="create two new 6-decimal mints")
    p.add_argument("--supply", type=_amount, default=0, help="with --new-mints: atoms to mint")
    p.add_argument("--fee-bps", type=int, default=30, help="swap fee in basis points")
    add_common_options(p)
    p.set_defaults(handler=create)

    p = msub.add_parser("add-liquidity", help="deposit A and B into a pool for LP tokens")
    p.add_argument("pool", metavar="POOL")
    p.add_argument("--user-a", required=True, help="your token account of mint A")
    p.add_argument("--user-b", required=True, help="your token account of mint B")
    p.add_argument("--user-lp", required=True, help="your token account of the LP mint")
    p.add_argument("--amount-a", type=_amount, required=True)
    p.add_argument("--max-b", type=_amount, required=True, help="most B to deposit")
    p.add_argument("--min-lp", type=_amount, default=0)
    add_common_options(p)
    p.set_defaults(handler=add_liquidity)

    p = msub.add_parser("swap", help="swap through a pool")
    p.add_argument("pool", metavar="POOL")
    p.add_argument("--src", required=True, help="token account paying amount-in")
    p.add_argument("--dst", required=True, help="token account receiving the output")
    p.add_argument("--amount-in", type=_amount, required=True)
    p.add_argument("--min-out", type=_amount, default=0)
    d = p.add_mutually_exclusive_group(required=True)
    d.add_argument("--a-to-b", dest="a_to_b", action="store_true", help="sell A for B")
    d.add_argument("--b-to-a", dest="a_to_b", action="store_false", help="buy A with B")
    add_common_options(p)
    p.set_defaults(handler=swap)

    p = msub.add_parser("sync", help="fold tokens sent straight to a pool's vaults into reserves")
    p.add_argument("pool", metavar="POOL")
    add_common_options(p)
    p.set_defaults(handler=sync)

    p = msub.add_parser("price", help="show a pool's or feed's price; publish to a feed")
    p.add_argument("address", metavar="POOL|FEED", nargs="?")
    p.add_argument("--publish", type=int, default=None, help="publish this price (feed only)")
    p.add_argument("--conf", type=_amount, default=0, help="confidence interval to publish")
    p.add_argument("--new-feed", metavar="LABEL", help="create a feed (id = sha256(LABEL))")
    p.add_argument("--exponent", type=int, default=-6, help="with --new-feed: price exponent")
    add_common_options(p)
    p.set_defaults(handler=price)


async def create(args: argparse.Namespace, ctx: CliContext) -> int:
    if args.new_mints == (args.mint_a is not None or args.mint_b is not None):
        raise ValueError("give either --mint-a and --mint-b, or --new-mints")
    if not args.new_mints and (args.mint_a is None or args.mint_b is None):
        raise ValueError("both --mint-a and --mint-b are needed")
    if not 0 <= args.fee_bps < 10_000:
        raise ValueError("--fee-bps must be in 0..9999")
    chain = await ctx.chain()
    m = MarketClient(chain, ctx.keypair)
    if args.new_mints:
        mint_a, mint_b = await m.create_mint(6), await m.create_mint(6)
    else:
        mint_a = parse_pubkey(args.mint_a, "--mint-a")
        mint_b = parse_pubkey(args.mint_b, "--mint-b")
        for mint, opt in ((mint_a, "--mint-a"), (mint_b, "--mint-b")):
            acc = await chain.get_account(mint)
            if acc is None or len(acc.data) != 82:
                raise ChainError(f"{opt} {mint} is not an SPL mint")
    pool = await m.create_pool(mint_a, mint_b, fee_bps=args.fee_bps)
    st = await m.pool(pool)
    owner = ctx.keypair.pubkey()
    user_a = await m.create_token_account(mint_a, owner)
    user_b = await m.create_token_account(mint_b, owner)
    user_lp = await m.create_token_account(st.lp_mint, owner)
    if args.new_mints and args.supply:
        await m.mint_to(mint_a, user_a, args.supply)
        await m.mint_to(mint_b, user_b, args.supply)
    out = {
        "pool": str(pool),
        "mint_a": str(mint_a),
        "mint_b": str(mint_b),
        "lp_mint": str(st.lp_mint),
        "fee_bps": st.fee_bps,
        "user_a": str(user_a),
        "user_b": str(user_b),
        "user_lp": str(user_lp),
    }
    ctx.emit(out, "\n".join(f"{k:<8} {v}" for k, v in out.items()))
    return 0


def _pool_json(st: Any) -> dict[str, Any]:
    return {
        "pool": str(st.address),
        "mint_a": str(st.mint_a),
        "mint_b": str(st.mint_b),
        "reserve_a": st.reserve_a,
        "reserve_b": st.reserve_b,
        "lp_supply": st.lp_supply,
        "locked_lp": st.locked_lp,
        "vault_balance_a": st.vault_balance_a,
        "vault_balance_b": st.vault_balance_b,
        "fee_bps": st.fee_bps,
        "price": st.price,
        "price_q32": st.price_q32,
        "price_cumulative": st.cumulative,
        "cumulative_slot": st.last_slot,
    }


async def sync(args: argparse.Namespace, ctx: CliContext) -> int:
    pool = parse_pubkey(args.pool, "POOL")
    m = MarketClient(await ctx.chain(), ctx.keypair)
    before = await m.pool(pool)  # a clear error when POOL is not a pool
    res = await m.sync(pool)
    out = _pool_json(await m.pool(pool)) | {"signature": str(res.signature)}
    added = (out["reserve_a"] - before.reserve_a, out["reserve_b"] - before.reserve_b)
    ctx.emit(out, f"synced: +{added[0]:,} A / +{added[1]:,} B into the reserves")
    return 0


async def add_liquidity(args: argparse.Namespace, ctx: CliContext) -> int:
    pool = parse_pubkey(args.pool, "POOL")
    ua = parse_pubkey(args.user_a, "--user-a")
    ub = parse_pubkey(args.user_b, "--user-b")
    ulp = parse_pubkey(args.user_lp, "--user-lp")
    m = MarketClient(await ctx.chain(), ctx.keypair)
    await m.pool(pool)  # a clear error when POOL is not a pool
    res = await m.add_liquidity(
        pool, ua, ub, ulp, amount_a=args.amount_a, max_b=args.max_b, min_lp=args.min_lp
    )
    out = _pool_json(await m.pool(pool)) | {"signature": str(res.signature)}
    ctx.emit(out, f"reserves {out['reserve_a']:,} A / {out['reserve_b']:,} B  ({res.signature})")
    return 0


async def swap(args: argparse.Namespace, ctx: CliContext) -> int:
    pool = parse_pubkey(args.pool, "POOL")
    src = parse_pubkey(args.src, "--src")
    dst = parse_pubkey(args.dst, "--dst")
    m = MarketClient(await ctx.chain(), ctx.keypair)
    before = await m.balance(dst)
    await m.pool(pool)
    res = await m.swap(
        pool, src, dst, amount_in=args.amount_in, min_out=args.min_out, a_to_b=args.a_to_b
    )
    got = await m.balance(dst) - before
    out = _pool_json(await m.pool(pool)) | {
        "amount_in": args.amount_in,
        "amount_out": got,
        "signature": str(res.signature),
    }
    ctx.emit(out, f"swapped {args.amount_in:,} for {got:,}; pool price now {out['price']:.6g}")
    return 0


async def price(args: argparse.Namespace, ctx: CliContext) -> int:
    chain = await ctx.chain()
    m = MarketClient(chain, ctx.keypair)
    if args.new_feed is not None:
        feed_id = hashlib.sha256(args.new_feed.encode()).digest()
        if await chain.get_account(feed_address(ctx.keypair.pubkey(), feed_id)) is None:
            await m.create_feed(feed_id, args.exponent)
        address = feed_address(ctx.keypair.pubkey(), feed_id)
    elif args.address is None:
        raise ValueError("give a POOL or FEED address, or --new-feed LABEL")
    else:
        address = parse_pubkey(args.address, "POOL|FEED")
    acc = await chain.get_account(address)
    if acc is None:
        raise ChainError(f"{address} does not exist")
    if acc.owner != PROGRAM_ID:
        raise ChainError(f"{address} is not a pool or price feed of this program")
    kind, _ = decode_account(bytes(acc.data))
    if kind == "Pool":
        if args.publish is not None:
            raise ValueError("--publish needs a price feed, not a pool")
        out = _pool_json(await m.pool(address))
        reserves = f"{out['reserve_a']:,} / {out['reserve_b']:,}"
        ctx.emit(out, f"pool {address}: {out['price']:.9g} B per A (reserves {reserves})")
        return 0
    if kind != "PriceFeed":
        raise ChainError(f"{address} is a {kind}, not a pool or price feed")
    if args.publish is not None:
        await m.publish(address, args.publish, args.conf)
    f = await m.feed(address)
    out = {
        "feed": str(address),
        "publisher": str(f.publisher),
        "feed_id": f.feed_id.hex(),
        "price": f.price,
        "conf": f.conf,
        "exponent": f.exponent,
        "publish_slot": f.publish_slot,
        "publish_time": f.publish_time,
    }
    ctx.emit(out, f"feed {address}: {f.price} ± {f.conf} x 10^{f.exponent} (slot {f.publish_slot})")
    return 0
