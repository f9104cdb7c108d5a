//! Errors, numbered the way Anchor numbers them so Anchor clients decode them unchanged:
//! framework errors keep Anchor's own codes (100-5000 range), program errors start at 6000.

use pinocchio::error::ProgramError;

macro_rules! errors {
    ($( $(#[$doc:meta])* $name:ident = $code:literal => $msg:literal, )*) => {
        /// Every error the program can return, with its wire code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u32)]
        pub enum MlAgentError {
            $( $(#[$doc])* $name = $code, )*
        }

        impl MlAgentError {
            /// The message clients show; also the IDL `msg`.
            pub const fn msg(self) -> &'static str {
                match self { $( MlAgentError::$name => $msg, )* }
            }

            /// Name as it appears in the IDL (camelCase, like Anchor's generator).
            pub const fn name(self) -> &'static str {
                match self { $( MlAgentError::$name => stringify!($name), )* }
            }

            /// All errors, in code order, for the IDL generator and tests.
            pub const ALL: &'static [MlAgentError] = &[ $( MlAgentError::$name, )* ];

            /// The line anchor-lang logs when a handler returns this error (`AnchorError::log`,
            /// no origin), which `AnchorError.parse` (TS) and Anchor's log parsers read. Built
            /// at compile time: upstream BPF has too little `core::fmt` to format it at run time.
            pub const fn anchor_log(self) -> &'static str {
                match self {
                    $( MlAgentError::$name => concat!(
                        "AnchorError occurred. Error Code: ", stringify!($name),
                        ". Error Number: ", stringify!($code),
                        ". Error Message: ", $msg, "."
                    ), )*
                }
            }

            /// The error with wire code `code`, if it is one of ours.
            pub const fn from_code(code: u32) -> Option<MlAgentError> {
                match code {
                    $( $code => Some(MlAgentError::$name), )*
                    _ => None,
                }
            }
        }
    };
}

errors! {
    // Anchor framework errors (anchor-lang's ErrorCode numbering).
    InstructionMissing = 100 => "8 byte instruction identifier not provided",
    InstructionFallbackNotFound = 101 => "Fallback functions are not supported",
    InstructionDidNotDeserialize = 102 => "The program could not deserialize the given instruction",
    AccountNotEnoughKeys = 3005 => "Not enough account keys given to the instruction",
    ConstraintMut = 2000 => "A mut constraint was violated",
    ConstraintSigner = 2002 => "A signer constraint was violated",
    ConstraintSeeds = 2006 => "A seeds constraint was violated",
    ConstraintAddress = 2012 => "An address constraint was violated",
    AccountDiscriminatorAlreadySet = 3000 => "The account discriminator was already set on this account",
    AccountDiscriminatorNotFound = 3001 => "No 8 byte discriminator was found on the account",
    AccountDiscriminatorMismatch = 3002 => "8 byte discriminator did not match what was expected",
    AccountDidNotDeserialize = 3003 => "Failed to deserialize the account",
    AccountOwnedByWrongProgram = 3007 => "The given account is owned by a different program than expected",
    AccountNotSystemOwned = 3011 => "The given account is not owned by the system program",
    AccountNotInitialized = 3012 => "The program expected this account to be already initialized",
    // Program errors.
    /// Arithmetic overflowed where the program must not wrap.
    ArithmeticOverflow = 6000 => "Arithmetic overflow",
    /// Instruction data has the right discriminator but a bad argument value.
    InvalidArgument = 6001 => "An instruction argument is out of its allowed range",
    // Model registry (instructions/registry).
    /// The signer is not the model's (or the version's, or the page's) authority.
    WrongAuthority = 6002 => "The signer is not the model's authority",
    /// `accept_authority` signed by someone other than the proposed authority.
    NotPendingAuthority = 6003 => "The signer is not the proposed new authority",
    /// `accept_authority` with no transfer proposed.
    NoPendingAuthority = 6004 => "No authority transfer has been proposed",
    /// `create_model` on a model id that already exists.
    ModelAlreadyExists = 6005 => "A model with this authority and id already exists",
    /// The weights account was already claimed by a model version.
    WeightsAlreadyInitialized = 6006 => "The weights account is already initialized",
    /// The weights account's size differs from the layout the declared sizes need.
    WeightsAccountSize = 6007 => "The weights account size does not match the declared model and chunk sizes",
    /// Model size zero, or too large for a 10 MiB account with its hash table.
    BadModelSize = 6008 => "Model size must be between 1 byte and what fits in a 10 MiB account",
    /// Chunk size outside [256, 1012].
    BadChunkSize = 6009 => "Chunk size must be between 256 and 1012 bytes",
    /// Chunk or page index past the last one, or a chunk written to another chunk's page.
    ChunkIndexOutOfRange = 6010 => "Chunk index is out of range",
    /// A chunk's length differs from the chunk size (or the last chunk's remainder).
    BadChunkLength = 6011 => "Chunk length does not match the declared chunk size",
    /// `open_page` on a page that is already open (chunk hashes are declared when a page opens,
    /// so the former "hash not declared" case cannot arise; its code is reused).
    PageAlreadyOpen = 6012 => "This upload page is already open",
    /// The chunk's SHA-256 differs from the declared one.
    ChunkHashMismatch = 6013 => "The chunk's SHA-256 does not match the declared hash",
    /// A committed page declares a different hash than the version has for that chunk.
    ChunkHashConflict = 6014 => "A different SHA-256 is already declared for this chunk",
    /// Committing pages into, or finalizing, a version that is no longer uploading.
    UploadFinalized = 6015 => "The version is finalized: its bytes and hashes can no longer change",
    /// `finalize_version` with chunks not yet committed.
    ChunksMissing = 6016 => "Some chunks have not been written",
    /// The declared per-chunk hashes do not hash to the declared root.
    ChunkRootMismatch = 6017 => "The chunk hashes do not match the declared chunk root",
    /// The uploaded bytes do not hash to the declared whole-model SHA-256.
    ModelHashMismatch = 6018 => "The model bytes do not match the declared SHA-256",
    /// `create_version` (or `freeze_model`) while another version is staged.
    VersionPending = 6019 => "Another version is being uploaded or awaits activation",
    /// The weights account is not the model's staged version.
    WeightsNotStaged = 6020 => "The weights account is not the model's staged version",
    /// `activate_version` before `finalize_version`.
    VersionNotFinalized = 6021 => "The version is not finalized",
    /// The model is frozen: nothing about it may change.
    ModelFrozen = 6022 => "The model is frozen",
    /// `close_version` on the active version (use `close_model`).
    VersionActive = 6023 => "The active version cannot be closed on its own; close the model",
    /// `close_model` while other versions still hold rent.
    VersionsOutstanding = 6024 => "Close the model's other versions first",
    /// A weights account belonging to another model.
    WeightsModelMismatch = 6025 => "The weights account belongs to another model",
    /// The model has no active version yet.
    NoActiveVersion = 6026 => "The model has no active version",
    /// The weights account is not the model's active version.
    NotActiveVersion = 6027 => "The weights account is not the model's active version",
    // Inference (instructions/infer.rs).
    /// `features` has a different length than the model's `n_features`.
    FeatureCountMismatch = 6028 => "The number of features does not match the model",
    /// A feature lies outside the model's declared range (the log names it).
    FeatureOutOfRange = 6029 => "A feature is outside the model's declared range",
    /// The model file is malformed or uses something the kernels cannot execute (the log says
    /// what).
    UnsupportedModel = 6030 => "The model cannot be executed by this program's kernels",
    // Model registry, upload pages (instructions/registry).
    /// `commit_pages` with a page whose chunks are not all written.
    PageIncomplete = 6031 => "The upload page has chunks not yet written",
    /// A page opened for another version, or with other model or chunk sizes.
    PageMismatch = 6032 => "The upload page does not belong to this version",
    // Market and trading agent (instructions/market, instructions/agent).
    /// A swap's output below `min_out`, or a liquidity change outside its bounds.
    SlippageExceeded = 6033 => "The trade would execute outside the caller's price bound",
    /// An empty pool side, or an output that would drain a reserve.
    InsufficientLiquidity = 6034 => "The pool does not have enough liquidity",
    /// `publish_price` signed by someone other than the feed's publisher.
    NotPublisher = 6035 => "The signer is not the price feed's publisher",
    /// An agent instruction signed by someone other than the agent's authority.
    NotAgentAuthority = 6036 => "The signer is not the agent's authority",
    /// `agent_step` with a step number other than the agent's counter (replayed or duplicate).
    StepMismatch = 6037 => "The step number does not match the agent's step counter",
    /// A model that is not a 3-class classifier over exactly the agent's features.
    FeatureSpecMismatch = 6038 => "The model's inputs or classes do not match the agent's feature spec",
    /// An unknown feature kind or parameter, or an empty or too long spec.
    BadFeatureSpec = 6039 => "The feature spec is invalid",
    /// The price account is not the agent's source (address, kind or Pyth feed id).
    PriceSourceMismatch = 6040 => "The price account is not the agent's price source",
    /// A Pyth price update that is only partially verified.
    PythNotFullyVerified = 6041 => "The Pyth price update is not fully verified",
    /// Model accounts missing, extra, or not the agent's models in order.
    ModelSetMismatch = 6042 => "The model accounts do not match the agent's models",
    /// A pinned version's weights account is another version, another model's, or not finalized.
    PinnedVersionMismatch = 6043 => "The weights account is not the pinned version of the model",
    /// A vault, pool, mint or LP mint account other than the one recorded at creation.
    WrongVault = 6044 => "The account is not the pool's or agent's recorded vault, mint or pool",
    // Models under agents (issue 11). Numbered apart from the pool errors added alongside.
    /// The model at this address was closed (a `ModelTombstone`): it has no versions and its
    /// id can never be used again.
    ModelClosed = 6060 => "The model was closed; its id can never be used again",
    /// The agent's models' compute bounds (`kernels::cost`) plus the step's own reserve exceed
    /// the largest transaction budget: they can never run in one step. `create_agent` and
    /// `set_agent_models` refuse such a set; in `agent_step` (a followed model's new version)
    /// it is the error of a `ModelUnavailable` HOLD.
    ModelTooCostly = 6061 => "The models' compute bounds exceed what any agent_step can spend",
    // Features accounts and inference jobs (issue 15: instructions/features, instructions/job).
    /// `infer`/`create_job` with features both in the argument and from an account, or neither
    /// (flags bit 1 `FLAG_FEATURES_ACCOUNT` set without a features account, or with a
    /// non-empty `features` argument).
    FeaturesSource = 6062 => "Pass the features either in the argument or from a features account (flags bit 1), not both",
    /// `write_features` past the account's value count, or a features account of 0 or too
    /// many values.
    FeaturesOutOfBounds = 6063 => "The values lie outside the features account's capacity",
    /// `write_features` / `close_features` signed by someone other than the account's owner.
    NotFeaturesOwner = 6064 => "The signer is not the features account's owner",
    /// `close_job` signed by someone other than the job's owner.
    NotJobOwner = 6065 => "The signer is not the job's owner",
    /// `infer_step` with a model or weights account other than the job's pinned version, or a
    /// weights account whose version number or content hashes differ from the pinned ones (a
    /// version closed and another created or activated since the job was created).
    JobModelMismatch = 6066 => "The model or weights account is not the job's pinned version (address, number and content hash)",
    /// `infer_step` on a job that has finished (its result is in the job; close it for the rent).
    JobFinished = 6067 => "The job has finished; read its result or close it",
    /// The job's input snapshot and buffers exceed the 10 KiB one instruction can allocate.
    JobTooLarge = 6068 => "The model's activations do not fit in a job account (10 KiB)",
    /// `infer_step` with too few compute units left for one unit of work plus the reserve.
    StepBudget = 6069 => "Not enough compute units for one unit of the job; raise the compute-unit limit",
    // Agent feature history (issue 15).
    /// The account passed as the agent's feature history is missing, another agent's, or not
    /// an `AgentHistory`.
    HistoryMismatch = 6070 => "The account is not this agent's feature history",
    /// `init_agent_history` on an agent that has one, or `close_agent` before it was closed.
    HistoryExists = 6071 => "The agent has a feature history (close it with close_agent_history first)",
    /// A window outside 2..=128, or other than the one the agent's window models read.
    BadWindow = 6072 => "The window must be 2..=128 steps and match the agent's window models",
}

/// The entrypoint's failure return: logs the error the way an Anchor program logs it, then
/// returns `code` (the entrypoint's return value) unchanged. Only failures pay for it (one
/// `sol_log_`: 100 CU + the line's length). Out of line and deliberately not `#[cold]`: with
/// the hint, LLVM allocated the entrypoint's account-loop registers differently and every
/// successful instruction cost 1 CU more. Without it (`python -m client bench`): `infer` and
/// `write_chunk` keep their exact CU; `agent_step` and `finalize_version` cost 1 CU more
/// (register allocation in the inlined dispatcher).
#[inline(never)]
pub fn fail(code: u64) -> u64 {
    if code <= u32::MAX as u64 {
        log_anchor_error(&ProgramError::Custom(code as u32));
    }
    code
}

/// Logs `err` as anchor-lang's `AnchorError::log` would ("AnchorError occurred. Error Code:
/// <Name>. Error Number: <n>. Error Message: <msg>."), so Anchor clients raise a typed, named
/// error. Errors that are not ours (a token program's custom code passed up through a CPI,
/// builtin `ProgramError`s) are left as the runtime reports them, as Anchor does for errors it
/// did not raise.
pub fn log_anchor_error(err: &ProgramError) {
    if let ProgramError::Custom(code) = *err {
        if let Some(e) = MlAgentError::from_code(code) {
            let line = e.anchor_log();
            #[cfg(target_arch = "bpf")]
            // SAFETY: a static UTF-8 string.
            unsafe {
                pinocchio::syscalls::sol_log_(line.as_ptr(), line.len() as u64);
            }
            #[cfg(not(target_arch = "bpf"))]
            let _ = line;
        }
    }
}

impl From<MlAgentError> for ProgramError {
    fn from(e: MlAgentError) -> Self {
        ProgramError::Custom(e as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_errors_start_at_6000_and_are_unique() {
        let mut codes: [u32; 128] = [0; 128];
        let n = MlAgentError::ALL.len();
        assert!(n <= codes.len());
        for (i, e) in MlAgentError::ALL.iter().enumerate() {
            codes[i] = *e as u32;
        }
        let codes = &mut codes[..n];
        codes.sort_unstable();
        for w in codes.windows(2) {
            assert_ne!(w[0], w[1], "duplicate error code");
        }
        assert!(MlAgentError::ALL
            .iter()
            .filter(|e| (**e as u32) >= 6000)
            .all(|e| !e.msg().is_empty()));
        assert_eq!(MlAgentError::ArithmeticOverflow as u32, 6000);
    }

    #[test]
    fn anchor_log_lines_match_anchor_lang() {
        // anchor-lang 1.x `AnchorError::log` with no origin:
        // "AnchorError occurred. Error Code: {name}. Error Number: {n}. Error Message: {msg}."
        for e in MlAgentError::ALL {
            let mut want = std::string::String::new();
            want.push_str("AnchorError occurred. Error Code: ");
            want.push_str(e.name());
            want.push_str(". Error Number: ");
            want.push_str(&std::format!("{}", *e as u32));
            want.push_str(". Error Message: ");
            want.push_str(e.msg());
            want.push('.');
            assert_eq!(e.anchor_log(), want);
            assert_eq!(MlAgentError::from_code(*e as u32), Some(*e));
        }
        assert_eq!(MlAgentError::from_code(1), None);
        assert_eq!(MlAgentError::from_code(6999), None);
    }
}
