//! Account validation shared by every instruction; each returns the Anchor error an Anchor
//! program would return for the same violation, so clients see familiar codes.

use pinocchio::{AccountView, Address};

use crate::error::MlAgentError;
use crate::interface::TypeSpec;

pub type CheckResult = Result<(), MlAgentError>;

#[inline(always)]
pub fn signer(a: &AccountView) -> CheckResult {
    if a.is_signer() {
        Ok(())
    } else {
        Err(MlAgentError::ConstraintSigner)
    }
}

#[inline(always)]
pub fn writable(a: &AccountView) -> CheckResult {
    if a.is_writable() {
        Ok(())
    } else {
        Err(MlAgentError::ConstraintMut)
    }
}

#[inline(always)]
pub fn owned_by(a: &AccountView, owner: &Address) -> CheckResult {
    if a.owned_by(owner) {
        Ok(())
    } else {
        Err(MlAgentError::AccountOwnedByWrongProgram)
    }
}

#[inline(always)]
pub fn address(a: &AccountView, expected: &Address) -> CheckResult {
    if a.address() == expected {
        Ok(())
    } else {
        Err(MlAgentError::ConstraintAddress)
    }
}

/// A program account of type `spec`: owned by us, long enough, right discriminator.
#[inline(always)]
pub fn program_account(
    a: &AccountView,
    program_id: &Address,
    spec: &TypeSpec,
    min_len: usize,
) -> CheckResult {
    if a.is_data_empty() && a.lamports() == 0 {
        return Err(MlAgentError::AccountNotInitialized);
    }
    owned_by(a, program_id)?;
    // SAFETY: read-only peek at the first 8 bytes; no mutable borrow is live here.
    let data = unsafe { a.borrow_unchecked() };
    if data.len() < 8 {
        return Err(MlAgentError::AccountDiscriminatorNotFound);
    }
    if data[..8] != spec.discriminator {
        return Err(MlAgentError::AccountDiscriminatorMismatch);
    }
    if data.len() < min_len {
        return Err(MlAgentError::AccountDidNotDeserialize);
    }
    Ok(())
}
