//! `commit_pages`: move fully written pages (remaining accounts) into the weights account and
//! close them, returning their rent to the authority.
//!
//! Each page must belong to this version (weights key, authority, model and chunk sizes) and be
//! complete. Its declared hashes go into the version's hash table (write-once: an entry already
//! declared must agree) and its bytes into the model region; `finalize_version` then checks the
//! table against the declared chunk root and the bytes against the declared file hash. This is
//! where "writing after finalize" is refused: pages can still be filled, but never committed.
//! At most `MAX_PAGES_PER_COMMIT` pages fit one instruction (the entrypoint parses 24 accounts).

use pinocchio::{AccountView, Address, ProgramResult};

use super::{close_account, copy};
use crate::checks;
use crate::error::MlAgentError;
use crate::events::{emit, BorshWriter};
use crate::interface::{field, AccountSpec, InstructionSpec, Ty, TypeSpec};
use crate::state::model::{ModelPage, ModelWeights, VersionStatus};

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "commit_pages",
    "Copy complete upload pages (passed as remaining accounts) into the version and close them.",
    &[
        AccountSpec::new("authority")
            .mutable()
            .signer()
            .docs("Receives the pages' rent."),
        AccountSpec::new("weights").mutable(),
    ],
    &[],
    None,
);

pub const PAGES_COMMITTED: TypeSpec = TypeSpec::event(
    "PagesCommitted",
    "Upload pages were copied into a version and closed.",
    &[
        field("weights", Ty::Pubkey),
        field("pages", Ty::U32),
        field("chunks_written", Ty::U32),
        field("chunk_count", Ty::U32),
        field("lamports", Ty::U64),
    ],
);

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    crate::args::ArgReader::new(data).finish()?;
    let (fixed, pages) = accounts.split_at_mut(2);
    let [authority, weights] = fixed else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    if pages.is_empty() {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    }
    checks::signer(authority)?;
    checks::writable(authority)?;
    checks::writable(weights)?;
    // SAFETY: pages have another discriminator, so none of them aliases the weights account.
    let w = unsafe { ModelWeights::load(weights, program_id)? };
    if w.fixed.authority != authority.address().to_bytes() {
        return Err(MlAgentError::WrongAuthority.into());
    }
    if w.fixed.status != VersionStatus::Uploading as u8 {
        return Err(MlAgentError::UploadFinalized.into());
    }
    let key = weights.address().to_bytes();

    let mut lamports = 0u64;
    for page in pages.iter_mut() {
        checks::writable(page)?;
        // SAFETY: one page view at a time; a page passed twice is closed by then and rejected.
        let p = unsafe { ModelPage::load(page, program_id)? };
        let f = &*p.fixed;
        if f.weights != key
            || f.model_size != w.fixed.model_size
            || f.chunk_size != w.fixed.chunk_size
        {
            return Err(MlAgentError::PageMismatch.into());
        }
        if f.authority != w.fixed.authority {
            return Err(MlAgentError::WrongAuthority.into());
        }
        if f.written != f.full_mask() {
            return Err(MlAgentError::PageIncomplete.into());
        }
        let first = f.first_chunk as usize;
        let count = f.chunk_count as usize;
        let table = &mut w.table[32 * first..32 * (first + count)];
        for (slot, declared) in table.chunks_exact_mut(32).zip(p.hashes.chunks_exact(32)) {
            if *slot == [0u8; 32] {
                slot.copy_from_slice(declared);
                w.fixed.hashes_declared += 1;
            } else if *slot != *declared {
                return Err(MlAgentError::ChunkHashConflict.into());
            }
        }
        let at = first * f.chunk_size as usize;
        copy(&mut w.data[at..at + p.data.len()], p.data);
        for i in first..first + count {
            let (byte, bit) = (i >> 3, 1u8 << (i & 7));
            if w.bitmap[byte] & bit == 0 {
                w.bitmap[byte] |= bit;
                w.fixed.chunks_written += 1;
            }
        }
        lamports += close_account(page, authority)?;
    }

    let mut buf = [0u8; 72];
    let mut e = BorshWriter::event(&PAGES_COMMITTED, &mut buf);
    e.bytes(&key)
        .u32(pages.len() as u32)
        .u32(w.fixed.chunks_written)
        .u32(w.fixed.chunk_count)
        .u64(lamports);
    emit(e.finish());
    Ok(())
}
