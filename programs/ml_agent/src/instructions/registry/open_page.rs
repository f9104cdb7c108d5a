//! `open_page(weights, page_index, model_size, chunk_size, hashes)`: create the staging page for
//! chunks `page_index * PAGE_CHUNKS ..` and record their declared SHA-256s.
//!
//! The weights account is named by argument, not passed: a transaction that references a large
//! account pays for loading it, and pages exist precisely so uploads avoid that. The page is
//! bound to its opener instead (the authority is a PDA seed), so nobody can squat on another
//! uploader's pages, and `commit_pages` checks the page against the weights account: its
//! authority, model and chunk sizes, and hashes (which must agree with any already declared).

use pinocchio::{cpi::Seed, AccountView, Address, ProgramResult};

use super::{create_pda, NewPda};
use crate::args::ArgReader;
use crate::checks;
use crate::error::MlAgentError;
use crate::events::{emit, BorshWriter};
use crate::interface::{
    field, AccountSpec, InstructionSpec, SeedSpec, Ty, TypeSpec, SYSTEM_PROGRAM,
};
use crate::state::model::{ModelPage, WeightsLayout, PAGE_SEED};

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "open_page",
    "Create the upload page for chunks page_index*9.. of `weights` with their declared SHA-256s.",
    &[
        AccountSpec::new("authority")
            .mutable()
            .signer()
            .docs("The version's authority; pays the page's rent until it is committed."),
        AccountSpec::new("page").mutable().pda(&[
            SeedSpec::Const(PAGE_SEED),
            SeedSpec::Arg("weights"),
            SeedSpec::Account("authority"),
            SeedSpec::Arg("page_index"),
        ]),
        AccountSpec::new("system_program").address(SYSTEM_PROGRAM),
    ],
    &[
        field("weights", Ty::Pubkey),
        field("page_index", Ty::U32),
        field("model_size", Ty::U64),
        field("chunk_size", Ty::U32),
        field("hashes", Ty::Vec(&Ty::Array(&Ty::U8, 32))),
    ],
    None,
);

pub const PAGE_OPENED: TypeSpec = TypeSpec::event(
    "PageOpened",
    "An upload page was created with the declared hashes of its chunks.",
    &[
        field("weights", Ty::Pubkey),
        field("page", Ty::Pubkey),
        field("page_index", Ty::U32),
        field("first_chunk", Ty::U32),
        field("chunk_count", Ty::U32),
    ],
);

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [authority, page, system_program, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    let mut args = ArgReader::new(data);
    let weights = *args.array::<32>()?;
    let page_index = args.u32()?;
    let model_size = args.u64()?;
    let chunk_size = args.u32()?;
    let (n, hashes) = args.vec_raw(32)?;
    args.finish()?;

    checks::signer(authority)?;
    checks::writable(authority)?;
    checks::writable(page)?;
    checks::address(system_program, &pinocchio_system::ID)?;
    let layout = WeightsLayout::new(model_size, chunk_size)?;
    let p = layout
        .page(page_index)
        .ok_or(MlAgentError::ChunkIndexOutOfRange)?;
    if n != p.chunk_count as usize {
        return Err(MlAgentError::InvalidArgument.into());
    }
    // All-zero marks "not declared" in the weights table; no real digest is all zero.
    if hashes.chunks_exact(32).any(|h| h == [0u8; 32]) {
        return Err(MlAgentError::InvalidArgument.into());
    }
    if !page.owned_by(&pinocchio_system::ID) || !page.is_data_empty() {
        return Err(MlAgentError::PageAlreadyOpen.into());
    }
    let index_bytes = page_index.to_le_bytes();
    let (expected, bump) = Address::find_program_address(
        &[
            PAGE_SEED,
            &weights,
            authority.address().as_ref(),
            &index_bytes,
        ],
        program_id,
    );
    checks::address(page, &expected).map_err(|_| MlAgentError::ConstraintSeeds)?;

    let bump_seed = [bump];
    let seeds = [
        Seed::from(PAGE_SEED),
        Seed::from(weights.as_ref()),
        Seed::from(authority.address().as_ref()),
        Seed::from(index_bytes.as_ref()),
        Seed::from(&bump_seed),
    ];
    create_pda(
        program_id,
        authority,
        page,
        &NewPda {
            seeds: &seeds,
            space: p.space,
        },
    )?;

    // SAFETY: just created with p.space zeroed bytes (>= ModelPage::LEN); no other borrow.
    let base = page.data_ptr() as *mut u8;
    let fixed = unsafe { &mut *(base as *mut ModelPage) };
    *fixed = ModelPage {
        discriminator: ModelPage::SPEC.discriminator,
        weights,
        authority: authority.address().to_bytes(),
        model_size,
        page_index,
        chunk_size,
        first_chunk: p.first_chunk,
        chunk_count: p.chunk_count,
        written: 0,
        bump,
        padding: [0; 3],
    };
    // SAFETY: the hashes region follows the fixed part inside the new account.
    let table = unsafe { core::slice::from_raw_parts_mut(base.add(ModelPage::LEN), hashes.len()) };
    table.copy_from_slice(hashes);

    let mut buf = [0u8; 88];
    let mut e = BorshWriter::event(&PAGE_OPENED, &mut buf);
    e.bytes(&weights)
        .bytes(page.address().as_ref())
        .u32(page_index)
        .u32(p.first_chunk)
        .u32(p.chunk_count);
    emit(e.finish());
    Ok(())
}
