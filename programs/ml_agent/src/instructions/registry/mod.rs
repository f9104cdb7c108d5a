//! On-chain model registry: chunked upload with per-chunk SHA-256 checks, versions, activation,
//! freezing, two-step authority transfer and rent-returning close. See docs/model-registry.md.
//!
//! Lifecycle of a version (`ModelWeights::status`):
//! `create_model`/`create_version` (Uploading) → `open_page` (declares chunk hashes) +
//! `write_chunk` (any order, idempotent) → `commit_pages` → `finalize_version` (Finalized) →
//! `activate_version` (Active; the previous active one becomes Retired) → `close_version` /
//! `close_model`. `close_page` discards an uncommitted page.

pub mod accept_authority;
pub mod activate_version;
pub mod close_model;
pub mod close_page;
pub mod close_version;
pub mod commit_pages;
pub mod create_model;
pub mod create_version;
pub mod finalize_version;
pub mod freeze_model;
pub mod open_page;
pub mod propose_authority;
pub mod write_chunk;

use pinocchio::{
    error::ProgramError,
    sysvars::{clock::Clock, Sysvar},
    AccountView, Address,
};

use crate::checks;
use crate::error::MlAgentError;
use crate::state::model::{
    ModelHeader, ModelStatus, ModelWeights, VersionParams, VersionStatus, WeightsLayout,
};

pub(crate) const ZERO: [u8; 32] = [0; 32];

pub(crate) fn slot() -> Result<u64, ProgramError> {
    Ok(Clock::get()?.slot)
}

/// The signer must be the header's authority.
#[inline(always)]
pub(crate) fn require_authority(
    header: &ModelHeader,
    authority: &AccountView,
) -> Result<(), MlAgentError> {
    checks::signer(authority)?;
    if header.authority != authority.address().to_bytes() {
        return Err(MlAgentError::WrongAuthority);
    }
    Ok(())
}

#[inline(always)]
pub(crate) fn require_not_frozen(header: &ModelHeader) -> Result<(), MlAgentError> {
    if header.status == ModelStatus::Frozen as u8 {
        return Err(MlAgentError::ModelFrozen);
    }
    Ok(())
}

/// Anchor passes the program id for an omitted optional account.
#[inline(always)]
pub(crate) fn is_none(acc: &AccountView, program_id: &Address) -> bool {
    acc.address() == program_id
}

/// Claim a client-created weights account for `model`: it must be owned by this program, sized
/// exactly for the declared layout, never initialized, and signed by its keypair. The signature
/// matters: without it anyone could claim an account someone else just created for their model.
pub(crate) struct Claim<'a> {
    pub model: &'a Address,
    pub authority: &'a Address,
    pub params: &'a VersionParams,
    pub version: u32,
    pub slot: u64,
}

/// (Arguments travel in `Claim` because the BPF backend rejects calls with more than five.)
pub(crate) fn claim_weights(
    program_id: &Address,
    weights: &AccountView,
    c: &Claim,
) -> Result<(), MlAgentError> {
    let params = c.params;
    checks::signer(weights)?;
    checks::writable(weights)?;
    let layout = WeightsLayout::new(params.model_size, params.chunk_size)?;
    checks::owned_by(weights, program_id)?;
    if weights.data_len() != layout.space {
        return Err(MlAgentError::WeightsAccountSize);
    }
    // SAFETY: the length check above covers ModelWeights::LEN; no other borrow is live.
    let w = unsafe { &mut *(weights.data_ptr() as *mut ModelWeights) };
    if w.discriminator != [0; 8] {
        return Err(MlAgentError::WeightsAlreadyInitialized);
    }
    *w = ModelWeights {
        discriminator: ModelWeights::SPEC.discriminator,
        model: c.model.to_bytes(),
        authority: c.authority.to_bytes(),
        model_sha256: params.model_sha256,
        chunk_root: params.chunk_root,
        model_size: params.model_size,
        created_slot: c.slot,
        finalized_slot: 0,
        activated_slot: 0,
        retired_slot: 0,
        version: c.version,
        chunk_size: params.chunk_size,
        chunk_count: layout.chunk_count,
        chunks_written: 0,
        hashes_declared: 0,
        data_offset: layout.data_offset as u32,
        arch: params.arch,
        format_version: params.format_version,
        status: VersionStatus::Uploading as u8,
        file_hash_verified: 0,
        padding: [0; 4],
    };
    Ok(())
}

/// Move all lamports of `acc` to `dest` and close it (data length 0, owner system program): the
/// runtime then deletes it, so it cannot be revived with stale contents.
pub(crate) fn close_account(
    acc: &mut AccountView,
    dest: &mut AccountView,
) -> Result<u64, ProgramError> {
    let lamports = acc.lamports();
    let total = dest
        .lamports()
        .checked_add(lamports)
        .ok_or(MlAgentError::ArithmeticOverflow)?;
    dest.set_lamports(total);
    acc.set_lamports(0);
    acc.close()?;
    Ok(lamports)
}

/// Load a weights account that must belong to `model`.
///
/// # Safety
/// As `ModelWeights::load`.
#[inline(always)]
pub(crate) unsafe fn load_weights_of<'a>(
    acc: &AccountView,
    program_id: &Address,
    model: &Address,
) -> Result<crate::state::model::WeightsView<'a>, MlAgentError> {
    let w = ModelWeights::load(acc, program_id)?;
    if w.fixed.model != model.to_bytes() {
        return Err(MlAgentError::WeightsModelMismatch);
    }
    Ok(w)
}

pub(crate) use crate::pda::{create_pda, NewPda};

/// `dst.copy_from_slice(src)` through the `sol_memcpy_` syscall: 10 CU per KB-sized chunk, where
/// the compiled byte loop costs ~0.6 CU per byte (more than hashing it).
#[inline(always)]
pub(crate) fn copy(dst: &mut [u8], src: &[u8]) {
    assert!(dst.len() == src.len());
    #[cfg(target_arch = "bpf")]
    // SAFETY: equal lengths (checked above); instruction data, pages and the weights account
    // never overlap.
    unsafe {
        pinocchio::syscalls::sol_memcpy_(dst.as_mut_ptr(), src.as_ptr(), src.len() as u64);
    }
    #[cfg(not(target_arch = "bpf"))]
    dst.copy_from_slice(src);
}
