//! `write_chunk(index, data)`: verify one chunk against its declared SHA-256 and store it in its
//! upload page.
//!
//! The hot path of an upload (one per ~1 KB), so it takes only the two accounts it needs — every
//! extra account key costs 32 bytes of payload in a 1,232-byte packet — and both are small: the
//! page, not the weights account (see `state::model`). The instruction data is hashed in place
//! with one `sol_sha256` call. Rewriting a chunk with the same bytes is a no-op apart from the
//! copy, so rebroadcasts and resumed uploads are harmless.

use pinocchio::{AccountView, Address, ProgramResult};

use super::copy;
use crate::args::ArgReader;
use crate::checks;
use crate::error::MlAgentError;
use crate::events::{emit, BorshWriter};
use crate::hash::sha256v;
use crate::interface::{field, AccountSpec, InstructionSpec, Ty, TypeSpec};
use crate::state::model::ModelPage;

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "write_chunk",
    "Write chunk `index` into its upload page after checking its length and SHA-256.",
    &[
        AccountSpec::new("authority").signer(),
        AccountSpec::new("page")
            .mutable()
            .pda(crate::state::model::PAGE_PDA)
            .docs("The open page holding chunk `index`."),
    ],
    &[field("index", Ty::U32), field("data", Ty::Bytes)],
    None,
);

pub const CHUNK_WRITTEN: TypeSpec = TypeSpec::event(
    "ChunkWritten",
    "A chunk was verified and stored in its page (also emitted for an identical rewrite).",
    &[
        field("weights", Ty::Pubkey),
        field("index", Ty::U32),
        field("page_written", Ty::U32),
    ],
);

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [authority, page, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    let mut args = ArgReader::new(data);
    let index = args.u32()?;
    let chunk = args.bytes()?;
    args.finish()?;

    checks::signer(authority)?;
    checks::writable(page)?;
    // SAFETY: only view of the page in this instruction.
    let p = unsafe { ModelPage::load(page, program_id)? };
    let f = &mut *p.fixed;
    if f.authority != authority.address().to_bytes() {
        return Err(MlAgentError::WrongAuthority.into());
    }
    let local = index.wrapping_sub(f.first_chunk);
    if index < f.first_chunk || local >= f.chunk_count {
        return Err(MlAgentError::ChunkIndexOutOfRange.into());
    }
    let offset = local as usize * f.chunk_size as usize;
    let expected = (p.data.len() - offset).min(f.chunk_size as usize);
    if chunk.len() != expected {
        return Err(MlAgentError::BadChunkLength.into());
    }
    let at = 32 * local as usize;
    if sha256v(&[chunk]) != p.hashes[at..at + 32] {
        return Err(MlAgentError::ChunkHashMismatch.into());
    }
    copy(&mut p.data[offset..offset + chunk.len()], chunk);
    f.written |= 1 << local;

    let mut buf = [0u8; 56];
    let mut e = BorshWriter::event(&CHUNK_WRITTEN, &mut buf);
    e.bytes(&f.weights).u32(index).u32(f.written);
    emit(e.finish());
    Ok(())
}
