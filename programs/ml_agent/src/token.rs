//! The classic SPL Token program: account/mint layouts and the six instructions the market and
//! the agent invoke (Transfer, MintTo, Burn, CloseAccount, InitializeAccount3, InitializeMint2).
//!
//! Built by hand on `pinocchio::cpi::invoke_signed`: `pinocchio-token` marks its error helpers
//! `#[cold]`, which sbpf-linker 0.1.9 cannot link.

use pinocchio::{
    cpi::{invoke_signed, Signer},
    instruction::{InstructionAccount, InstructionView},
    AccountView, Address, ProgramResult,
};

use crate::error::MlAgentError;

/// `TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA`.
pub const TOKEN_PROGRAM_ID: Address = Address::new_from_array([
    6, 221, 246, 225, 215, 101, 161, 147, 217, 203, 225, 70, 206, 235, 121, 172, 28, 180, 133, 237,
    95, 91, 55, 145, 58, 140, 245, 133, 126, 255, 0, 169,
]);
pub const TOKEN_PROGRAM: &str = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA";

pub const ACCOUNT_LEN: usize = 165;
pub const MINT_LEN: usize = 82;
/// `AccountState::Initialized` at byte 108 of a token account.
const STATE_INITIALIZED: u8 = 1;

/// A token account's fields the program relies on, read from the validated 165 bytes.
pub struct TokenAccount {
    pub mint: [u8; 32],
    pub owner: [u8; 32],
    pub amount: u64,
}

/// A token account owned by the Token program, initialized (not frozen, not uninitialized).
pub fn token_account(a: &AccountView) -> Result<TokenAccount, MlAgentError> {
    if !a.owned_by(&TOKEN_PROGRAM_ID) {
        return Err(MlAgentError::AccountOwnedByWrongProgram);
    }
    // SAFETY: read-only copy; no mutable borrow of this account is live.
    let d = unsafe { a.borrow_unchecked() };
    if d.len() != ACCOUNT_LEN || d[108] != STATE_INITIALIZED {
        return Err(MlAgentError::AccountDidNotDeserialize);
    }
    let mut out = TokenAccount {
        mint: [0; 32],
        owner: [0; 32],
        amount: 0,
    };
    out.mint.copy_from_slice(&d[0..32]);
    out.owner.copy_from_slice(&d[32..64]);
    out.amount = read_u64(d, 64);
    Ok(out)
}

/// Just the balance of an account already known to be a token account (vault addresses are
/// stored by the program, so their type was checked when they were created).
#[inline(always)]
pub fn amount(a: &AccountView) -> u64 {
    // SAFETY: read-only; callers pass accounts validated as 165-byte token accounts.
    let d = unsafe { a.borrow_unchecked() };
    if d.len() < 72 {
        return 0;
    }
    read_u64(d, 64)
}

/// Decimals of a mint owned by the Token program.
pub fn mint_decimals(a: &AccountView) -> Result<u8, MlAgentError> {
    if !a.owned_by(&TOKEN_PROGRAM_ID) {
        return Err(MlAgentError::AccountOwnedByWrongProgram);
    }
    // SAFETY: read-only.
    let d = unsafe { a.borrow_unchecked() };
    if d.len() != MINT_LEN || d[45] != 1 {
        return Err(MlAgentError::AccountDidNotDeserialize);
    }
    Ok(d[44])
}

#[inline(always)]
fn read_u64(d: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[at..at + 8]);
    u64::from_le_bytes(b)
}

// Always inlined: with the signer slice these take six register arguments, one more than an
// out-of-line BPF call can pass.
/// Transfer (tag 3), MintTo (tag 7) and Burn (tag 8) share one shape: the tag, a u64 amount,
/// two writable accounts and the authority (a signer of the outer transaction, or a PDA through
/// `signers`).
#[inline(always)]
fn amount_ix(
    tag: u8,
    first: &AccountView,
    second: &AccountView,
    authority: &AccountView,
    amount: u64,
    signers: &[Signer],
) -> ProgramResult {
    let mut data = [0u8; 9];
    data[0] = tag;
    data[1..].copy_from_slice(&amount.to_le_bytes());
    let metas = [
        InstructionAccount::writable(first.address()),
        InstructionAccount::writable(second.address()),
        InstructionAccount::readonly_signer(authority.address()),
    ];
    let ix = InstructionView {
        program_id: &TOKEN_PROGRAM_ID,
        data: &data,
        accounts: &metas,
    };
    invoke_signed(&ix, &[first, second, authority], signers)
}

/// Transfer (tag 3) `amount` from `from` to `to`, authorised by `authority`.
#[inline(always)]
pub fn transfer(
    from: &AccountView,
    to: &AccountView,
    authority: &AccountView,
    amount: u64,
    signers: &[Signer],
) -> ProgramResult {
    amount_ix(3, from, to, authority, amount, signers)
}

/// MintTo (tag 7).
#[inline(always)]
pub fn mint_to(
    mint: &AccountView,
    to: &AccountView,
    authority: &AccountView,
    amount: u64,
    signers: &[Signer],
) -> ProgramResult {
    amount_ix(7, mint, to, authority, amount, signers)
}

/// Burn (tag 8) from `from`, authorised by its owner `authority` (the outer signer).
pub fn burn(
    from: &AccountView,
    mint: &AccountView,
    authority: &AccountView,
    amount: u64,
) -> ProgramResult {
    amount_ix(8, from, mint, authority, amount, &[])
}

/// CloseAccount (tag 9): `account` (balance 0) is deleted, its lamports go to `destination`;
/// `owner` (a PDA here, hence `signers`) authorises it.
pub fn close_account(
    account: &AccountView,
    destination: &AccountView,
    owner: &AccountView,
    signers: &[Signer],
) -> ProgramResult {
    let data = [9u8];
    let metas = [
        InstructionAccount::writable(account.address()),
        InstructionAccount::writable(destination.address()),
        InstructionAccount::readonly_signer(owner.address()),
    ];
    let ix = InstructionView {
        program_id: &TOKEN_PROGRAM_ID,
        data: &data,
        accounts: &metas,
    };
    invoke_signed(&ix, &[account, destination, owner], signers)
}

/// InitializeAccount3 (tag 18): `account` holds `mint`, owned by `owner`.
pub fn initialize_account3(
    account: &AccountView,
    mint: &AccountView,
    owner: &Address,
) -> ProgramResult {
    let mut data = [0u8; 33];
    data[0] = 18;
    data[1..].copy_from_slice(owner.as_ref());
    let metas = [
        InstructionAccount::writable(account.address()),
        InstructionAccount::readonly(mint.address()),
    ];
    let ix = InstructionView {
        program_id: &TOKEN_PROGRAM_ID,
        data: &data,
        accounts: &metas,
    };
    invoke_signed(&ix, &[account, mint], &[])
}

/// InitializeMint2 (tag 20) with no freeze authority.
pub fn initialize_mint2(mint: &AccountView, decimals: u8, authority: &Address) -> ProgramResult {
    let mut data = [0u8; 35];
    data[0] = 20;
    data[1] = decimals;
    data[2..34].copy_from_slice(authority.as_ref());
    data[34] = 0;
    let metas = [InstructionAccount::writable(mint.address())];
    let ix = InstructionView {
        program_id: &TOKEN_PROGRAM_ID,
        data: &data,
        accounts: &metas,
    };
    invoke_signed(&ix, &[mint], &[])
}

#[cfg(test)]
mod tests {
    #[test]
    fn token_program_id_matches_its_base58() {
        let parsed: pinocchio::Address = super::TOKEN_PROGRAM.parse().unwrap();
        assert_eq!(parsed, super::TOKEN_PROGRAM_ID);
    }
}
