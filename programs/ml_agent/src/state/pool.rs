//! Market accounts: the constant-product `Pool` and the program-owned `PriceFeed`.
//!
//! * `Pool` (PDA `["pool", mint_a, mint_b]`): two PDA vaults (`["pool_vault", pool, mint]`,
//!   token accounts owned by the pool) and an LP mint (`["lp", pool]`, mint authority the pool).
//!   Reserves are tracked in the pool (`reserve_a`, `reserve_b`), changed only by the pool's
//!   own deposits, withdrawals and swaps: a plain token transfer to a vault (a "donation")
//!   moves neither the price nor the value of a share until `sync` folds it into the
//!   reserves. The first deposit locks `MINIMUM_LIQUIDITY` shares forever (Uniswap v2), so a
//!   share can never be made so valuable that rounding eats a later deposit.
//! * The pool keeps a time-weighted price (`price_cumulative`, see `Pool::observe`): every
//!   instruction that touches the pool first adds `spot x slots elapsed` with the reserves as
//!   they stood before the slot's first touch, so trades inside the current slot (a sandwich
//!   in one transaction) cannot move it at all.
//! * `PriceFeed` (PDA `["feed", publisher, feed_id]`): a Pyth-like price written by its
//!   publisher: price, confidence, exponent, publish slot and time.

use crate::interface::{field, SeedSpec, Ty, TypeSpec};
use crate::wide::{add_wide, div_wide_floor, mul_div_floor, mul_wide, sub_wide};

pub const POOL_SEED: &[u8] = b"pool";
pub const POOL_VAULT_SEED: &[u8] = b"pool_vault";
pub const LP_SEED: &[u8] = b"lp";
pub const FEED_SEED: &[u8] = b"feed";

/// A pool's seeds where it already exists (IDL only: self-referencing, clients pass it).
pub const POOL_PDA: &[SeedSpec] = &[
    SeedSpec::Const(POOL_SEED),
    SeedSpec::Field("pool.mint_a", "Pool"),
    SeedSpec::Field("pool.mint_b", "Pool"),
];

/// A price feed's seeds where it already exists (publish_price; IDL only).
pub const FEED_PDA: &[SeedSpec] = &[
    SeedSpec::Const(FEED_SEED),
    SeedSpec::Account("publisher"),
    SeedSpec::Field("feed.feed_id", "PriceFeed"),
];
/// Fees are in basis points; at most 10 %.
pub const MAX_FEE_BPS: u16 = 1000;
/// Shares locked by the first deposit (never minted to anyone), as in Uniswap v2.
pub const MINIMUM_LIQUIDITY: u64 = 1000;
/// Cap of one spot price sample in the cumulative: prices stay below `features::MAX_PRICE`.
pub const MAX_CUMULATIVE_PRICE: u64 = (1 << 56) - 1;

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Pool {
    pub discriminator: [u8; 8],
    pub mint_a: [u8; 32],
    pub mint_b: [u8; 32],
    pub vault_a: [u8; 32],
    pub vault_b: [u8; 32],
    pub lp_mint: [u8; 32],
    pub creator: [u8; 32],
    pub fee_bps: u16,
    pub bump: u8,
    pub vault_a_bump: u8,
    pub vault_b_bump: u8,
    pub lp_bump: u8,
    pub padding: [u8; 2],
    /// The pool's own accounting of its two sides (vault balances may exceed them by
    /// donations; never fall below them).
    pub reserve_a: u64,
    pub reserve_b: u64,
    /// Shares that exist but belong to no one: MINIMUM_LIQUIDITY after the first deposit.
    /// Total shares = LP mint supply + locked_lp.
    pub locked_lp: u64,
    /// Sum over slots of the Q32 spot price `reserve_b * 2^32 / reserve_a` (capped at
    /// MAX_CUMULATIVE_PRICE) as it stood at each slot's start; 128 bits, wrapping (lo, hi).
    pub price_cumulative_lo: u64,
    pub price_cumulative_hi: u64,
    /// Slot up to which `price_cumulative` is accumulated.
    pub last_slot: u64,
}

impl Pool {
    pub const LEN: usize = core::mem::size_of::<Pool>();
    pub const SPEC: TypeSpec = TypeSpec::account(
        "Pool",
        "Constant-product pool over two SPL mints (PDA [\"pool\", mint_a, mint_b]) with two PDA \
         vaults; reserves are tracked here (donations to a vault count only after sync); LP \
         shares are an SPL mint the pool controls plus locked_lp locked by the first deposit; \
         price_cumulative (Q32 spot x slots, 128-bit wrapping) gives a TWAP no trade inside the \
         current slot can move.",
        &[
            field("mint_a", Ty::Pubkey),
            field("mint_b", Ty::Pubkey),
            field("vault_a", Ty::Pubkey),
            field("vault_b", Ty::Pubkey),
            field("lp_mint", Ty::Pubkey),
            field("creator", Ty::Pubkey),
            field("fee_bps", Ty::U16),
            field("bump", Ty::U8),
            field("vault_a_bump", Ty::U8),
            field("vault_b_bump", Ty::U8),
            field("lp_bump", Ty::U8),
            field("padding", Ty::Array(&Ty::U8, 2)),
            field("reserve_a", Ty::U64),
            field("reserve_b", Ty::U64),
            field("locked_lp", Ty::U64),
            field("price_cumulative_lo", Ty::U64),
            field("price_cumulative_hi", Ty::U64),
            field("last_slot", Ty::U64),
        ],
    );

    /// Q32 spot price of the tracked reserves, capped; 0 for an empty side.
    #[inline(always)]
    pub fn spot_q32(&self) -> u64 {
        if self.reserve_a == 0 || self.reserve_b == 0 {
            return 0;
        }
        mul_div_floor(self.reserve_b, 1 << 32, self.reserve_a)
            .unwrap_or(u64::MAX)
            .min(MAX_CUMULATIVE_PRICE)
    }

    /// Bring the cumulative price up to `slot`, before this instruction changes the reserves.
    /// Only the first touch of a slot adds anything (`slot - last_slot` is 0 afterwards), and
    /// what it adds is the price left by the previous slot: whatever happens inside a slot
    /// counts only from the next slot on, weighted by how long it survives. Cost: one
    /// mul-div and one 64x64 multiply per touching instruction.
    #[inline(always)]
    pub fn observe(&mut self, slot: u64) {
        if slot <= self.last_slot {
            return;
        }
        let dt = slot - self.last_slot;
        let add = mul_wide(self.spot_q32(), dt);
        let cum = add_wide((self.price_cumulative_hi, self.price_cumulative_lo), add);
        self.price_cumulative_hi = cum.0;
        self.price_cumulative_lo = cum.1;
        self.last_slot = slot;
    }

    /// The cumulative price as (hi, lo).
    #[inline(always)]
    pub fn cumulative(&self) -> (u64, u64) {
        (self.price_cumulative_hi, self.price_cumulative_lo)
    }

    /// All shares in existence: the LP mint's supply and the locked ones.
    #[inline(always)]
    pub fn total_shares(&self, supply: u64) -> Option<u64> {
        supply.checked_add(self.locked_lp)
    }
}

/// The time-weighted average Q32 price between two cumulative readings `dt` slots apart:
/// `(c1 - c0) / dt`, exact across a 128-bit wrap; None when `dt == 0`.
#[inline(always)]
pub fn twap_q32(c0: (u64, u64), c1: (u64, u64), dt: u64) -> Option<u64> {
    let d = sub_wide(c1, c0);
    div_wide_floor(d.0, d.1, dt)
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PriceFeed {
    pub discriminator: [u8; 8],
    pub publisher: [u8; 32],
    pub feed_id: [u8; 32],
    pub price: i64,
    pub conf: u64,
    pub publish_slot: u64,
    pub publish_time: i64,
    pub exponent: i32,
    pub bump: u8,
    pub padding: [u8; 3],
}

impl PriceFeed {
    pub const LEN: usize = core::mem::size_of::<PriceFeed>();
    pub const SPEC: TypeSpec = TypeSpec::account(
        "PriceFeed",
        "A price written by its publisher (PDA [\"feed\", publisher, feed_id]); value = price x \
         10^exponent, +- conf x 10^exponent, at publish_slot / publish_time.",
        &[
            field("publisher", Ty::Pubkey),
            field("feed_id", Ty::Array(&Ty::U8, 32)),
            field("price", Ty::I64),
            field("conf", Ty::U64),
            field("publish_slot", Ty::U64),
            field("publish_time", Ty::I64),
            field("exponent", Ty::I32),
            field("bump", Ty::U8),
            field("padding", Ty::Array(&Ty::U8, 3)),
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(ra: u64, rb: u64, slot: u64) -> Pool {
        // SAFETY: plain integers; zero is valid.
        let mut p: Pool = unsafe { core::mem::zeroed() };
        p.reserve_a = ra;
        p.reserve_b = rb;
        p.last_slot = slot;
        p
    }

    #[test]
    fn only_the_first_touch_of_a_slot_accumulates_the_previous_price() {
        let mut p = pool(1_000, 2_000, 10);
        p.observe(10);
        assert_eq!(p.cumulative(), (0, 0));
        p.observe(13);
        assert_eq!(p.cumulative(), (0, 3 * (2 << 32)));
        // A trade inside slot 13 (reserves change) does not count in slot 13...
        p.reserve_b = 8_000;
        p.observe(13);
        assert_eq!(p.cumulative(), (0, 3 * (2 << 32)));
        // ...only from slot 14 on, weighted by its duration.
        p.observe(14);
        let c = p.cumulative();
        assert_eq!(
            twap_q32((0, 0), c, 4),
            Some((3 * (2u64 << 32) + (8 << 32)) / 4)
        );
        assert_eq!(twap_q32(c, c, 0), None);
        // Empty pools add nothing; the cap bounds each sample.
        let mut e = pool(0, 5, 0);
        e.observe(100);
        assert_eq!((e.cumulative(), e.last_slot), ((0, 0), 100));
        let mut big = pool(1, u64::MAX, 0);
        big.observe(1);
        assert_eq!(big.cumulative(), (0, MAX_CUMULATIVE_PRICE));
    }

    #[test]
    fn twap_is_exact_across_the_wrap() {
        let mut p = pool(1, 1 << 20, 0);
        p.price_cumulative_hi = u64::MAX;
        p.price_cumulative_lo = u64::MAX - 5;
        let c0 = p.cumulative();
        p.observe(1 << 40);
        let c1 = p.cumulative();
        assert!(c1.0 < c0.0, "wrapped");
        assert_eq!(twap_q32(c0, c1, 1 << 40), Some(1 << 52));
    }
}
