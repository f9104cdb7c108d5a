//! Features accounts (`state::features`): an input vector in an account, written by its owner
//! and read by anyone (`infer` with `FLAG_FEATURES_ACCOUNT`, `create_job`).

pub mod close_features;
pub mod create_features;
pub mod write_features;

use pinocchio::{AccountView, Address};

use crate::checks;
use crate::error::MlAgentError;
use crate::state::features::FeaturesAccount;

/// The signer must be the features account's owner; returns the account's header and values.
///
/// # Safety
/// As `FeaturesAccount::load`.
#[inline(always)]
pub(crate) unsafe fn load_owned<'a>(
    acc: &AccountView,
    owner: &AccountView,
    program_id: &Address,
) -> Result<(&'a mut FeaturesAccount, &'a mut [i32]), MlAgentError> {
    checks::signer(owner)?;
    let (fixed, values) = FeaturesAccount::load(acc, program_id)?;
    if fixed.owner != owner.address().to_bytes() {
        return Err(MlAgentError::NotFeaturesOwner);
    }
    Ok((fixed, values))
}
