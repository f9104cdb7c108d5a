//! Pool instructions: `create_pool`, `add_liquidity`, `remove_liquidity`, `swap`, `sync`.
//!
//! Every instruction that touches the pool first calls `Pool::observe(slot)` (the TWAP
//! accumulator, from the reserves as they stood before the slot's first touch), then works on
//! the tracked reserves, never on vault balances: a donation to a vault changes nothing until
//! `sync`.

use pinocchio::{
    cpi::{Seed, Signer},
    AccountView, Address, ProgramResult,
};

use pinocchio::sysvars::{clock::Clock, Sysvar};

use super::{check_vaults, create_pda, load_pool_mut, pool_pay, swap_out};
use crate::args::ArgReader;
use crate::checks;
use crate::error::MlAgentError;
use crate::events::{emit, BorshWriter};
use crate::interface::{
    field, AccountSpec, InstructionSpec, SeedSpec, Ty, TypeSpec, SYSTEM_PROGRAM,
};
use crate::state::pool::{
    Pool, LP_SEED, MAX_FEE_BPS, MINIMUM_LIQUIDITY, POOL_SEED, POOL_VAULT_SEED,
};
use crate::token::{self, TOKEN_PROGRAM, TOKEN_PROGRAM_ID};
use crate::wide::{isqrt_mul, mul_div_ceil, mul_div_floor};

const POOL_PDA: &[SeedSpec] = &[
    SeedSpec::Const(POOL_SEED),
    SeedSpec::Account("mint_a"),
    SeedSpec::Account("mint_b"),
];

pub const CREATE_POOL: InstructionSpec = InstructionSpec::new(
    "create_pool",
    "Create a constant-product pool over mint_a/mint_b with PDA vaults and an LP mint; fee in \
     basis points (<= 1000).",
    &[
        AccountSpec::new("creator").mutable().signer(),
        AccountSpec::new("pool").mutable().pda(POOL_PDA),
        AccountSpec::new("mint_a"),
        AccountSpec::new("mint_b"),
        AccountSpec::new("vault_a").mutable().pda(&[
            SeedSpec::Const(POOL_VAULT_SEED),
            SeedSpec::Account("pool"),
            SeedSpec::Account("mint_a"),
        ]),
        AccountSpec::new("vault_b").mutable().pda(&[
            SeedSpec::Const(POOL_VAULT_SEED),
            SeedSpec::Account("pool"),
            SeedSpec::Account("mint_b"),
        ]),
        AccountSpec::new("lp_mint")
            .mutable()
            .pda(&[SeedSpec::Const(LP_SEED), SeedSpec::Account("pool")]),
        AccountSpec::new("token_program").address(TOKEN_PROGRAM),
        AccountSpec::new("system_program").address(SYSTEM_PROGRAM),
    ],
    &[field("fee_bps", Ty::U16)],
    None,
);

const LIQUIDITY_ACCOUNTS: &[AccountSpec] = &[
    AccountSpec::new("user").signer(),
    AccountSpec::new("pool")
        .mutable()
        .pda(crate::state::pool::POOL_PDA),
    AccountSpec::new("vault_a").mutable().relations(&["pool"]),
    AccountSpec::new("vault_b").mutable().relations(&["pool"]),
    AccountSpec::new("lp_mint").mutable().relations(&["pool"]),
    AccountSpec::new("user_a").mutable(),
    AccountSpec::new("user_b").mutable(),
    AccountSpec::new("user_lp").mutable(),
    AccountSpec::new("token_program").address(TOKEN_PROGRAM),
];

pub const ADD_LIQUIDITY: InstructionSpec = InstructionSpec::new(
    "add_liquidity",
    "Deposit amount_a of token A and the proportional amount of B at the tracked reserves (at \
     most max_b) for LP tokens (at least min_lp). The first deposit sets the price with exactly \
     max_b, mints floor(sqrt(amount_a * max_b)) - 1000 LP and locks 1000 shares forever.",
    LIQUIDITY_ACCOUNTS,
    &[
        field("amount_a", Ty::U64),
        field("max_b", Ty::U64),
        field("min_lp", Ty::U64),
    ],
    None,
);

pub const REMOVE_LIQUIDITY: InstructionSpec = InstructionSpec::new(
    "remove_liquidity",
    "Burn lp LP tokens for their share of the tracked reserves (rounded down; shares include \
     the locked ones), at least min_a and min_b.",
    LIQUIDITY_ACCOUNTS,
    &[
        field("lp", Ty::U64),
        field("min_a", Ty::U64),
        field("min_b", Ty::U64),
    ],
    None,
);

pub const SWAP: InstructionSpec = InstructionSpec::new(
    "swap",
    "Sell amount_in of A (a_to_b) or B into the pool; fails unless the output is at least \
     min_out.",
    &[
        AccountSpec::new("user").signer(),
        AccountSpec::new("pool")
            .mutable()
            .pda(crate::state::pool::POOL_PDA),
        AccountSpec::new("vault_a").mutable().relations(&["pool"]),
        AccountSpec::new("vault_b").mutable().relations(&["pool"]),
        AccountSpec::new("user_src").mutable(),
        AccountSpec::new("user_dst").mutable(),
        AccountSpec::new("token_program").address(TOKEN_PROGRAM),
    ],
    &[
        field("amount_in", Ty::U64),
        field("min_out", Ty::U64),
        field("a_to_b", Ty::Bool),
    ],
    None,
);

pub const SYNC: InstructionSpec = InstructionSpec::new(
    "sync",
    "Permissionless: fold tokens sent straight to the vaults (donations) into the reserves, \
     after bringing the TWAP up to this slot with the old reserves. The donation goes to the \
     liquidity providers; nobody can take it out otherwise.",
    &[
        AccountSpec::new("pool")
            .mutable()
            .pda(crate::state::pool::POOL_PDA),
        AccountSpec::new("vault_a").relations(&["pool"]),
        AccountSpec::new("vault_b").relations(&["pool"]),
    ],
    &[],
    None,
);

pub const POOL_CREATED: TypeSpec = TypeSpec::event(
    "PoolCreated",
    "A pool was created.",
    &[
        field("pool", Ty::Pubkey),
        field("mint_a", Ty::Pubkey),
        field("mint_b", Ty::Pubkey),
        field("fee_bps", Ty::U16),
    ],
);

pub const LIQUIDITY_CHANGED: TypeSpec = TypeSpec::event(
    "LiquidityChanged",
    "Liquidity added (added = true) or removed; reserves after the change.",
    &[
        field("pool", Ty::Pubkey),
        field("user", Ty::Pubkey),
        field("added", Ty::Bool),
        field("amount_a", Ty::U64),
        field("amount_b", Ty::U64),
        field("lp", Ty::U64),
        field("reserve_a", Ty::U64),
        field("reserve_b", Ty::U64),
    ],
);

pub const SYNCED: TypeSpec = TypeSpec::event(
    "Synced",
    "sync folded donations into the reserves; reserves after it.",
    &[
        field("pool", Ty::Pubkey),
        field("reserve_a", Ty::U64),
        field("reserve_b", Ty::U64),
    ],
);

pub const SWAPPED: TypeSpec = TypeSpec::event(
    "Swapped",
    "A swap; reserves after it.",
    &[
        field("pool", Ty::Pubkey),
        field("user", Ty::Pubkey),
        field("a_to_b", Ty::Bool),
        field("amount_in", Ty::U64),
        field("amount_out", Ty::U64),
        field("reserve_a", Ty::U64),
        field("reserve_b", Ty::U64),
    ],
);

pub fn create_pool(
    program_id: &Address,
    accounts: &mut [AccountView],
    data: &[u8],
) -> ProgramResult {
    let [creator, pool, mint_a, mint_b, vault_a, vault_b, lp_mint, token_program, system_program, ..] =
        accounts
    else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    let mut args = ArgReader::new(data);
    let fee_bps = args.u16()?;
    args.finish()?;
    if fee_bps > MAX_FEE_BPS || mint_a.address() == mint_b.address() {
        return Err(MlAgentError::InvalidArgument.into());
    }
    checks::signer(creator)?;
    checks::writable(creator)?;
    checks::address(token_program, &TOKEN_PROGRAM_ID)?;
    checks::address(system_program, &pinocchio_system::ID)?;
    let decimals_a = token::mint_decimals(mint_a)?;
    token::mint_decimals(mint_b)?;
    if !pool.is_data_empty() || !pool.owned_by(&pinocchio_system::ID) {
        return Err(MlAgentError::AccountDiscriminatorAlreadySet.into());
    }
    let (ma, mb) = (mint_a.address().as_ref(), mint_b.address().as_ref());
    let (expected, bump) = Address::find_program_address(&[POOL_SEED, ma, mb], program_id);
    checks::address(pool, &expected).map_err(|_| MlAgentError::ConstraintSeeds)?;
    let pk = pool.address().as_ref();
    let (va, va_bump) = Address::find_program_address(&[POOL_VAULT_SEED, pk, ma], program_id);
    let (vb, vb_bump) = Address::find_program_address(&[POOL_VAULT_SEED, pk, mb], program_id);
    let (lp, lp_bump) = Address::find_program_address(&[LP_SEED, pk], program_id);
    checks::address(vault_a, &va).map_err(|_| MlAgentError::ConstraintSeeds)?;
    checks::address(vault_b, &vb).map_err(|_| MlAgentError::ConstraintSeeds)?;
    checks::address(lp_mint, &lp).map_err(|_| MlAgentError::ConstraintSeeds)?;

    let b = [bump];
    create_pda(
        creator,
        pool,
        Pool::LEN,
        program_id,
        &[
            Seed::from(POOL_SEED),
            Seed::from(ma),
            Seed::from(mb),
            Seed::from(&b),
        ],
    )?;
    for (vault, mint, vb) in [
        (&*vault_a, &*mint_a, va_bump),
        (&*vault_b, &*mint_b, vb_bump),
    ] {
        let vbump = [vb];
        let seeds = [
            Seed::from(POOL_VAULT_SEED),
            Seed::from(pk),
            Seed::from(mint.address().as_ref()),
            Seed::from(&vbump),
        ];
        create_pda(
            creator,
            vault,
            token::ACCOUNT_LEN,
            &TOKEN_PROGRAM_ID,
            &seeds,
        )?;
        token::initialize_account3(vault, mint, pool.address())?;
    }
    let lbump = [lp_bump];
    create_pda(
        creator,
        lp_mint,
        token::MINT_LEN,
        &TOKEN_PROGRAM_ID,
        &[Seed::from(LP_SEED), Seed::from(pk), Seed::from(&lbump)],
    )?;
    token::initialize_mint2(lp_mint, decimals_a, pool.address())?;

    // SAFETY: freshly created, Pool::LEN zeroed bytes, no other borrow.
    let p = unsafe { &mut *(pool.data_ptr() as *mut Pool) };
    p.discriminator = Pool::SPEC.discriminator;
    p.mint_a = mint_a.address().to_bytes();
    p.mint_b = mint_b.address().to_bytes();
    p.vault_a = va.to_bytes();
    p.vault_b = vb.to_bytes();
    p.lp_mint = lp.to_bytes();
    p.creator = creator.address().to_bytes();
    p.fee_bps = fee_bps;
    p.bump = bump;
    p.vault_a_bump = va_bump;
    p.vault_b_bump = vb_bump;
    p.lp_bump = lp_bump;
    p.last_slot = Clock::get()?.slot;

    let mut buf = [0u8; 8 + 96 + 2];
    let mut w = BorshWriter::event(&POOL_CREATED, &mut buf);
    w.bytes(pk).bytes(ma).bytes(mb).u16(fee_bps);
    emit(w.finish());
    Ok(())
}

/// Supply of a mint already checked to be the pool's LP mint.
fn mint_supply(mint: &AccountView) -> u64 {
    // SAFETY: read-only; the LP mint was created by the pool as an 82-byte Token mint.
    let d = unsafe { mint.borrow_unchecked() };
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[36..44]);
    u64::from_le_bytes(b)
}

struct Liquidity<'a> {
    user: &'a AccountView,
    pool_acc: &'a AccountView,
    pool: &'a mut Pool,
    vault_a: &'a AccountView,
    vault_b: &'a AccountView,
    lp_mint: &'a AccountView,
    user_a: &'a AccountView,
    user_b: &'a AccountView,
    user_lp: &'a AccountView,
}

fn liquidity_accounts<'a>(
    program_id: &Address,
    accounts: &'a [AccountView],
) -> Result<Liquidity<'a>, pinocchio::error::ProgramError> {
    let [user, pool_acc, vault_a, vault_b, lp_mint, user_a, user_b, user_lp, token_program, ..] =
        accounts
    else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    checks::signer(user)?;
    checks::address(token_program, &TOKEN_PROGRAM_ID)?;
    // SAFETY: the only view of the pool's data in this instruction.
    let pool = unsafe { load_pool_mut(pool_acc, program_id)? };
    check_vaults(pool, vault_a, vault_b)?;
    if lp_mint.address().to_bytes() != pool.lp_mint {
        return Err(MlAgentError::WrongVault.into());
    }
    Ok(Liquidity {
        user,
        pool_acc,
        pool,
        vault_a,
        vault_b,
        lp_mint,
        user_a,
        user_b,
        user_lp,
    })
}

fn emit_liquidity(l: &Liquidity, added: bool, a: u64, b: u64, lp: u64) {
    let mut buf = [0u8; 8 + 64 + 1 + 40];
    let mut w = BorshWriter::event(&LIQUIDITY_CHANGED, &mut buf);
    w.bytes(l.pool_acc.address().as_ref())
        .bytes(l.user.address().as_ref())
        .u8(added as u8)
        .u64(a)
        .u64(b)
        .u64(lp)
        .u64(l.pool.reserve_a)
        .u64(l.pool.reserve_b);
    emit(w.finish());
}

pub fn add_liquidity(
    program_id: &Address,
    accounts: &mut [AccountView],
    data: &[u8],
) -> ProgramResult {
    let mut args = ArgReader::new(data);
    let (amount_a, max_b, min_lp) = (args.u64()?, args.u64()?, args.u64()?);
    args.finish()?;
    let l = liquidity_accounts(program_id, accounts)?;
    l.pool.observe(Clock::get()?.slot);
    let (ra, rb) = (l.pool.reserve_a, l.pool.reserve_b);
    let supply = mint_supply(l.lp_mint);
    let first = l.pool.locked_lp == 0;
    let (amount_b, lp) = if first {
        // The first deposit sets the price and the share unit: sqrt(a * b) shares, of which
        // MINIMUM_LIQUIDITY are locked, so inflating a share's value later costs the inflater
        // 1,000 times what it can take from anyone's rounding.
        if supply != 0 || ra != 0 || rb != 0 {
            return Err(MlAgentError::InsufficientLiquidity.into());
        }
        let root = isqrt_mul(amount_a, max_b);
        if root <= MINIMUM_LIQUIDITY {
            return Err(MlAgentError::InsufficientLiquidity.into());
        }
        (max_b, root - MINIMUM_LIQUIDITY)
    } else {
        // The depositor pays B rounded up and receives LP rounded down.
        let shares = l
            .pool
            .total_shares(supply)
            .ok_or(MlAgentError::ArithmeticOverflow)?;
        let b = mul_div_ceil(amount_a, rb, ra).ok_or(MlAgentError::ArithmeticOverflow)?;
        let lp = mul_div_floor(amount_a, shares, ra).ok_or(MlAgentError::ArithmeticOverflow)?;
        (b, lp)
    };
    if amount_a == 0 || amount_b == 0 || lp == 0 {
        return Err(MlAgentError::InvalidArgument.into());
    }
    if amount_b > max_b || lp < min_lp {
        return Err(MlAgentError::SlippageExceeded.into());
    }
    let new_a = ra
        .checked_add(amount_a)
        .ok_or(MlAgentError::ArithmeticOverflow)?;
    let new_b = rb
        .checked_add(amount_b)
        .ok_or(MlAgentError::ArithmeticOverflow)?;
    token::transfer(l.user_a, l.vault_a, l.user, amount_a, &[])?;
    token::transfer(l.user_b, l.vault_b, l.user, amount_b, &[])?;
    let bump = [l.pool.bump];
    let seeds = [
        Seed::from(POOL_SEED),
        Seed::from(&l.pool.mint_a[..]),
        Seed::from(&l.pool.mint_b[..]),
        Seed::from(&bump),
    ];
    token::mint_to(
        l.lp_mint,
        l.user_lp,
        l.pool_acc,
        lp,
        &[Signer::from(&seeds)],
    )?;
    l.pool.reserve_a = new_a;
    l.pool.reserve_b = new_b;
    if first {
        l.pool.locked_lp = MINIMUM_LIQUIDITY;
    }
    emit_liquidity(&l, true, amount_a, amount_b, lp);
    Ok(())
}

pub fn remove_liquidity(
    program_id: &Address,
    accounts: &mut [AccountView],
    data: &[u8],
) -> ProgramResult {
    let mut args = ArgReader::new(data);
    let (lp, min_a, min_b) = (args.u64()?, args.u64()?, args.u64()?);
    args.finish()?;
    let l = liquidity_accounts(program_id, accounts)?;
    l.pool.observe(Clock::get()?.slot);
    let (ra, rb) = (l.pool.reserve_a, l.pool.reserve_b);
    let supply = mint_supply(l.lp_mint);
    if lp == 0 || lp > supply {
        return Err(MlAgentError::InvalidArgument.into());
    }
    let shares = l
        .pool
        .total_shares(supply)
        .ok_or(MlAgentError::ArithmeticOverflow)?;
    // Rounded down: the withdrawer never takes more than the share. The locked shares keep
    // both reserves above zero forever.
    let a = mul_div_floor(lp, ra, shares).ok_or(MlAgentError::ArithmeticOverflow)?;
    let b = mul_div_floor(lp, rb, shares).ok_or(MlAgentError::ArithmeticOverflow)?;
    if a < min_a || b < min_b {
        return Err(MlAgentError::SlippageExceeded.into());
    }
    token::burn(l.user_lp, l.lp_mint, l.user, lp)?;
    pool_pay(l.pool, l.pool_acc, l.vault_a, l.user_a, a)?;
    pool_pay(l.pool, l.pool_acc, l.vault_b, l.user_b, b)?;
    l.pool.reserve_a = ra - a;
    l.pool.reserve_b = rb - b;
    emit_liquidity(&l, false, a, b, lp);
    Ok(())
}

pub fn swap(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [user, pool_acc, vault_a, vault_b, user_src, user_dst, token_program, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    let mut args = ArgReader::new(data);
    let (amount_in, min_out, a_to_b) = (args.u64()?, args.u64()?, args.bool()?);
    args.finish()?;
    checks::signer(user)?;
    checks::address(token_program, &TOKEN_PROGRAM_ID)?;
    // SAFETY: the only view of the pool's data in this instruction.
    let pool = unsafe { load_pool_mut(pool_acc, program_id)? };
    check_vaults(pool, vault_a, vault_b)?;
    pool.observe(Clock::get()?.slot);
    let (ra, rb) = (pool.reserve_a, pool.reserve_b);
    let (v_in, v_out, r_in, r_out) = if a_to_b {
        (&*vault_a, &*vault_b, ra, rb)
    } else {
        (&*vault_b, &*vault_a, rb, ra)
    };
    if r_in == 0 || r_out == 0 {
        return Err(MlAgentError::InsufficientLiquidity.into());
    }
    let out =
        swap_out(r_in, r_out, amount_in, pool.fee_bps).ok_or(MlAgentError::ArithmeticOverflow)?;
    if out == 0 || out >= r_out {
        return Err(MlAgentError::InsufficientLiquidity.into());
    }
    if out < min_out {
        return Err(MlAgentError::SlippageExceeded.into());
    }
    // The Token program checks that user_src / user_dst hold the vaults' mints.
    token::transfer(user_src, v_in, user, amount_in, &[])?;
    pool_pay(pool, pool_acc, v_out, user_dst, out)?;
    let new_in = r_in
        .checked_add(amount_in)
        .ok_or(MlAgentError::ArithmeticOverflow)?;
    if a_to_b {
        (pool.reserve_a, pool.reserve_b) = (new_in, r_out - out);
    } else {
        (pool.reserve_a, pool.reserve_b) = (r_out - out, new_in);
    }
    let mut buf = [0u8; 8 + 64 + 1 + 32];
    let mut w = BorshWriter::event(&SWAPPED, &mut buf);
    w.bytes(pool_acc.address().as_ref())
        .bytes(user.address().as_ref())
        .u8(a_to_b as u8)
        .u64(amount_in)
        .u64(out)
        .u64(pool.reserve_a)
        .u64(pool.reserve_b);
    emit(w.finish());
    Ok(())
}

pub fn sync(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [pool_acc, vault_a, vault_b, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    ArgReader::new(data).finish()?;
    // SAFETY: the only view of the pool's data in this instruction.
    let pool = unsafe { load_pool_mut(pool_acc, program_id)? };
    if vault_a.address().to_bytes() != pool.vault_a || vault_b.address().to_bytes() != pool.vault_b
    {
        return Err(MlAgentError::WrongVault.into());
    }
    // Before the first deposit there are no shares to credit, and reserves set by a sync
    // would block that deposit for good.
    if pool.locked_lp == 0 {
        return Err(MlAgentError::InsufficientLiquidity.into());
    }
    // The elapsed slots are priced with the reserves before the donation.
    pool.observe(Clock::get()?.slot);
    // Vault balances never fall below the reserves (only the pool pays out of its vaults, and
    // only what it subtracts from them), so this only ever adds.
    pool.reserve_a = token::amount(vault_a).max(pool.reserve_a);
    pool.reserve_b = token::amount(vault_b).max(pool.reserve_b);
    let mut buf = [0u8; 8 + 32 + 16];
    let mut w = BorshWriter::event(&SYNCED, &mut buf);
    w.bytes(pool_acc.address().as_ref())
        .u64(pool.reserve_a)
        .u64(pool.reserve_b);
    emit(w.finish());
    Ok(())
}
