//! The market: a constant-product pool over two SPL mints (create, add/remove liquidity, swap
//! with a minimum out and a fee), and program-owned price feeds. Every trade moves real SPL
//! tokens through CPIs to the Token program.

pub mod feed;
pub mod pool;

use pinocchio::{
    cpi::{Seed, Signer},
    AccountView, Address, ProgramResult,
};

use crate::checks;
use crate::error::MlAgentError;
use crate::state::pool::{Pool, POOL_SEED};
use crate::wide::mul_div_floor;

/// Output of selling `amount_in` into reserves (`r_in`, `r_out`) with a fee in basis points:
/// `floor(r_out * x / (r_in + x))` with `x = floor(amount_in * (10,000 - fee) / 10,000)`. Both
/// floors round against the trader (the pool never pays out more than the curve allows).
pub fn swap_out(r_in: u64, r_out: u64, amount_in: u64, fee_bps: u16) -> Option<u64> {
    let x = mul_div_floor(amount_in, 10_000 - fee_bps as u64, 10_000)?;
    let den = r_in.checked_add(x)?;
    mul_div_floor(r_out, x, den)
}

/// Validate `acc` as a Pool and view it.
///
/// # Safety
/// No other reference to the pool's data may be live while the result is used.
pub unsafe fn load_pool<'a>(
    acc: &AccountView,
    program_id: &Address,
) -> Result<&'a Pool, MlAgentError> {
    checks::program_account(acc, program_id, &Pool::SPEC, Pool::LEN)?;
    Ok(&*(acc.data_ptr() as *const Pool))
}

/// Validate `acc` as a writable Pool and view it mutably.
///
/// # Safety
/// No other reference to the pool's data may be live while the result is used.
pub unsafe fn load_pool_mut<'a>(
    acc: &AccountView,
    program_id: &Address,
) -> Result<&'a mut Pool, MlAgentError> {
    checks::program_account(acc, program_id, &Pool::SPEC, Pool::LEN)?;
    checks::writable(acc)?;
    Ok(&mut *(acc.data_ptr() as *mut Pool))
}

/// The pool's vaults must be the ones it recorded at creation.
pub fn check_vaults(
    pool: &Pool,
    vault_a: &AccountView,
    vault_b: &AccountView,
) -> Result<(), MlAgentError> {
    if vault_a.address().to_bytes() != pool.vault_a || vault_b.address().to_bytes() != pool.vault_b
    {
        return Err(MlAgentError::WrongVault);
    }
    checks::writable(vault_a)?;
    checks::writable(vault_b)
}

/// Pay `amount` out of a pool vault, signed by the pool PDA (inlined: five arguments plus the
/// result pointer exceed what an out-of-line BPF call can pass).
#[inline(always)]
pub fn pool_pay(
    pool: &Pool,
    pool_acc: &AccountView,
    vault: &AccountView,
    to: &AccountView,
    amount: u64,
) -> ProgramResult {
    let bump = [pool.bump];
    let seeds = [
        Seed::from(POOL_SEED),
        Seed::from(&pool.mint_a[..]),
        Seed::from(&pool.mint_b[..]),
        Seed::from(&bump),
    ];
    crate::token::transfer(vault, to, pool_acc, amount, &[Signer::from(&seeds)])
}

/// Create a program-derived account with `space` bytes owned by `owner`, rent-exempt, paid by
/// `payer`; `seeds` include the bump. (The shared `pda::create_pda`, in this module's argument
/// order.)
#[inline(always)]
pub fn create_pda(
    payer: &AccountView,
    acc: &AccountView,
    space: usize,
    owner: &Address,
    seeds: &[Seed],
) -> ProgramResult {
    crate::pda::create_pda(owner, payer, acc, &crate::pda::NewPda { seeds, space })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_rounds_against_the_trader() {
        // 1,000 in at 0.3 % fee against 1,000,000 / 2,000,000.
        let out = swap_out(1_000_000, 2_000_000, 1_000, 30).unwrap();
        let x = 1_000u128 * 9_970 / 10_000;
        assert_eq!(out as u128, 2_000_000u128 * x / (1_000_000 + x));
        // k never decreases.
        let (ra, rb) = (1_000_000u128 + 1_000, 2_000_000u128 - out as u128);
        assert!(ra * rb >= 1_000_000u128 * 2_000_000);
        assert_eq!(swap_out(0, 0, 0, 0), None);
        assert_eq!(swap_out(10, 10, 0, 0), Some(0));
        // Large reserves do not overflow.
        assert!(swap_out(u64::MAX / 4, u64::MAX / 2, 1 << 60, 30).is_some());
    }
}
