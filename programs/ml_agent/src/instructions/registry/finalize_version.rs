//! `finalize_version`: seal an uploaded version once it is complete and its hashes check out.
//!
//! 1. every chunk is written (each was checked against its declared SHA-256 when written);
//! 2. SHA-256 of the declared hash table equals the declared chunk root (one syscall over the
//!    table in place: 16 CU per KiB of model at 1,012-byte chunks);
//! 3. for models up to `FILE_HASH_MAX_BYTES`, the plain SHA-256 of the model bytes equals the
//!    declared file hash (one syscall over the account data, ~0.5 CU per byte; the client raises
//!    the compute limit). Larger models rely on 1 and 2, which bind every byte to the root;
//!    `file_hash_verified` records which guarantee applies.
//!
//! After this the bytes, hashes and table can no longer change. A file that passes the kernels'
//! header check (`ModelView::parse`) is marked `HEADER_CHECKED` so `infer` skips that check; one
//! whose checked forward pass also succeeds (`infer::ops_checkable`, files up to 4 KiB) is
//! marked `OPS_CHECKED` too, so `infer` skips the op checks that do not depend on the input.
//! The version also stores its compute bound (`kernels::cost`), which `agent_step` compares
//! with the compute it has left before running the model.

use pinocchio::{AccountView, Address, ProgramResult};

use super::{load_weights_of, require_authority};
use crate::checks;
use crate::error::MlAgentError;
use crate::events::{emit, BorshWriter};
use crate::hash::sha256v;
use crate::instructions::infer::ops_checkable;
use crate::interface::{field, AccountSpec, InstructionSpec, Ty, TypeSpec};
use crate::kernels::cost::{cost_bound, floor};
use crate::kernels::model::ModelView;
use crate::state::model::{
    cost_units, ModelHeader, VersionStatus, CHECKS_EPOCH, FILE_HASH_MAX_BYTES, HEADER_CHECKED,
    OPS_CHECKED,
};

/// Above this a bound is stored as "never fits" without walking the op table (the largest
/// transaction budget, 1.4 M CU).
const BOUND_CAP: u64 = 1_400_000;

/// The compute bound of a file `ModelView::parse` accepted; a table too long to be worth
/// walking is saturated (its records alone exceed any transaction).
fn sealed_cost_bound(bytes: &[u8]) -> u64 {
    // SAFETY: the caller's `parse` succeeded on these sealed bytes.
    let view = unsafe { ModelView::checked_before(bytes) };
    if floor(view.n_features, view.n_ops) > BOUND_CAP {
        return u64::MAX;
    }
    cost_bound(&view)
}

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "finalize_version",
    "Check that every chunk is present and the hashes match, then seal the staged version.",
    &[
        AccountSpec::new("authority").signer(),
        AccountSpec::new("model")
            .mutable()
            .pda(crate::state::model::MODEL_PDA),
        AccountSpec::new("weights").mutable(),
    ],
    &[],
    None,
);

pub const VERSION_FINALIZED: TypeSpec = TypeSpec::event(
    "VersionFinalized",
    "A version was verified complete and sealed; it can now be activated.",
    &[
        field("model", Ty::Pubkey),
        field("weights", Ty::Pubkey),
        field("version", Ty::U32),
        field("file_hash_verified", Ty::Bool),
        field("slot", Ty::U64),
    ],
);

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [authority, model, weights, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    crate::args::ArgReader::new(data).finish()?;

    checks::writable(model)?;
    checks::writable(weights)?;
    // SAFETY: distinct accounts (different discriminators); one view each.
    let h: &mut ModelHeader = unsafe { ModelHeader::load(model, program_id)? };
    require_authority(h, authority)?;
    let w = unsafe { load_weights_of(weights, program_id, model.address())? };
    if w.fixed.status != VersionStatus::Uploading as u8 {
        return Err(MlAgentError::UploadFinalized.into());
    }
    if h.staged_weights != weights.address().to_bytes() {
        return Err(MlAgentError::WeightsNotStaged.into());
    }
    if w.fixed.chunks_written != w.fixed.chunk_count {
        return Err(MlAgentError::ChunksMissing.into());
    }
    if sha256v(&[w.table]) != w.fixed.chunk_root {
        return Err(MlAgentError::ChunkRootMismatch.into());
    }
    let verify_file = w.fixed.model_size <= FILE_HASH_MAX_BYTES;
    if verify_file && sha256v(&[w.data]) != w.fixed.model_sha256 {
        return Err(MlAgentError::ModelHashMismatch.into());
    }

    let slot = super::slot()?;
    w.fixed.status = VersionStatus::Finalized as u8;
    w.fixed.file_hash_verified = verify_file as u8;
    // Record that the kernels' header check passes on the sealed bytes, so `infer` can skip
    // it (the bytes are at the same aligned address and never change after this point).
    if ModelView::parse(w.data).is_ok() {
        w.fixed.padding[0] = HEADER_CHECKED;
        w.fixed.padding[1] = CHECKS_EPOCH;
        if ops_checkable(w.data) {
            w.fixed.padding[0] |= OPS_CHECKED;
        }
        [w.fixed.padding[2], w.fixed.padding[3]] = cost_units(sealed_cost_bound(w.data));
    }
    w.fixed.finalized_slot = slot;
    h.updated_slot = slot;

    let mut buf = [0u8; 88];
    let mut e = BorshWriter::event(&VERSION_FINALIZED, &mut buf);
    e.bytes(model.address().as_ref())
        .bytes(weights.address().as_ref())
        .u32(w.fixed.version)
        .u8(verify_file as u8)
        .u64(slot);
    emit(e.finish());
    Ok(())
}
