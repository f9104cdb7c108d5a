//! `write_chunk(index, data)`: verify one chunk against its declared SHA-256 and copy it in.
//!
//! The hot path of an upload (one per ~1 KB), so it takes only the two accounts it needs —
//! every extra account key costs 32 bytes of payload in a 1,232-byte packet — and hashes the
//! instruction data in place with one `sol_sha256` call. Rewriting a chunk with the same bytes
//! is a no-op apart from the copy (its bit is already set), so rebroadcasts and resumed uploads
//! are harmless.

use pinocchio::{AccountView, Address, ProgramResult};

use crate::args::ArgReader;
use crate::checks;
use crate::error::MlAgentError;
use crate::events::{emit, BorshWriter};
use crate::hash::sha256v;
use crate::interface::{field, AccountSpec, InstructionSpec, Ty, TypeSpec};
use crate::state::model::{ModelWeights, VersionStatus};

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "write_chunk",
    "Write chunk `index` of an uploading version after checking its length and SHA-256.",
    &[
        AccountSpec::new("authority").signer(),
        AccountSpec::new("weights").mutable(),
    ],
    &[field("index", Ty::U32), field("data", Ty::Bytes)],
    None,
);

pub const CHUNK_WRITTEN: TypeSpec = TypeSpec::event(
    "ChunkWritten",
    "A chunk was verified and stored (also emitted for an identical rewrite).",
    &[
        field("weights", Ty::Pubkey),
        field("index", Ty::U32),
        field("chunks_written", Ty::U32),
        field("chunk_count", Ty::U32),
    ],
);

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [authority, weights, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    let mut args = ArgReader::new(data);
    let index = args.u32()?;
    let chunk = args.bytes()?;
    args.finish()?;

    checks::signer(authority)?;
    checks::writable(weights)?;
    // SAFETY: only view of the weights account in this instruction.
    let mut w = unsafe { ModelWeights::load(weights, program_id)? };
    if w.fixed.authority != authority.address().to_bytes() {
        return Err(MlAgentError::WrongAuthority.into());
    }
    if w.fixed.status != VersionStatus::Uploading as u8 {
        return Err(MlAgentError::UploadFinalized.into());
    }
    if index >= w.fixed.chunk_count {
        return Err(MlAgentError::ChunkIndexOutOfRange.into());
    }
    if chunk.len() != w.fixed.chunk_len(index) {
        return Err(MlAgentError::BadChunkLength.into());
    }
    let declared = w.declared_hash(index);
    if declared == [0u8; 32] {
        return Err(MlAgentError::ChunkHashNotDeclared.into());
    }
    if sha256v(&[chunk]) != *declared {
        return Err(MlAgentError::ChunkHashMismatch.into());
    }

    let at = index as usize * w.fixed.chunk_size as usize;
    copy(&mut w.data[at..at + chunk.len()], chunk);
    if !w.is_written(index) {
        w.mark_written(index);
        w.fixed.chunks_written += 1;
    }

    let mut buf = [0u8; 56];
    let mut e = BorshWriter::event(&CHUNK_WRITTEN, &mut buf);
    e.bytes(weights.address().as_ref())
        .u32(index)
        .u32(w.fixed.chunks_written)
        .u32(w.fixed.chunk_count);
    emit(e.finish());
    Ok(())
}

/// `dst.copy_from_slice(src)` through the `sol_memcpy_` syscall: 10 CU for a full chunk, where
/// the compiled byte loop costs ~0.6 CU per byte (more than the SHA-256 itself).
#[inline(always)]
fn copy(dst: &mut [u8], src: &[u8]) {
    #[cfg(target_arch = "bpf")]
    // SAFETY: equal lengths (the caller slices `dst` to `src.len()`); the instruction data and
    // the account data never overlap.
    unsafe {
        pinocchio::syscalls::sol_memcpy_(dst.as_mut_ptr(), src.as_ptr(), src.len() as u64);
    }
    #[cfg(not(target_arch = "bpf"))]
    dst.copy_from_slice(src);
}
