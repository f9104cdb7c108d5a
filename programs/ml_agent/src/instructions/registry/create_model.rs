//! `create_model(model_id, params)`: create the header PDA and claim `weights` as version 1.
//!
//! The client creates `weights` with the system program (owner = this program, exact size from
//! the declared layout) in the same transaction; this instruction claims it.

use pinocchio::{cpi::Seed, AccountView, Address, ProgramResult};

use super::{claim_weights, create_pda, Claim, NewPda, ZERO};
use crate::args::ArgReader;
use crate::checks;
use crate::error::MlAgentError;
use crate::events::{emit, BorshWriter};
use crate::interface::{
    field, AccountSpec, InstructionSpec, SeedSpec, Ty, TypeSpec, SYSTEM_PROGRAM,
};
use crate::state::model::{
    ArchSummary, ModelHeader, ModelStatus, ModelTombstone, VersionParams, MODEL_SEED,
};

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "create_model",
    "Create a model header (PDA of authority and model_id) and claim `weights` as its version 1.",
    &[
        AccountSpec::new("authority")
            .mutable()
            .signer()
            .docs("Pays for the header and becomes the model's authority."),
        AccountSpec::new("model").mutable().pda(&[
            SeedSpec::Const(MODEL_SEED),
            SeedSpec::Account("authority"),
            SeedSpec::Arg("model_id"),
        ]),
        AccountSpec::new("weights").mutable().signer().docs(
            "Fresh account created by the client with the system program, owned by this program, \
             sized for the declared layout.",
        ),
        AccountSpec::new("system_program").address(SYSTEM_PROGRAM),
    ],
    &[
        field("model_id", Ty::U64),
        field("params", Ty::Defined("VersionParams")),
    ],
    None,
);

pub const MODEL_CREATED: TypeSpec = TypeSpec::event(
    "ModelCreated",
    "A model header was created.",
    &[
        field("model", Ty::Pubkey),
        field("authority", Ty::Pubkey),
        field("model_id", Ty::U64),
        field("slot", Ty::U64),
    ],
);

pub const VERSION_CREATED: TypeSpec = TypeSpec::event(
    "VersionCreated",
    "A weights account was claimed as a new version of a model, ready for upload.",
    &[
        field("model", Ty::Pubkey),
        field("weights", Ty::Pubkey),
        field("version", Ty::U32),
        field("model_size", Ty::U64),
        field("chunk_size", Ty::U32),
        field("chunk_count", Ty::U32),
        field("model_sha256", Ty::Array(&Ty::U8, 32)),
        field("chunk_root", Ty::Array(&Ty::U8, 32)),
        field("slot", Ty::U64),
    ],
);

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [authority, model, weights, system_program, ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    let mut args = ArgReader::new(data);
    let model_id = args.u64()?;
    let params = VersionParams::read(&mut args)?;
    args.finish()?;

    checks::signer(authority)?;
    checks::writable(authority)?;
    checks::writable(model)?;
    checks::address(system_program, &pinocchio_system::ID)?;
    if !model.owned_by(&pinocchio_system::ID) || !model.is_data_empty() {
        if model.owned_by(program_id) && ModelTombstone::is(model) {
            return Err(MlAgentError::ModelClosed.into());
        }
        return Err(MlAgentError::ModelAlreadyExists.into());
    }
    let id_bytes = model_id.to_le_bytes();
    let (expected, bump) = Address::find_program_address(
        &[MODEL_SEED, authority.address().as_ref(), &id_bytes],
        program_id,
    );
    checks::address(model, &expected).map_err(|_| MlAgentError::ConstraintSeeds)?;
    let slot = super::slot()?;

    // Claim first: it validates the declared sizes before any lamports move.
    claim_weights(
        program_id,
        weights,
        &Claim {
            model: model.address(),
            authority: authority.address(),
            params: &params,
            version: 1,
            slot,
        },
    )?;

    let bump_seed = [bump];
    let seeds = [
        Seed::from(MODEL_SEED),
        Seed::from(authority.address().as_ref()),
        Seed::from(id_bytes.as_ref()),
        Seed::from(&bump_seed),
    ];
    create_pda(
        program_id,
        authority,
        model,
        &NewPda {
            seeds: &seeds,
            space: ModelHeader::LEN,
        },
    )?;

    // SAFETY: just created with ModelHeader::LEN zeroed bytes; no other borrow is live.
    let h = unsafe { &mut *(model.data_ptr() as *mut ModelHeader) };
    *h = ModelHeader {
        discriminator: ModelHeader::SPEC.discriminator,
        authority: authority.address().to_bytes(),
        pending_authority: ZERO,
        creator: authority.address().to_bytes(),
        active_weights: ZERO,
        staged_weights: weights.address().to_bytes(),
        model_sha256: ZERO,
        chunk_root: ZERO,
        model_id,
        model_size: 0,
        created_slot: slot,
        updated_slot: slot,
        activated_slot: 0,
        chunk_size: 0,
        chunk_count: 0,
        version_count: 1,
        active_version: 0,
        staged_version: 1,
        live_versions: 1,
        arch: ArchSummary::default(),
        format_version: 0,
        status: ModelStatus::Uploading as u8,
        bump,
        file_hash_verified: 0,
        padding: [0; 3],
    };

    let mut buf = [0u8; 96];
    let mut w = BorshWriter::event(&MODEL_CREATED, &mut buf);
    w.bytes(model.address().as_ref())
        .bytes(authority.address().as_ref())
        .u64(model_id)
        .u64(slot);
    emit(w.finish());
    emit_version_created(model.address(), weights, 1)
}

/// Shared with `create_version`: announce the claimed weights account.
pub(crate) fn emit_version_created(
    model: &Address,
    weights: &AccountView,
    version: u32,
) -> ProgramResult {
    // SAFETY: claimed just before by claim_weights; read-only.
    let w = unsafe { &*(weights.data_ptr() as *const crate::state::model::ModelWeights) };
    let mut buf = [0u8; 176];
    let mut e = BorshWriter::event(&VERSION_CREATED, &mut buf);
    e.bytes(model.as_ref())
        .bytes(weights.address().as_ref())
        .u32(version)
        .u64(w.model_size)
        .u32(w.chunk_size)
        .u32(w.chunk_count)
        .bytes(&w.model_sha256)
        .bytes(&w.chunk_root)
        .u64(w.created_slot);
    emit(e.finish());
    Ok(())
}
