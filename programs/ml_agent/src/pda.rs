//! Creating program-derived accounts, shared by every instruction that makes one.

use pinocchio::{
    cpi::{Seed, Signer},
    AccountView, Address, ProgramResult,
};

/// Seeds (including the bump) and size of the PDA to create.
pub struct NewPda<'a> {
    pub seeds: &'a [Seed<'a>],
    pub space: usize,
}

/// Create a PDA of `space` bytes owned by `owner` (this program, or e.g. the Token program for
/// vaults and mints), rent-exempt, paid by `payer`. Anyone can send lamports to a PDA's address
/// beforehand, which makes `CreateAccount` fail; then top up, allocate and assign instead, so
/// nobody can block a model id, an upload page, a pool or an agent that way.
///
/// (`seeds` and `space` travel in `NewPda`: a slice is two registers, and the BPF backend
/// rejects calls with more than five.)
pub fn create_pda(
    owner: &Address,
    payer: &AccountView,
    pda: &AccountView,
    new: &NewPda,
) -> ProgramResult {
    let space = new.space;
    let signer = [Signer::from(new.seeds)];
    let needed = crate::rent::minimum_balance(space)?;
    let have = pda.lamports();
    if have == 0 {
        return pinocchio_system::instructions::CreateAccount {
            from: payer,
            to: pda,
            lamports: needed,
            space: space as u64,
            owner,
        }
        .invoke_signed(&signer);
    }
    if have < needed {
        pinocchio_system::instructions::Transfer {
            from: payer,
            to: pda,
            lamports: needed - have,
        }
        .invoke()?;
    }
    pinocchio_system::instructions::Allocate {
        account: pda,
        space: space as u64,
    }
    .invoke_signed(&signer)?;
    pinocchio_system::instructions::Assign {
        account: pda,
        owner,
    }
    .invoke_signed(&signer)
}
