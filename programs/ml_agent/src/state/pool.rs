//! Market accounts: the constant-product `Pool` and the program-owned `PriceFeed`.
//!
//! * `Pool` (PDA `["pool", mint_a, mint_b]`): two PDA vaults (`["pool_vault", pool, mint]`,
//!   token accounts owned by the pool) and an LP mint (`["lp", pool]`, mint authority the pool).
//!   Reserves are the vault balances, read at each operation (no cached copy to drift).
//! * `PriceFeed` (PDA `["feed", publisher, feed_id]`): a Pyth-like price written by its
//!   publisher: price, confidence, exponent, publish slot and time.

use crate::interface::{field, SeedSpec, Ty, TypeSpec};

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
}

impl Pool {
    pub const LEN: usize = core::mem::size_of::<Pool>();
    pub const SPEC: TypeSpec = TypeSpec::account(
        "Pool",
        "Constant-product pool over two SPL mints (PDA [\"pool\", mint_a, mint_b]); reserves are \
         the balances of its two PDA vaults; LP shares are an SPL mint the pool controls.",
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
        ],
    );
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
