"""Market SDK: SPL mints and token accounts, the constant-product pool and program price feeds.

market = MarketClient(chain, payer)
mint_a = await market.create_mint(decimals=6)
pool = await market.create_pool(mint_a, mint_b, fee_bps=30)
await market.add_liquidity(pool, user_a, user_b, user_lp, amount_a=..., max_b=...)
out = await market.swap(pool, src, dst, amount_in=1_000, min_out=990, a_to_b=True)
await market.sync(pool)  # fold tokens sent straight to the vaults into the reserves
"""

from .client import (
    MINIMUM_LIQUIDITY,
    FeedState,
    MarketClient,
    PoolState,
    feed_address,
    first_deposit_lp,
    pool_address,
    spot_q32,
)

__all__ = [
    "MINIMUM_LIQUIDITY",
    "FeedState",
    "MarketClient",
    "PoolState",
    "feed_address",
    "first_deposit_lp",
    "pool_address",
    "spot_q32",
]
