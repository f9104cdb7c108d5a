//! Model registry accounts: the `ModelHeader` PDA and the client-created `ModelWeights` accounts.
//!
//! * `ModelHeader` (PDA `["model", creator, model_id as u64 LE]`, fixed 320 bytes): who owns the
//!   model, its status, which weights account is active and which one is staged (being uploaded
//!   or finalized but not yet active), and a copy of the active version's sizes and hashes.
//! * `ModelWeights` (one per version, up to 10 MiB, created by the client with the system program
//!   and claimed by `create_model` / `create_version`): a fixed header, then the declared SHA-256
//!   of every chunk (32 bytes each), then the written-chunk bitmap, then the model bytes at an
//!   8-byte-aligned offset (`data_offset`). The hash table and bitmap live here rather than in the
//!   header because a PDA created by CPI can only be 10 KiB, and they scale with the model.
//! * `ModelPage` (PDA `["page", weights, authority, page_index as u32 LE]`, <= 10 KiB, created by
//!   `open_page`, closed by `commit_pages`): staging for `PAGE_CHUNKS` consecutive chunks and
//!   their declared hashes. Chunks are written and hash-checked into pages, never directly into
//!   the weights account: every transaction that touches a large account pays for it in
//!   proportion to its size (loaded-data cost on mainnet, ~0.2 s per MiB on Surfpool), so the
//!   ~1,000 writes of a 1 MiB model touch 10 KiB pages and only a few commits touch the weights.
//!
//! Both structs are `repr(C)` with explicit padding so the bytes after the 8-byte discriminator are
//! exactly the borsh encoding the IDL declares; `account_layouts_match_their_specs` checks it.
//!
//! `load_active` is the API for readers (the `infer` instruction): it validates a header and its
//! active weights account and returns the model file bytes without copying them.

use pinocchio::{AccountView, Address};

use crate::checks;
use crate::error::MlAgentError;
use crate::interface::{field, SeedSpec, Ty, TypeSpec};

/// Seed prefix of the header PDA.
pub const MODEL_SEED: &[u8] = b"model";
/// Largest account the runtime allows (`MAX_PERMITTED_DATA_LENGTH`).
pub const MAX_ACCOUNT_SIZE: usize = 10 * 1024 * 1024;
/// Largest chunk a `write_chunk` transaction can carry: 1,232 bytes minus one signature, three
/// account keys, the blockhash, the instruction framing, the discriminator, the u32 index and the
/// u32 length prefix (see `tests::write_chunk_fills_a_packet`).
pub const MAX_CHUNK_SIZE: u32 = 1012;
/// Smallest chunk: bounds the hash table (32 bytes per chunk) to 1/8 of the model, which keeps
/// the root check in `finalize_version` well inside one transaction's compute budget.
pub const MIN_CHUNK_SIZE: u32 = 256;
/// Models up to this size get their whole-file SHA-256 recomputed on chain by
/// `finalize_version` (0.5 CU/byte: ~1.1M CU at the limit, under the 1.4M per transaction).
pub const FILE_HASH_MAX_BYTES: u64 = 2 * 1024 * 1024;
/// Seed prefix of page PDAs.
pub const PAGE_SEED: &[u8] = b"page";

/// A model header's seeds in instructions that take it as an existing account (IDL only:
/// self-referencing, so clients pass it; the seeds say how it was derived).
pub const MODEL_PDA: &[SeedSpec] = &[
    SeedSpec::Const(MODEL_SEED),
    SeedSpec::Field("model.creator", "ModelHeader"),
    SeedSpec::Field("model.model_id", "ModelHeader"),
];

/// An open upload page's seeds where it already exists (write_chunk, close_page; IDL only).
pub const PAGE_PDA: &[SeedSpec] = &[
    SeedSpec::Const(PAGE_SEED),
    SeedSpec::Field("page.weights", "ModelPage"),
    SeedSpec::Account("authority"),
    SeedSpec::Field("page.page_index", "ModelPage"),
];
/// Chunks per page: the most whose data and hashes fit the 10 KiB an account created by CPI
/// may have (104 + 9 x (32 + 1,012) = 9,500 bytes).
pub const PAGE_CHUNKS: u32 = 9;
/// Largest account a CPI may create (`MAX_PERMITTED_DATA_INCREASE`).
pub const MAX_PAGE_SPACE: usize = 10 * 1024;
/// Pages one `commit_pages` can take: the entrypoint parses 24 accounts (lib.rs) and silently
/// drops the rest, and the instruction needs two of them for the authority and the weights.
/// (`tests/registry` commits this many in one instruction, so a smaller entrypoint fails it.)
pub const MAX_PAGES_PER_COMMIT: usize = 22;

/// `ModelHeader::status`.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelStatus {
    /// Created; no version has been activated yet.
    Uploading = 0,
    /// An active version serves reads.
    Ready = 1,
    /// Immutable forever: no new versions, activation, authority change or close.
    Frozen = 2,
    /// Closed (only observable within the closing transaction; the account is then deleted).
    Closed = 3,
}

/// `ModelWeights::status`.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionStatus {
    /// Hashes and chunks are being written.
    Uploading = 0,
    /// Every chunk is present and verified; waiting for `activate_version`.
    Finalized = 1,
    /// The model's active version.
    Active = 2,
    /// Was active, superseded by a newer version; closable.
    Retired = 3,
    Closed = 4,
}

/// A short, model-format-agnostic description of the network, shown by `inspect`. The program
/// never interprets it (the model file is authoritative); the client fills it from the file.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArchSummary {
    /// Model family from the model file header (1 neural network, 2 tree ensemble; 0 unknown).
    pub kind: u8,
    /// Widest weight precision in bits (8, 16...).
    pub weight_bits: u8,
    /// Layers (ops) in the model.
    pub layers: u16,
    pub inputs: u32,
    pub outputs: u32,
    /// Bytes of parameter payload (weights, biases, thresholds...).
    pub params: u32,
}

impl ArchSummary {
    pub const LEN: usize = core::mem::size_of::<ArchSummary>();
    pub const SPEC: TypeSpec = TypeSpec::plain(
        "ArchSummary",
        "Format-agnostic architecture summary recorded with each version (informational).",
        &[
            field("kind", Ty::U8),
            field("weight_bits", Ty::U8),
            field("layers", Ty::U16),
            field("inputs", Ty::U32),
            field("outputs", Ty::U32),
            field("params", Ty::U32),
        ],
    );
}

/// What a new version declares up front (argument of `create_model` / `create_version`).
#[derive(Clone, Copy, Debug)]
pub struct VersionParams {
    pub format_version: u16,
    pub arch: ArchSummary,
    pub model_size: u64,
    pub chunk_size: u32,
    /// Plain SHA-256 of the model file (what `sha256sum model.bin` prints).
    pub model_sha256: [u8; 32],
    /// SHA-256 of the concatenated per-chunk SHA-256 digests, in chunk order.
    pub chunk_root: [u8; 32],
}

impl VersionParams {
    pub const SPEC: TypeSpec = TypeSpec::plain(
        "VersionParams",
        "Sizes and hashes a new version declares before any byte is uploaded.",
        &[
            field("format_version", Ty::U16),
            field("arch", Ty::Defined("ArchSummary")),
            field("model_size", Ty::U64),
            field("chunk_size", Ty::U32),
            field("model_sha256", Ty::Array(&Ty::U8, 32)),
            field("chunk_root", Ty::Array(&Ty::U8, 32)),
        ],
    );

    /// Borsh-decode (field order of `SPEC`).
    pub fn read(args: &mut crate::args::ArgReader) -> Result<Self, MlAgentError> {
        Ok(VersionParams {
            format_version: args.u16()?,
            arch: ArchSummary {
                kind: args.u8()?,
                weight_bits: args.u8()?,
                layers: args.u16()?,
                inputs: args.u32()?,
                outputs: args.u32()?,
                params: args.u32()?,
            },
            model_size: args.u64()?,
            chunk_size: args.u32()?,
            model_sha256: *args.array::<32>()?,
            chunk_root: *args.array::<32>()?,
        })
    }
}

/// Where everything sits in a weights account of a given model size and chunk size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightsLayout {
    pub model_size: u64,
    pub chunk_size: u32,
    pub chunk_count: u32,
    pub table_offset: usize,
    pub bitmap_offset: usize,
    /// 8-byte aligned, so readers can cast model sections to u64/i64 arrays.
    pub data_offset: usize,
    /// Exact account size the client must allocate.
    pub space: usize,
    /// Staging pages of `PAGE_CHUNKS` chunks the upload goes through.
    pub page_count: u32,
}

impl WeightsLayout {
    pub fn new(model_size: u64, chunk_size: u32) -> Result<WeightsLayout, MlAgentError> {
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(MlAgentError::BadChunkSize);
        }
        if model_size == 0 || model_size > MAX_ACCOUNT_SIZE as u64 {
            return Err(MlAgentError::BadModelSize);
        }
        // Both fit in u32 by the checks above, so no u64 multiply is needed below.
        let cs = chunk_size as u64;
        let chunk_count = model_size.div_ceil(cs) as usize;
        let table_offset = ModelWeights::LEN;
        let bitmap_offset = table_offset + 32 * chunk_count;
        let data_offset = (bitmap_offset + chunk_count.div_ceil(8) + 7) & !7;
        let space = data_offset + model_size as usize;
        if space > MAX_ACCOUNT_SIZE {
            return Err(MlAgentError::BadModelSize);
        }
        Ok(WeightsLayout {
            model_size,
            chunk_size,
            chunk_count: chunk_count as u32,
            table_offset,
            bitmap_offset,
            data_offset,
            space,
            page_count: (chunk_count as u32).div_ceil(PAGE_CHUNKS),
        })
    }

    /// Byte offset of chunk `index` in the model.
    #[inline(always)]
    pub fn chunk_offset(&self, index: u32) -> usize {
        index as usize * self.chunk_size as usize
    }

    /// Bytes of chunk `index` (< chunk_count); only the last chunk may be short.
    #[inline(always)]
    pub fn chunk_len(&self, index: u32) -> usize {
        let rest = self.model_size as usize - self.chunk_offset(index);
        rest.min(self.chunk_size as usize)
    }

    /// The page holding chunks `page_index * PAGE_CHUNKS ..`, or None past the last one.
    pub fn page(&self, page_index: u32) -> Option<PageLayout> {
        if page_index >= self.page_count {
            return None;
        }
        let first_chunk = page_index * PAGE_CHUNKS;
        let chunk_count = (self.chunk_count - first_chunk).min(PAGE_CHUNKS);
        let start = self.chunk_offset(first_chunk);
        let end =
            (start + chunk_count as usize * self.chunk_size as usize).min(self.model_size as usize);
        Some(PageLayout {
            first_chunk,
            chunk_count,
            data_offset: ModelPage::LEN + 32 * chunk_count as usize,
            data_len: end - start,
            space: ModelPage::LEN + 32 * chunk_count as usize + (end - start),
        })
    }
}

/// Where a page sits in the model and how its account is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageLayout {
    pub first_chunk: u32,
    pub chunk_count: u32,
    /// Offset of the page's model bytes in its account (after the fixed part and the hashes).
    pub data_offset: usize,
    /// Bytes of model data the page holds.
    pub data_len: usize,
    pub space: usize,
}

/// The model header PDA.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ModelHeader {
    pub discriminator: [u8; 8],
    pub authority: [u8; 32],
    /// Proposed new authority (all zero: none); it takes over when it signs `accept_authority`.
    pub pending_authority: [u8; 32],
    /// The authority that created the model; with `model_id` it derives this PDA.
    pub creator: [u8; 32],
    /// Weights account of the active version (all zero: none yet).
    pub active_weights: [u8; 32],
    /// Weights account of the version being uploaded or finalized (all zero: none).
    pub staged_weights: [u8; 32],
    /// The active version's declared-and-verified hashes (see `ModelWeights`).
    pub model_sha256: [u8; 32],
    pub chunk_root: [u8; 32],
    pub model_id: u64,
    pub model_size: u64,
    pub created_slot: u64,
    /// Slot of the last change of any kind.
    pub updated_slot: u64,
    pub activated_slot: u64,
    pub chunk_size: u32,
    pub chunk_count: u32,
    /// Versions ever created; the newest version's number.
    pub version_count: u32,
    pub active_version: u32,
    pub staged_version: u32,
    /// Weights accounts of this model not yet closed (`close_model` requires the rest to go).
    pub live_versions: u32,
    pub arch: ArchSummary,
    pub format_version: u16,
    pub status: u8,
    pub bump: u8,
    /// 1 if the active version's whole-file SHA-256 was recomputed on chain.
    pub file_hash_verified: u8,
    pub padding: [u8; 3],
}

impl ModelHeader {
    pub const LEN: usize = core::mem::size_of::<ModelHeader>();

    pub const SPEC: TypeSpec = TypeSpec::account(
        "ModelHeader",
        "A registered model: authority, status, active and staged versions (PDA [\"model\", \
         creator, model_id LE]).",
        &[
            field("authority", Ty::Pubkey),
            field("pending_authority", Ty::Pubkey),
            field("creator", Ty::Pubkey),
            field("active_weights", Ty::Pubkey),
            field("staged_weights", Ty::Pubkey),
            field("model_sha256", Ty::Array(&Ty::U8, 32)),
            field("chunk_root", Ty::Array(&Ty::U8, 32)),
            field("model_id", Ty::U64),
            field("model_size", Ty::U64),
            field("created_slot", Ty::U64),
            field("updated_slot", Ty::U64),
            field("activated_slot", Ty::U64),
            field("chunk_size", Ty::U32),
            field("chunk_count", Ty::U32),
            field("version_count", Ty::U32),
            field("active_version", Ty::U32),
            field("staged_version", Ty::U32),
            field("live_versions", Ty::U32),
            field("arch", Ty::Defined("ArchSummary")),
            field("format_version", Ty::U16),
            field("status", Ty::U8),
            field("bump", Ty::U8),
            field("file_hash_verified", Ty::U8),
            field("padding", Ty::Array(&Ty::U8, 3)),
        ],
    );

    /// Validate `acc` as a ModelHeader (owner, discriminator, length) and view it.
    ///
    /// # Safety
    /// No other reference to `acc`'s data may be live while the result is used.
    #[inline(always)]
    pub unsafe fn load<'a>(
        acc: &AccountView,
        program_id: &Address,
    ) -> Result<&'a mut ModelHeader, MlAgentError> {
        checks::program_account(acc, program_id, &Self::SPEC, Self::LEN).map_err(|e| {
            if e == MlAgentError::AccountDiscriminatorMismatch && ModelTombstone::is(acc) {
                MlAgentError::ModelClosed
            } else {
                e
            }
        })?;
        Ok(&mut *(acc.data_ptr() as *mut ModelHeader))
    }

    pub fn status(&self) -> u8 {
        self.status
    }
}

/// What `close_model` leaves at a model's header address: the header shrunk to this record.
/// It keeps `(creator, model_id)` taken for good, so nobody (the author included) can create a
/// new model at the address agents and users recorded: a closed model never silently becomes
/// another one. It holds the rent of its 96 bytes (~0.0016 SOL); the rest is returned.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ModelTombstone {
    pub discriminator: [u8; 8],
    pub creator: [u8; 32],
    /// The authority that closed it.
    pub authority: [u8; 32],
    pub model_id: u64,
    pub closed_slot: u64,
    /// Versions the model ever had.
    pub version_count: u32,
    pub padding: [u8; 4],
}

impl ModelTombstone {
    pub const LEN: usize = core::mem::size_of::<ModelTombstone>();
    pub const SPEC: TypeSpec = TypeSpec::account(
        "ModelTombstone",
        "A closed model (at its header PDA [\"model\", creator, model_id LE]): the id can never \
         be used again.",
        &[
            field("creator", Ty::Pubkey),
            field("authority", Ty::Pubkey),
            field("model_id", Ty::U64),
            field("closed_slot", Ty::U64),
            field("version_count", Ty::U32),
            field("padding", Ty::Array(&Ty::U8, 4)),
        ],
    );

    /// `acc` holds a tombstone (only asked after another type's check failed).
    pub fn is(acc: &AccountView) -> bool {
        acc.data_len() >= 8
            // SAFETY: at least 8 readable bytes of account data.
            && unsafe { *(acc.data_ptr() as *const [u8; 8]) } == Self::SPEC.discriminator
    }
}

/// Fixed part of a weights account; the hash table, bitmap and model bytes follow it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ModelWeights {
    pub discriminator: [u8; 8],
    /// The ModelHeader this version belongs to.
    pub model: [u8; 32],
    /// Who may declare hashes and write chunks while `Uploading` (the model's authority; kept
    /// here so a write transaction needs no header account and carries more payload).
    pub authority: [u8; 32],
    pub model_sha256: [u8; 32],
    pub chunk_root: [u8; 32],
    pub model_size: u64,
    pub created_slot: u64,
    pub finalized_slot: u64,
    pub activated_slot: u64,
    pub retired_slot: u64,
    pub version: u32,
    pub chunk_size: u32,
    pub chunk_count: u32,
    /// Distinct chunks written (bits set in the bitmap).
    pub chunks_written: u32,
    /// Distinct chunk hashes declared (non-zero table entries).
    pub hashes_declared: u32,
    /// Offset of the model bytes in the account (8-byte aligned).
    pub data_offset: u32,
    pub arch: ArchSummary,
    pub format_version: u16,
    pub status: u8,
    pub file_hash_verified: u8,
    /// Byte 0: `HEADER_CHECKED` once `finalize_version` has run the kernels' header and
    /// array-placement check (`ModelView::parse`) on the sealed bytes, so `infer` need not
    /// repeat it, plus `OPS_CHECKED` when a checked forward pass also succeeded; 0 otherwise
    /// (a file the kernels refuse, or a version sealed before the flag existed). Byte 1: the
    /// `CHECKS_EPOCH` of the program that set the marks; readers (`trusted_marks`) trust them
    /// only from their own epoch. Bytes 2-3: the version's compute bound
    /// (`kernels::cost::cost_bound`) in units of `COST_UNIT` CU, rounded up and saturated at
    /// `u16::MAX`, 0 when not computed (see `stored_cost_bound`). Written only by the program.
    pub padding: [u8; 4],
}

/// `ModelWeights::padding[0]` of a finalized version whose file passed `ModelView::parse`.
pub const HEADER_CHECKED: u8 = 1;
/// Bit of `ModelWeights::padding[0]`: `finalize_version` also ran the checked forward pass on
/// the sealed bytes (`instructions::infer::ops_checkable`), so `infer` skips the op checks that
/// do not depend on the input. Set only together with `HEADER_CHECKED`.
pub const OPS_CHECKED: u8 = 2;
/// `ModelWeights::padding[1]` next to the marks: which rules they were established under. An
/// upgrade that changes what the marked path skips (a new check, a kernel rule, the scratch
/// size or `infer::MAX_OUTPUTS`) must bump it, so versions marked by older code run the checked
/// path instead of being trusted under rules they were never tested against.
pub const CHECKS_EPOCH: u8 = 1;
// tests/registry/test_header_checked.py reads the flag at this offset.
const _: () = assert!(core::mem::offset_of!(ModelWeights, padding) == 220);

/// The marks `finalize_version` left on a version, as its readers may trust them:
/// `(HEADER_CHECKED, OPS_CHECKED)`, both false unless set under this program's `CHECKS_EPOCH`.
#[inline(always)]
pub fn trusted_marks(w: &ModelWeights) -> (bool, bool) {
    // The marks (padding[0]) and their epoch (padding[1]) in one load.
    // SAFETY: two readable bytes at an even offset of an 8-aligned struct (asserted below).
    let marks = u16::from_le(unsafe { *(w.padding.as_ptr() as *const u16) });
    const EPOCH: u16 = (CHECKS_EPOCH as u16) << 8;
    const HEADER: u16 = HEADER_CHECKED as u16;
    (
        marks & (0xFF00 | HEADER) == EPOCH | HEADER,
        marks == EPOCH | (HEADER_CHECKED | OPS_CHECKED) as u16,
    )
}
/// CU per unit of the stored compute bound: a u16 of them reaches 4.19 M CU, three times the
/// largest transaction budget (1.4 M).
pub const COST_UNIT: u64 = 64;

/// The compute bound `finalize_version` stored on a version whose header check passed under
/// this program's `CHECKS_EPOCH`, or None (not stored, or by other code: the reader computes
/// it). Never below `kernels::cost::cost_bound` of the version's bytes.
#[inline(always)]
pub fn stored_cost_bound(w: &ModelWeights) -> Option<u64> {
    if !trusted_marks(w).0 {
        return None;
    }
    let units = u16::from_le_bytes([w.padding[2], w.padding[3]]) as u64;
    match units {
        0 => None,
        u if u == u16::MAX as u64 => Some(u64::MAX),
        u => Some(u * COST_UNIT),
    }
}

/// `padding[2..4]` for a bound of `cu`: rounded up to whole units, saturated (never 0).
pub fn cost_units(cu: u64) -> [u8; 2] {
    let units = cu.div_ceil(COST_UNIT).clamp(1, u16::MAX as u64) as u16;
    units.to_le_bytes()
}

const _: () = assert!(
    core::mem::offset_of!(ModelWeights, padding) % 2 == 0
        && core::mem::align_of::<ModelWeights>() >= 2
);

impl ModelWeights {
    pub const LEN: usize = core::mem::size_of::<ModelWeights>();

    pub const SPEC: TypeSpec = TypeSpec::account(
        "ModelWeights",
        "One model version: this fixed part, then chunk_count x 32-byte declared chunk SHA-256s, \
         then a bitmap of written chunks (bit i of byte i/8), then the model bytes at data_offset. \
         Variable size: the struct is the fixed 224-byte head (discriminator included; what \
         Anchor clients decode and report as the account size); the account is data_offset + \
         model_size bytes, data_offset = align8(224 + 32 x chunk_count + ceil(chunk_count / 8)), \
         chunk_count = ceil(model_size / chunk_size).",
        &[
            field("model", Ty::Pubkey),
            field("authority", Ty::Pubkey),
            field("model_sha256", Ty::Array(&Ty::U8, 32)),
            field("chunk_root", Ty::Array(&Ty::U8, 32)),
            field("model_size", Ty::U64),
            field("created_slot", Ty::U64),
            field("finalized_slot", Ty::U64),
            field("activated_slot", Ty::U64),
            field("retired_slot", Ty::U64),
            field("version", Ty::U32),
            field("chunk_size", Ty::U32),
            field("chunk_count", Ty::U32),
            field("chunks_written", Ty::U32),
            field("hashes_declared", Ty::U32),
            field("data_offset", Ty::U32),
            field("arch", Ty::Defined("ArchSummary")),
            field("format_version", Ty::U16),
            field("status", Ty::U8),
            field("file_hash_verified", Ty::U8),
            field("padding", Ty::Array(&Ty::U8, 4)),
        ],
    );

    /// Validate `acc` as a claimed weights account whose stored layout fits its length.
    ///
    /// # Safety
    /// No other reference to `acc`'s data may be live while the result is used.
    #[inline(always)]
    pub unsafe fn load<'a>(
        acc: &AccountView,
        program_id: &Address,
    ) -> Result<WeightsView<'a>, MlAgentError> {
        checks::program_account(acc, program_id, &Self::SPEC, Self::LEN)?;
        let len = acc.data_len();
        let base = acc.data_ptr() as *mut u8;
        let fixed = &mut *(base as *mut ModelWeights);
        let count = fixed.chunk_count as usize;
        let data_offset = fixed.data_offset as usize;
        // The program wrote these at claim time from a validated layout; re-checking costs a few
        // CU and turns any inconsistency into an error rather than an out-of-bounds slice.
        let bitmap_offset = Self::LEN + 32 * count;
        if data_offset < bitmap_offset + count.div_ceil(8)
            || data_offset + fixed.model_size as usize > len
        {
            return Err(MlAgentError::AccountDidNotDeserialize);
        }
        let table = core::slice::from_raw_parts_mut(base.add(Self::LEN), 32 * count);
        let bitmap = core::slice::from_raw_parts_mut(base.add(bitmap_offset), count.div_ceil(8));
        let data =
            core::slice::from_raw_parts_mut(base.add(data_offset), fixed.model_size as usize);
        Ok(WeightsView {
            fixed,
            table,
            bitmap,
            data,
        })
    }
}

/// A weights account split into its regions (all borrowed from the account data, no copies).
pub struct WeightsView<'a> {
    pub fixed: &'a mut ModelWeights,
    /// `chunk_count` declared SHA-256 digests, 32 bytes each; all-zero means "not declared".
    pub table: &'a mut [u8],
    /// Bit `i % 8` of byte `i / 8` is set once chunk `i` has been written and verified.
    pub bitmap: &'a mut [u8],
    /// The model file (`model_size` bytes at `data_offset`).
    pub data: &'a mut [u8],
}

impl WeightsView<'_> {
    #[inline(always)]
    pub fn is_written(&self, index: u32) -> bool {
        self.bitmap[(index >> 3) as usize] & (1 << (index & 7)) != 0
    }
    #[inline(always)]
    pub fn mark_written(&mut self, index: u32) {
        self.bitmap[(index >> 3) as usize] |= 1 << (index & 7);
    }
    #[inline(always)]
    pub fn declared_hash(&self, index: u32) -> &[u8] {
        let at = 32 * index as usize;
        &self.table[at..at + 32]
    }
}

/// A staging page: `chunk_count` declared hashes, then that many chunks of model data.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ModelPage {
    pub discriminator: [u8; 8],
    /// The weights account (version) the page is for.
    pub weights: [u8; 32],
    /// Who opened it: the only signer that may write, commit or close it.
    pub authority: [u8; 32],
    /// The version's declared sizes, re-checked against the weights account at commit.
    pub model_size: u64,
    pub page_index: u32,
    pub chunk_size: u32,
    pub first_chunk: u32,
    pub chunk_count: u32,
    /// Bit i set once chunk `first_chunk + i` is written and verified.
    pub written: u32,
    pub bump: u8,
    pub padding: [u8; 3],
}

impl ModelPage {
    pub const LEN: usize = core::mem::size_of::<ModelPage>();

    pub const SPEC: TypeSpec = TypeSpec::account(
        "ModelPage",
        "Upload staging for PAGE_CHUNKS chunks (PDA [\"page\", weights, authority, page_index \
         LE]): this fixed part, chunk_count x 32-byte declared SHA-256s, then the chunks. \
         Variable size: the struct is the fixed 104-byte head (discriminator included); the \
         account is 104 + 32 x chunk_count + the page's model bytes (chunk_count = min(9, chunks \
         left), at most 10 KiB).",
        &[
            field("weights", Ty::Pubkey),
            field("authority", Ty::Pubkey),
            field("model_size", Ty::U64),
            field("page_index", Ty::U32),
            field("chunk_size", Ty::U32),
            field("first_chunk", Ty::U32),
            field("chunk_count", Ty::U32),
            field("written", Ty::U32),
            field("bump", Ty::U8),
            field("padding", Ty::Array(&Ty::U8, 3)),
        ],
    );

    /// Validate `acc` as a page whose stored layout fits its length, and view it.
    ///
    /// # Safety
    /// No other reference to `acc`'s data may be live while the result is used.
    #[inline(always)]
    pub unsafe fn load<'a>(
        acc: &AccountView,
        program_id: &Address,
    ) -> Result<PageView<'a>, MlAgentError> {
        checks::program_account(acc, program_id, &Self::SPEC, Self::LEN)?;
        let base = acc.data_ptr() as *mut u8;
        let fixed = &mut *(base as *mut ModelPage);
        let count = fixed.chunk_count as usize;
        if count == 0 || count > PAGE_CHUNKS as usize {
            return Err(MlAgentError::AccountDidNotDeserialize);
        }
        let hashes = core::slice::from_raw_parts_mut(base.add(Self::LEN), 32 * count);
        let data_at = Self::LEN + 32 * count;
        let data = core::slice::from_raw_parts_mut(base.add(data_at), acc.data_len() - data_at);
        Ok(PageView {
            fixed,
            hashes,
            data,
        })
    }

    /// Mask with one bit per chunk of the page.
    #[inline(always)]
    pub fn full_mask(&self) -> u32 {
        (1u32 << self.chunk_count) - 1
    }
}

/// A page split into its regions (borrowed from the account data).
pub struct PageView<'a> {
    pub fixed: &'a mut ModelPage,
    pub hashes: &'a mut [u8],
    pub data: &'a mut [u8],
}

/// The active version of a model, validated for reading.
pub struct ActiveModel<'a> {
    pub header: &'a ModelHeader,
    pub weights: &'a ModelWeights,
    /// The model file exactly as uploaded and hash-verified; starts 8-byte aligned.
    pub bytes: &'a [u8],
}

/// For readers such as `infer`: check that `header` is a live model whose active version is
/// `weights` (owner, discriminators, status, cross-links) and return the model file bytes.
///
/// Rejections: `AccountOwnedByWrongProgram`, `AccountDiscriminatorMismatch` (wrong type),
/// `NoActiveVersion` (nothing activated yet), `NotActiveVersion` (`weights` is not the model's
/// active version: stale, staged or another model's).
///
/// The checks are the ones `ModelHeader::load` / `ModelWeights::load` make, with the same errors
/// in the same order, written for this hot read path: addresses and discriminators compared as
/// aligned u64 words, and only the layout fact the returned slice needs (`data_offset +
/// model_size` inside the account; the program wrote both from a validated layout).
#[inline(always)]
pub fn load_active<'a>(
    program_id: &Address,
    header: &'a AccountView,
    weights: &'a AccountView,
) -> Result<ActiveModel<'a>, MlAgentError> {
    // SAFETY: read-only views; callers hold no mutable borrow of these accounts. Account
    // addresses, owners and data start 8-byte aligned in the runtime's input buffer, and the
    // fields compared below sit at multiples of 8 in their structs.
    unsafe {
        account_of(header, program_id, &ModelHeader::SPEC, ModelHeader::LEN)?;
        let h = &*(header.data_ptr() as *const ModelHeader);
        if h.status != ModelStatus::Ready as u8 && h.status != ModelStatus::Frozen as u8 {
            return Err(MlAgentError::NoActiveVersion);
        }
        if !eq32(
            h.active_weights.as_ptr(),
            weights.address().as_ref().as_ptr(),
        ) {
            return Err(MlAgentError::NotActiveVersion);
        }
        account_of(weights, program_id, &ModelWeights::SPEC, ModelWeights::LEN)?;
        let w = &*(weights.data_ptr() as *const ModelWeights);
        let (off, size) = (w.data_offset as usize, w.model_size as usize);
        if off + size > weights.data_len() {
            return Err(MlAgentError::AccountDidNotDeserialize);
        }
        if !eq32(w.model.as_ptr(), header.address().as_ref().as_ptr())
            || w.status != VersionStatus::Active as u8
        {
            return Err(MlAgentError::NotActiveVersion);
        }
        Ok(ActiveModel {
            header: h,
            weights: w,
            bytes: core::slice::from_raw_parts(weights.data_ptr().add(off), size),
        })
    }
}

/// 32 bytes equal, compared as four u64 words.
///
/// # Safety
/// Both pointers are 8-byte aligned and 32 bytes readable.
#[inline(always)]
unsafe fn eq32(a: *const u8, b: *const u8) -> bool {
    let (a, b) = (a as *const u64, b as *const u64);
    ((*a ^ *b) | (*a.add(1) ^ *b.add(1)) | (*a.add(2) ^ *b.add(2)) | (*a.add(3) ^ *b.add(3))) == 0
}

const _: () = assert!(
    core::mem::offset_of!(pinocchio::account::RuntimeAccount, owner)
        == core::mem::offset_of!(pinocchio::account::RuntimeAccount, address) + 32
);

/// `checks::program_account` with word compares (same errors, same order).
///
/// # Safety
/// `a`'s owner and data are 8-byte aligned (the runtime's layout).
#[inline(always)]
unsafe fn account_of(
    a: &AccountView,
    program_id: &Address,
    spec: &TypeSpec,
    min_len: usize,
) -> Result<(), MlAgentError> {
    let len = a.data_len();
    if len == 0 && a.lamports() == 0 {
        return Err(MlAgentError::AccountNotInitialized);
    }
    // The owner follows the address in the runtime's account record (asserted below); reading
    // it in place avoids `AccountView::owner`'s 32-byte copy.
    let owner = (a.address() as *const Address as *const u8).add(32);
    if !eq32(owner, program_id.as_ref().as_ptr()) {
        return Err(MlAgentError::AccountOwnedByWrongProgram);
    }
    if len < 8 {
        return Err(MlAgentError::AccountDiscriminatorNotFound);
    }
    if *(a.data_ptr() as *const u64) != u64::from_le_bytes(spec.discriminator) {
        return Err(MlAgentError::AccountDiscriminatorMismatch);
    }
    if len < min_len {
        return Err(MlAgentError::AccountDidNotDeserialize);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pinocchio::account::{RuntimeAccount, NOT_BORROWED};
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn the_stored_cost_bound_rounds_up_saturates_and_is_trusted_only_under_the_epoch() {
        // SAFETY: plain integers; zero is valid.
        let mut w: ModelWeights = unsafe { core::mem::zeroed() };
        let mut with = |marks: [u8; 2], cu: u64| {
            w.padding = [marks[0], marks[1], 0, 0];
            [w.padding[2], w.padding[3]] = cost_units(cu);
            stored_cost_bound(&w)
        };
        let ok = [HEADER_CHECKED, CHECKS_EPOCH];
        assert_eq!(with(ok, 1), Some(COST_UNIT));
        assert_eq!(with(ok, 64), Some(64));
        assert_eq!(with(ok, 65), Some(128));
        assert_eq!(with(ok, 0), Some(COST_UNIT));
        assert_eq!(with(ok, 65_534 * COST_UNIT), Some(65_534 * COST_UNIT));
        assert_eq!(with(ok, 65_535 * COST_UNIT - 1), Some(u64::MAX));
        assert_eq!(with(ok, u64::MAX), Some(u64::MAX));
        // Marks from another epoch, or none: not trusted, the reader computes the bound.
        assert_eq!(with([HEADER_CHECKED, CHECKS_EPOCH + 1], 640), None);
        assert_eq!(with([0, CHECKS_EPOCH], 640), None);
        // Sealed before bounds were stored: 0 is "not stored".
        w.padding = [HEADER_CHECKED, CHECKS_EPOCH, 0, 0];
        assert_eq!(stored_cost_bound(&w), None);
    }

    /// An account laid out as the runtime serializes it: RuntimeAccount, then its data.
    struct TestAccount {
        buf: Vec<u64>,
    }

    impl TestAccount {
        fn new(address: [u8; 32], owner: &Address, data: &[u8]) -> TestAccount {
            let head = core::mem::size_of::<RuntimeAccount>();
            let mut buf = vec![0u64; (head + data.len()).div_ceil(8)];
            let raw = buf.as_mut_ptr() as *mut RuntimeAccount;
            // SAFETY: `buf` is 8-aligned and large enough for the header plus `data`.
            unsafe {
                (*raw).borrow_state = NOT_BORROWED;
                (*raw).address = Address::new_from_array(address);
                (*raw).owner = owner.clone();
                (*raw).lamports = 1;
                (*raw).data_len = data.len() as u64;
                let dst = (raw as *mut u8).add(head);
                core::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len());
            }
            TestAccount { buf }
        }

        fn view(&mut self) -> AccountView {
            // SAFETY: built by `new` in the runtime's layout; lives as long as `self`.
            unsafe { AccountView::new_unchecked(self.buf.as_mut_ptr() as *mut RuntimeAccount) }
        }
    }

    fn bytes_of<T>(v: &T) -> &[u8] {
        // SAFETY: plain-old-data repr(C) structs without padding holes (see the layout tests).
        unsafe {
            core::slice::from_raw_parts(v as *const T as *const u8, core::mem::size_of::<T>())
        }
    }

    /// A header and an active weights account holding `model` (1,012-byte chunks).
    fn active_pair(program: &Address, model: &[u8]) -> (TestAccount, TestAccount) {
        let (h_key, w_key) = ([1u8; 32], [2u8; 32]);
        let layout = WeightsLayout::new(model.len() as u64, MAX_CHUNK_SIZE).unwrap();
        let mut h: ModelHeader = unsafe { core::mem::zeroed() };
        h.discriminator = ModelHeader::SPEC.discriminator;
        h.status = ModelStatus::Ready as u8;
        h.active_weights = w_key;
        let mut w: ModelWeights = unsafe { core::mem::zeroed() };
        w.discriminator = ModelWeights::SPEC.discriminator;
        w.model = h_key;
        w.status = VersionStatus::Active as u8;
        w.model_size = model.len() as u64;
        w.chunk_size = MAX_CHUNK_SIZE;
        w.chunk_count = layout.chunk_count;
        w.data_offset = layout.data_offset as u32;
        let mut wdata = vec![0u8; layout.space];
        wdata[..ModelWeights::LEN].copy_from_slice(bytes_of(&w));
        wdata[layout.data_offset..].copy_from_slice(model);
        (
            TestAccount::new(h_key, program, bytes_of(&h)),
            TestAccount::new(w_key, program, &wdata),
        )
    }

    #[test]
    fn load_active_returns_the_model_bytes_aligned() {
        let program = Address::new_from_array([9; 32]);
        let model: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
        let (mut h, mut w) = active_pair(&program, &model);
        let (hv, wv) = (h.view(), w.view());
        let m = load_active(&program, &hv, &wv).unwrap();
        assert_eq!(m.bytes, &model[..]);
        assert_eq!(m.bytes.as_ptr() as usize % 8, 0);
        assert_eq!(m.weights.model_size, 3000);
    }

    #[test]
    fn load_active_rejects_anything_but_the_active_version() {
        let program = Address::new_from_array([9; 32]);
        let model = [5u8; 100];
        let err = |h: &mut TestAccount, w: &mut TestAccount| {
            let (hv, wv) = (h.view(), w.view());
            load_active(&program, &hv, &wv).err()
        };
        // Swapped account types.
        let (mut h, mut w) = active_pair(&program, &model);
        assert_eq!(
            err(&mut w, &mut h),
            Some(MlAgentError::AccountDiscriminatorMismatch)
        );
        // Another program's account.
        let (_, mut w) = active_pair(&program, &model);
        let other = Address::new_from_array([8; 32]);
        let (mut h_other, _) = active_pair(&other, &model);
        assert_eq!(
            err(&mut h_other, &mut w),
            Some(MlAgentError::AccountOwnedByWrongProgram)
        );
        // Nothing activated yet.
        let (mut h, mut w) = active_pair(&program, &model);
        // SAFETY: test buffer, no other reference.
        unsafe { ModelHeader::load(&h.view(), &program).unwrap().status = 0 };
        assert_eq!(err(&mut h, &mut w), Some(MlAgentError::NoActiveVersion));
        // A retired (or staged) version, and a header pointing elsewhere.
        let (mut h, mut w) = active_pair(&program, &model);
        unsafe {
            ModelWeights::load(&w.view(), &program)
                .unwrap()
                .fixed
                .status = VersionStatus::Retired as u8
        };
        assert_eq!(err(&mut h, &mut w), Some(MlAgentError::NotActiveVersion));
        let (mut h, mut w) = active_pair(&program, &model);
        unsafe {
            ModelHeader::load(&h.view(), &program)
                .unwrap()
                .active_weights = [3; 32]
        };
        assert_eq!(err(&mut h, &mut w), Some(MlAgentError::NotActiveVersion));
    }

    #[test]
    fn layout_is_aligned_and_bounded() {
        for (size, cs) in [(1u64, 1012u32), (1012, 1012), (1013, 1012), (1 << 20, 1012)] {
            let l = WeightsLayout::new(size, cs).unwrap();
            assert_eq!(l.chunk_count as u64, size.div_ceil(cs as u64));
            assert_eq!(l.data_offset % 8, 0);
            assert!(l.data_offset >= l.bitmap_offset + (l.chunk_count as usize).div_ceil(8));
            assert_eq!(l.space, l.data_offset + size as usize);
        }
        assert_eq!(WeightsLayout::new(0, 1012), Err(MlAgentError::BadModelSize));
        assert_eq!(
            WeightsLayout::new(10, 1013),
            Err(MlAgentError::BadChunkSize)
        );
        assert_eq!(WeightsLayout::new(10, 255), Err(MlAgentError::BadChunkSize));
        assert_eq!(
            WeightsLayout::new(MAX_ACCOUNT_SIZE as u64, 1012),
            Err(MlAgentError::BadModelSize)
        );
        // The largest model that fits: ~10 MiB minus its 3% hash table.
        assert!(WeightsLayout::new(10_100_000, 1012).is_ok());
    }

    /// Bytes of a `write_chunk` transaction carrying a full chunk, counted field by field from
    /// the legacy wire format; it must fill, not exceed, the 1,232-byte packet.
    #[test]
    fn write_chunk_fills_a_packet() {
        let sigs = 1 + 64;
        let header = 3;
        let keys = 1 + 3 * 32; // authority (payer), page, program
        let blockhash = 32;
        let ix_framing = 1 + 1 + 1 + 2 + 2; // ix count, program idx, account count+idx, data len
        let data = 8 + 4 + 4 + MAX_CHUNK_SIZE as usize; // disc, index, bytes length, chunk
        assert_eq!(sigs + header + keys + blockhash + ix_framing + data, 1232);
    }

    #[test]
    fn pages_fit_a_cpi_created_account() {
        let l = WeightsLayout::new(1 << 20, MAX_CHUNK_SIZE).unwrap();
        let full = l.page(0).unwrap();
        assert_eq!((full.first_chunk, full.chunk_count), (0, PAGE_CHUNKS));
        assert_eq!(
            full.data_len,
            PAGE_CHUNKS as usize * MAX_CHUNK_SIZE as usize
        );
        assert!(full.space <= MAX_PAGE_SPACE);
        assert_eq!(full.data_offset % 8, 0);
        // One more chunk would not fit.
        assert!(full.space + 32 + MAX_CHUNK_SIZE as usize > MAX_PAGE_SPACE);
        let last = l.page(l.page_count - 1).unwrap();
        let covered = (l.page_count - 1) as usize * full.data_len + last.data_len;
        assert_eq!(covered, 1 << 20);
        assert_eq!(last.first_chunk + last.chunk_count, l.chunk_count);
        assert!(l.page(l.page_count).is_none());
        assert_eq!(
            l.chunk_len(l.chunk_count - 1),
            (1 << 20) % MAX_CHUNK_SIZE as usize
        );
    }
}
