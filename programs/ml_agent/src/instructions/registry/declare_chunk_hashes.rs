//! `declare_chunk_hashes(start, hashes)`: record the SHA-256 each chunk must have, before the
//! chunk is written. Entries are write-once: re-declaring the same value is a no-op (so a
//! resumed or rebroadcast upload is harmless), a different value is rejected.
//!
//! `finalize_version` checks the complete table against the declared chunk root, so a wrong
//! table can never finalize; checking each chunk against it at write time means a bad chunk is
//! rejected immediately, not after the whole upload.

use pinocchio::{AccountView, Address, ProgramResult};

use crate::args::ArgReader;
use crate::checks;
use crate::error::MlAgentError;
use crate::events::{emit, BorshWriter};
use crate::interface::{field, AccountSpec, InstructionSpec, Ty, TypeSpec};
use crate::state::model::{ModelWeights, VersionStatus};

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "declare_chunk_hashes",
    "Declare the SHA-256 of chunks start..start+len(hashes) of an uploading version.",
    &[
        AccountSpec::new("authority").signer(),
        AccountSpec::new("weights").mutable(),
    ],
    &[
        field("start", Ty::U32),
        field("hashes", Ty::Vec(&Ty::Array(&Ty::U8, 32))),
    ],
    None,
);

pub const CHUNK_HASHES_DECLARED: TypeSpec = TypeSpec::event(
    "ChunkHashesDeclared",
    "Chunk hashes were declared for an uploading version.",
    &[
        field("weights", Ty::Pubkey),
        field("start", Ty::U32),
        field("count", Ty::U32),
        field("hashes_declared", Ty::U32),
    ],
);

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [authority, weights, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    let mut args = ArgReader::new(data);
    let start = args.u32()?;
    let (n, hashes) = args.vec_raw(32)?;
    args.finish()?;

    checks::signer(authority)?;
    checks::writable(weights)?;
    // SAFETY: only view of the weights account in this instruction.
    let w = unsafe { ModelWeights::load(weights, program_id)? };
    if w.fixed.authority != authority.address().to_bytes() {
        return Err(MlAgentError::WrongAuthority.into());
    }
    if w.fixed.status != VersionStatus::Uploading as u8 {
        return Err(MlAgentError::UploadFinalized.into());
    }
    if n == 0 {
        return Err(MlAgentError::InvalidArgument.into());
    }
    let end = (start as usize)
        .checked_add(n)
        .ok_or(MlAgentError::ChunkIndexOutOfRange)?;
    if end > w.fixed.chunk_count as usize {
        return Err(MlAgentError::ChunkIndexOutOfRange.into());
    }

    let mut added = 0u32;
    for (i, h) in hashes.chunks_exact(32).enumerate() {
        // All-zero marks "not declared"; no real SHA-256 digest is all zero.
        if h == [0u8; 32] {
            return Err(MlAgentError::InvalidArgument.into());
        }
        let at = 32 * (start as usize + i);
        let slot = &mut w.table[at..at + 32];
        if *slot == [0u8; 32] {
            slot.copy_from_slice(h);
            added += 1;
        } else if *slot != *h {
            return Err(MlAgentError::ChunkHashConflict.into());
        }
    }
    w.fixed.hashes_declared += added;

    let mut buf = [0u8; 56];
    let mut e = BorshWriter::event(&CHUNK_HASHES_DECLARED, &mut buf);
    e.bytes(weights.address().as_ref())
        .u32(start)
        .u32(n as u32)
        .u32(w.fixed.hashes_declared);
    emit(e.finish());
    Ok(())
}
