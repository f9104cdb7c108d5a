//! `activate_version`: make the staged, finalized version the active one.
//!
//! Readers resolve a model through `ModelHeader::active_weights` and only accept a weights
//! account whose status is Active (`state::model::load_active`). This instruction flips both in
//! one transaction, so a reader sees either the old complete version or the new complete one,
//! never a half-written model. The previous active version becomes Retired (closable).

use pinocchio::{AccountView, Address, ProgramResult};

use super::{is_none, load_weights_of, require_authority, require_not_frozen, ZERO};
use crate::checks;
use crate::error::MlAgentError;
use crate::events::{emit, BorshWriter};
use crate::interface::{field, AccountSpec, InstructionSpec, Ty, TypeSpec};
use crate::state::model::{ModelHeader, ModelStatus, VersionStatus};

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "activate_version",
    "Atomically switch the model to its staged, finalized version.",
    &[
        AccountSpec::new("authority").signer(),
        AccountSpec::new("model")
            .mutable()
            .pda(crate::state::model::MODEL_PDA),
        AccountSpec::new("weights")
            .mutable()
            .docs("The staged version."),
        AccountSpec::new("previous_weights")
            .mutable()
            .optional()
            .docs("The currently active version, if any (marked Retired)."),
    ],
    &[],
    None,
);

pub const VERSION_ACTIVATED: TypeSpec = TypeSpec::event(
    "VersionActivated",
    "A version became the model's active version.",
    &[
        field("model", Ty::Pubkey),
        field("weights", Ty::Pubkey),
        field("version", Ty::U32),
        field("previous_weights", Ty::Pubkey),
        field("model_sha256", Ty::Array(&Ty::U8, 32)),
        field("slot", Ty::U64),
    ],
);

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [authority, model, weights, previous, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    crate::args::ArgReader::new(data).finish()?;

    checks::writable(model)?;
    checks::writable(weights)?;
    // SAFETY: header and weights have different discriminators, so they are distinct accounts.
    let h: &mut ModelHeader = unsafe { ModelHeader::load(model, program_id)? };
    require_authority(h, authority)?;
    require_not_frozen(h)?;
    if h.staged_weights != weights.address().to_bytes() {
        return Err(MlAgentError::WeightsNotStaged.into());
    }
    // SAFETY: see above.
    let w = unsafe { load_weights_of(weights, program_id, model.address())? };
    if w.fixed.status != VersionStatus::Finalized as u8 {
        return Err(MlAgentError::VersionNotFinalized.into());
    }

    let slot = super::slot()?;
    let previous_key = h.active_weights;
    if previous_key != ZERO {
        // The old version must be passed so it is retired in the same transaction.
        if is_none(previous, program_id) || previous.address().to_bytes() != previous_key {
            return Err(MlAgentError::NotActiveVersion.into());
        }
        checks::writable(previous)?;
        // SAFETY: `previous` is the active account, distinct from the staged `weights`.
        let p = unsafe { load_weights_of(previous, program_id, model.address())? };
        p.fixed.status = VersionStatus::Retired as u8;
        p.fixed.retired_slot = slot;
    }

    w.fixed.status = VersionStatus::Active as u8;
    w.fixed.activated_slot = slot;
    let f = &*w.fixed;
    h.active_weights = h.staged_weights;
    h.active_version = h.staged_version;
    h.staged_weights = ZERO;
    h.staged_version = 0;
    // The header shows a whole-file hash only when finalize recomputed it: a larger model's
    // declared SHA-256 stays on its version as a declaration, and its content is bound by
    // the chunk root, which finalize did verify.
    h.model_sha256 = if f.file_hash_verified != 0 {
        f.model_sha256
    } else {
        ZERO
    };
    h.chunk_root = f.chunk_root;
    h.model_size = f.model_size;
    h.chunk_size = f.chunk_size;
    h.chunk_count = f.chunk_count;
    h.arch = f.arch;
    h.format_version = f.format_version;
    h.file_hash_verified = f.file_hash_verified;
    h.status = ModelStatus::Ready as u8;
    h.activated_slot = slot;
    h.updated_slot = slot;

    let mut buf = [0u8; 152];
    let mut e = BorshWriter::event(&VERSION_ACTIVATED, &mut buf);
    e.bytes(model.address().as_ref())
        .bytes(weights.address().as_ref())
        .u32(h.active_version)
        .bytes(&previous_key)
        .bytes(&h.model_sha256)
        .u64(slot);
    emit(e.finish());
    Ok(())
}
