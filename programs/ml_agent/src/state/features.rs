//! `FeaturesAccount`: an input vector held in an account, so a model's input is bounded by
//! account size instead of the 1,232-byte transaction.
//!
//! PDA `["features", owner, id as u64 LE]`, created by `create_features` (the owner signs and
//! pays), written only by its owner (`write_features`), closed by its owner for the rent
//! (`close_features`). Data: this fixed part, then `count` little-endian i32 Q16.16 values (the
//! same encoding as `infer`'s `features` argument). Anyone may read it: `infer` with
//! `FLAG_FEATURES_ACCOUNT` and `create_job` take their input from it.

use pinocchio::{AccountView, Address};

use crate::checks;
use crate::error::MlAgentError;
use crate::interface::{field, SeedSpec, Ty, TypeSpec};

pub const FEATURES_SEED: &[u8] = b"features";

/// An existing features account's seeds (IDL only).
pub const FEATURES_PDA: &[SeedSpec] = &[
    SeedSpec::Const(FEATURES_SEED),
    SeedSpec::Field("features.owner", "FeaturesAccount"),
    SeedSpec::Field("features.id", "FeaturesAccount"),
];

/// Largest value count: the account is created by CPI, which may allocate at most 10 KiB.
pub const MAX_FEATURE_VALUES: usize = (10 * 1024 - FeaturesAccount::LEN) / 4;

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct FeaturesAccount {
    pub discriminator: [u8; 8],
    pub owner: [u8; 32],
    pub id: u64,
    /// Slot of the last `write_features` (0: never written).
    pub updated_slot: u64,
    /// Values the account holds (fixed at creation).
    pub count: u32,
    /// `write_features` calls so far: readers can tell whether the contents changed.
    pub writes: u32,
    pub bump: u8,
    pub padding: [u8; 7],
}

impl FeaturesAccount {
    pub const LEN: usize = core::mem::size_of::<FeaturesAccount>();

    pub const SPEC: TypeSpec = TypeSpec::account(
        "FeaturesAccount",
        "A feature vector written by its owner (PDA [\"features\", owner, id LE]): this fixed \
         72-byte part, then count little-endian i32 Q16.16 values. Variable size: the account \
         is 72 + 4 x count bytes.",
        &[
            field("owner", Ty::Pubkey),
            field("id", Ty::U64),
            field("updated_slot", Ty::U64),
            field("count", Ty::U32),
            field("writes", Ty::U32),
            field("bump", Ty::U8),
            field("padding", Ty::Array(&Ty::U8, 7)),
        ],
    );

    /// Account size for `count` values.
    pub const fn space(count: usize) -> usize {
        Self::LEN + 4 * count
    }

    /// Validate `acc` as a features account of this program and view its header and values.
    ///
    /// # Safety
    /// No mutable reference to `acc`'s data may be live while the result is used.
    #[inline(always)]
    pub unsafe fn load<'a>(
        acc: &AccountView,
        program_id: &Address,
    ) -> Result<(&'a mut FeaturesAccount, &'a mut [i32]), MlAgentError> {
        checks::program_account(acc, program_id, &Self::SPEC, Self::LEN)?;
        let base = acc.data_ptr() as *mut u8;
        let fixed = &mut *(base as *mut FeaturesAccount);
        let count = fixed.count as usize;
        if Self::space(count) > acc.data_len() {
            return Err(MlAgentError::AccountDidNotDeserialize);
        }
        // Account data starts 8-aligned and LEN is a multiple of 8: the values are aligned.
        let values = core::slice::from_raw_parts_mut(base.add(Self::LEN) as *mut i32, count);
        Ok((fixed, values))
    }
}

const _: () = assert!(FeaturesAccount::LEN == 72 && FeaturesAccount::LEN.is_multiple_of(8));
