//! `InferenceJob`: one inference run across as many transactions as it needs.
//!
//! PDA `["job", owner, id as u64 LE]`, created by `create_job` (the owner signs and pays),
//! advanced by anyone with `infer_step`, closed by its owner with `close_job` (rent back; at any
//! point). It pins the model, the weights account, the version number and the version's
//! content hashes (`chunk_root`, verified by the registry for every version, and `model_sha256`),
//! so no step can ever run other weights. Data: this fixed part, then
//!
//! * the input snapshot: `n_features` i32 Q16.16 values, padded to 8 bytes;
//! * buffer A (`a_words` i64) and buffer B (`b_words` i64): op `i` reads A and writes B when
//!   `i` is even, the reverse when odd; each is sized for the widths that live in it;
//! * the op state: `state_words` i64 (recurrent ops' h, c...).
//!
//! Once `cursor.done`, the result is `cursor.class`, `cursor.confidence` and the
//! `cursor.n_outputs` words at the start of buffer `cursor.out_buf`.

use pinocchio::{AccountView, Address};

use crate::checks;
use crate::error::MlAgentError;
use crate::interface::{field, SeedSpec, Ty, TypeSpec};
use crate::kernels::job::{Cursor, JobBufs, Sizes};

pub const JOB_SEED: &[u8] = b"job";

/// An existing job's seeds (IDL only).
pub const JOB_PDA: &[SeedSpec] = &[
    SeedSpec::Const(JOB_SEED),
    SeedSpec::Field("job.owner", "InferenceJob"),
    SeedSpec::Field("job.id", "InferenceJob"),
];

/// Largest job account: created by CPI, which may allocate at most 10 KiB.
pub const MAX_JOB_SPACE: usize = 10 * 1024;

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct InferenceJob {
    pub discriminator: [u8; 8],
    pub owner: [u8; 32],
    pub model: [u8; 32],
    pub weights: [u8; 32],
    /// The pinned version's declared-and-verified hashes.
    pub chunk_root: [u8; 32],
    pub model_sha256: [u8; 32],
    pub id: u64,
    pub created_slot: u64,
    pub finished_slot: u64,
    /// Units run so far, over all steps.
    pub units_done: u64,
    pub cursor: Cursor,
    pub version: u32,
    /// `infer_step` calls that ran at least one unit.
    pub steps: u32,
    pub n_features: u32,
    pub a_words: u32,
    pub b_words: u32,
    pub state_words: u32,
    pub bump: u8,
    /// 1: the input came from a features account (`source` names it); 0: from the argument.
    pub from_account: u8,
    pub padding: [u8; 6],
    /// The features account the input was copied from (all zero: the argument).
    pub source: [u8; 32],
}

impl InferenceJob {
    pub const LEN: usize = core::mem::size_of::<InferenceJob>();

    pub const SPEC: TypeSpec = TypeSpec::account(
        "InferenceJob",
        "A resumable inference (PDA [\"job\", owner, id LE]) pinned to a model version by \
         address, number and content hashes: this fixed part, then the input snapshot \
         (n_features i32, padded to 8 bytes), buffer A (a_words i64), buffer B (b_words i64) \
         and the op state (state_words i64). When cursor.done, the outputs are the first \
         cursor.n_outputs words of buffer cursor.out_buf (0 A, 1 B).",
        &[
            field("owner", Ty::Pubkey),
            field("model", Ty::Pubkey),
            field("weights", Ty::Pubkey),
            field("chunk_root", Ty::Array(&Ty::U8, 32)),
            field("model_sha256", Ty::Array(&Ty::U8, 32)),
            field("id", Ty::U64),
            field("created_slot", Ty::U64),
            field("finished_slot", Ty::U64),
            field("units_done", Ty::U64),
            field("cursor", Ty::Defined("JobCursor")),
            field("version", Ty::U32),
            field("steps", Ty::U32),
            field("n_features", Ty::U32),
            field("a_words", Ty::U32),
            field("b_words", Ty::U32),
            field("state_words", Ty::U32),
            field("bump", Ty::U8),
            field("from_account", Ty::U8),
            field("padding", Ty::Array(&Ty::U8, 6)),
            field("source", Ty::Pubkey),
        ],
    );

    /// The cursor's IDL type.
    pub const CURSOR_SPEC: TypeSpec = TypeSpec::plain(
        "JobCursor",
        "Where a job stands: the next op and unit, the current input's width and value bounds, \
         and (once done) the result.",
        &[
            field("range_lo", Ty::I64),
            field("range_hi", Ty::I64),
            field("confidence", Ty::I64),
            field("op", Ty::U32),
            field("unit", Ty::U32),
            field("width", Ty::U32),
            field("n_outputs", Ty::U32),
            field("class", Ty::U32),
            field("cur", Ty::U8),
            field("done", Ty::U8),
            field("out_buf", Ty::U8),
            field("padding", Ty::U8),
        ],
    );

    /// Byte offsets of the snapshot, buffer A, buffer B and the state, and the account size.
    pub const fn layout(n_features: usize, sizes: &Sizes) -> [usize; 5] {
        let snap = Self::LEN;
        let a = snap + (4 * n_features).next_multiple_of(8);
        let b = a + 8 * sizes.a_words;
        let st = b + 8 * sizes.b_words;
        [snap, a, b, st, st + 8 * sizes.state_words]
    }

    /// The buffer sizes this job was created with.
    pub fn sizes(&self) -> Sizes {
        Sizes {
            a_words: self.a_words as usize,
            b_words: self.b_words as usize,
            state_words: self.state_words as usize,
            // Not persisted: create_job checked it fits what infer_step lends.
            tmp_words: 0,
        }
    }

    /// Validate `acc` as a job of this program and view it.
    ///
    /// # Safety
    /// No other reference to `acc`'s data may be live while the result is used.
    #[inline(always)]
    pub unsafe fn load<'a>(
        acc: &AccountView,
        program_id: &Address,
    ) -> Result<JobView<'a>, MlAgentError> {
        checks::program_account(acc, program_id, &Self::SPEC, Self::LEN)?;
        let base = acc.data_ptr() as *mut u8;
        let fixed = &mut *(base as *mut InferenceJob);
        let sz = fixed.sizes();
        let [snap, a, b, st, end] = Self::layout(fixed.n_features as usize, &sz);
        if end > acc.data_len() {
            return Err(MlAgentError::AccountDidNotDeserialize);
        }
        // SAFETY (all four): disjoint ranges inside the account data, 8-aligned (account data
        // is, LEN and every offset are multiples of 8).
        Ok(JobView {
            snapshot: core::slice::from_raw_parts(
                base.add(snap) as *const i32,
                fixed.n_features as usize,
            ),
            bufs: JobBufs {
                a: core::slice::from_raw_parts_mut(base.add(a) as *mut i64, sz.a_words),
                b: core::slice::from_raw_parts_mut(base.add(b) as *mut i64, sz.b_words),
                state: core::slice::from_raw_parts_mut(
                    base.add(st) as *mut i64,
                    fixed.state_words as usize,
                ),
                // The caller lends working words (infer_step: from the heap).
                tmp: &mut [],
            },
            fixed,
        })
    }
}

pub struct JobView<'a> {
    pub fixed: &'a mut InferenceJob,
    pub snapshot: &'a [i32],
    pub bufs: JobBufs<'a>,
}

const _: () = assert!(InferenceJob::LEN.is_multiple_of(8));
