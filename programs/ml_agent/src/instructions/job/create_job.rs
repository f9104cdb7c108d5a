//! `create_job(id, features, flags)`: create the owner's job `["job", owner, id]` for the
//! model's active version and the given input.
//!
//! The job pins the model, the weights account, the version number and the version's content
//! hashes, and snapshots the input (from the argument, or with `FLAG_FEATURES_ACCOUNT` from a
//! features account: later writes to that account change nothing). The input is range-checked
//! and quantized here, once, into the job's first buffer; an input the model refuses fails
//! here, before any step is paid for.

use pinocchio::{cpi::Seed, AccountView, Address, ProgramResult};

use crate::args::ArgReader;
use crate::checks;
use crate::error::MlAgentError;
use crate::instructions::infer::{
    exec_error, features_of, Input, FLAG_FEATURES_ACCOUNT, MAX_OUTPUTS,
};
use crate::interface::{field, AccountSpec, InstructionSpec, SeedSpec, Ty, SYSTEM_PROGRAM};
use crate::kernels::job::{sizes, start, Cursor};
use crate::kernels::model::{ModelView, ARGMAX};
use crate::state::job::{InferenceJob, JOB_SEED, MAX_JOB_SPACE};
use crate::state::model::load_active;

pub const SPEC: InstructionSpec = InstructionSpec::new(
    "create_job",
    "Create an inference job for the model's active version: pins the model, weights, version \
     number and content hashes, snapshots the input (the `features` argument, or with flags \
     bit 1 the features account's values, the argument then empty), range-checks and \
     quantizes it. The owner signs and pays the rent; close_job returns it.",
    &[
        AccountSpec::new("owner").mutable().signer(),
        AccountSpec::new("job").mutable().pda(&[
            SeedSpec::Const(JOB_SEED),
            SeedSpec::Account("owner"),
            SeedSpec::Arg("id"),
        ]),
        AccountSpec::new("model").pda(crate::state::model::MODEL_PDA),
        AccountSpec::new("weights").docs("The model's active ModelWeights account."),
        AccountSpec::new("system_program").address(SYSTEM_PROGRAM),
        AccountSpec::new("features")
            .optional()
            .docs("With flags bit 1: the FeaturesAccount to snapshot."),
    ],
    &[
        field("id", Ty::U64),
        field("features", Ty::Vec(&Ty::I32)),
        field("flags", Ty::U8),
    ],
    None,
);

pub fn process(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {
    let [owner, job, model, weights, system_program, extra @ ..] = accounts else {
        return Err(MlAgentError::AccountNotEnoughKeys.into());
    };
    let mut args = ArgReader::new(data);
    let id = args.u64()?;
    let (count, bytes) = args.vec_raw(4)?;
    let flags = args.u8()?;
    args.finish()?;

    checks::signer(owner)?;
    checks::writable(owner)?;
    checks::writable(job)?;
    checks::address(system_program, &pinocchio_system::ID)?;
    if flags & !FLAG_FEATURES_ACCOUNT != 0 {
        return Err(MlAgentError::InvalidArgument.into());
    }
    let mut input = Input { count, bytes };
    let mut source = [0u8; 32];
    if flags & FLAG_FEATURES_ACCOUNT != 0 {
        let acc = match extra.first() {
            Some(a) if count == 0 && !crate::instructions::registry::is_none(a, program_id) => a,
            _ => return Err(MlAgentError::FeaturesSource.into()),
        };
        features_of(program_id, acc, &mut input)?;
        source = acc.address().to_bytes();
    }

    let active = load_active(program_id, model, weights)?;
    let view = ModelView::parse(active.bytes).map_err(exec_error)?;
    if input.count != view.n_features {
        return Err(MlAgentError::FeatureCountMismatch.into());
    }
    let s = sizes(&view).map_err(exec_error)?;
    let last = view.op(view.n_ops - 1);
    let n_outputs = if last.kind == ARGMAX {
        last.n_in
    } else {
        last.n_out
    };
    if n_outputs as usize > MAX_OUTPUTS {
        return Err(MlAgentError::UnsupportedModel.into());
    }
    let [_, a_off, b_off, st_off, space] = InferenceJob::layout(view.n_features, &s);
    // A step lends the op's working words from the heap (`infer_step::TMP_WORDS`).
    if space > MAX_JOB_SPACE || s.tmp_words > crate::instructions::job::infer_step::TMP_WORDS {
        return Err(MlAgentError::JobTooLarge.into());
    }

    if !job.is_data_empty() || !job.owned_by(&pinocchio_system::ID) {
        return Err(MlAgentError::AccountDiscriminatorAlreadySet.into());
    }
    let idb = id.to_le_bytes();
    let ob = owner.address().as_ref();
    let (expected, bump) = Address::find_program_address(&[JOB_SEED, ob, &idb], program_id);
    checks::address(job, &expected).map_err(|_| MlAgentError::ConstraintSeeds)?;
    let b = [bump];
    crate::pda::create_pda(
        program_id,
        owner,
        job,
        &crate::pda::NewPda {
            seeds: &[
                Seed::from(JOB_SEED),
                Seed::from(ob),
                Seed::from(&idb),
                Seed::from(&b),
            ],
            space,
        },
    )?;

    let slot = crate::instructions::registry::slot()?;
    let base = job.data_ptr();
    // SAFETY: the account was just created with `space` bytes, 8-aligned; the header, the
    // snapshot and the buffers are disjoint ranges of it; no other reference is live.
    let (j, snap, bufs) = unsafe {
        let j = &mut *(base as *mut InferenceJob);
        let snap = core::slice::from_raw_parts_mut(
            base.add(InferenceJob::LEN) as *mut i32,
            view.n_features,
        );
        let bufs = crate::kernels::job::JobBufs {
            a: core::slice::from_raw_parts_mut(base.add(a_off) as *mut i64, s.a_words),
            b: core::slice::from_raw_parts_mut(base.add(b_off) as *mut i64, s.b_words),
            state: core::slice::from_raw_parts_mut(base.add(st_off) as *mut i64, s.state_words),
            tmp: &mut [],
        };
        (j, snap, bufs)
    };
    for (d, v) in snap.iter_mut().zip(input.bytes.chunks_exact(4)) {
        *d = i32::from_le_bytes([v[0], v[1], v[2], v[3]]);
    }
    let mut bufs = bufs;
    let mut cursor = Cursor::default();
    start(&view, snap, &mut cursor, &mut bufs).map_err(exec_error)?;
    *j = InferenceJob {
        discriminator: InferenceJob::SPEC.discriminator,
        owner: owner.address().to_bytes(),
        model: model.address().to_bytes(),
        weights: weights.address().to_bytes(),
        chunk_root: active.weights.chunk_root,
        model_sha256: active.weights.model_sha256,
        id,
        created_slot: slot,
        finished_slot: 0,
        units_done: 0,
        cursor,
        version: active.weights.version,
        steps: 0,
        n_features: view.n_features as u32,
        a_words: s.a_words as u32,
        b_words: s.b_words as u32,
        state_words: s.state_words as u32,
        bump,
        from_account: (flags & FLAG_FEATURES_ACCOUNT != 0) as u8,
        padding: [0; 6],
        source,
    };
    Ok(())
}
