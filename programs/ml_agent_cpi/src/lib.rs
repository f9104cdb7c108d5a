//! Call ml_agent's on-chain inference from another program by CPI.
//!
//! ```ignore
//! use ml_agent_cpi::{Infer, InferenceResult};
//!
//! // accounts: the model's header and its active weights account, as `infer` expects them
//! // (the ml_agent program account must also be in the transaction).
//! Infer { program: &ml_agent_cpi::ID, model, weights, features: &[fx0, fx1], flags: 0 }.invoke()?;
//! let mut result = InferenceResult::new();
//! result.read(&ml_agent_cpi::ID)?; // return data, checked to come from ml_agent
//! if result.class() == APPROVE && result.confidence_q16() >= MIN { /* act */ }
//! ```
//!
//! Features are Q16.16 `i32`s (`x * 65536`, rounded half up), in the model's declared range, or
//! `infer` fails with `FeatureOutOfRange`. A failing `infer` aborts the whole transaction (the
//! runtime does not return CPI errors to the caller), so the caller never acts on a missing
//! result.
//!
//! Written for pinocchio and upstream BPF / SBPF v3: no allocation, no `core::fmt`, and every
//! function that can be out of line returns at most 8 bytes (a `ProgramResult` or a scalar);
//! the constructor and the two 16-byte returns are always inlined.
#![no_std]

#[cfg(test)]
extern crate std;

use core::mem::MaybeUninit;

use pinocchio::{
    cpi::invoke,
    error::ProgramError,
    instruction::{InstructionAccount, InstructionView},
    AccountView, Address, ProgramResult,
};

/// ml_agent's program id (the IDL's `address`; local clusters, devnet and tests).
pub const ID: Address = Address::from_str_const("HuyAZHfebin8EpSqngy3jELk5MsgSbhNDpBTuaq9f7NE");

/// Anchor discriminator of `infer`: `sha256("global:infer")[..8]`.
pub const INFER_DISCRIMINATOR: [u8; 8] = [142, 224, 96, 208, 123, 0, 170, 52];

/// `flags` bit 0 of `infer`: log compute units around the forward pass (benchmarks only).
pub const FLAG_LOG_CU: u8 = 1;

/// Features `Infer::invoke` encodes on the stack; use `invoke_with_buffer` for more.
pub const MAX_INLINE_FEATURES: usize = 32;

/// Return data is at most 1,024 bytes: class, confidence, output count, then `i64` outputs.
pub const MAX_RETURN_DATA: usize = 1024;
const RETURN_HEADER: usize = 12;

/// Bytes of `infer` instruction data for `n` features.
pub const fn infer_data_len(n: usize) -> usize {
    8 + 4 + 4 * n + 1
}

/// Encode `infer(features, flags)` (Anchor/borsh: discriminator, `u32` length, `i32`s, `u8`)
/// into `out`; returns the length written, or `InvalidArgument` if `out` is too short.
/// (Always inlined: its 16-byte `Result` would be an aggregate return out of line.)
#[inline(always)]
pub fn encode_infer(features: &[i32], flags: u8, out: &mut [u8]) -> Result<usize, ProgramError> {
    let len = infer_data_len(features.len());
    if out.len() < len {
        return Err(ProgramError::InvalidArgument);
    }
    out[..8].copy_from_slice(&INFER_DISCRIMINATOR);
    out[8..12].copy_from_slice(&(features.len() as u32).to_le_bytes());
    for (dst, f) in out[12..len - 1].chunks_exact_mut(4).zip(features) {
        dst.copy_from_slice(&f.to_le_bytes());
    }
    out[len - 1] = flags;
    Ok(len)
}

/// The `infer` instruction: `model` (the ModelHeader) and `weights` (its active version), both
/// read-only; no signer. `program` is ml_agent's id on the cluster (`&ID` normally).
pub struct Infer<'a> {
    pub program: &'a Address,
    pub model: &'a AccountView,
    pub weights: &'a AccountView,
    pub features: &'a [i32],
    pub flags: u8,
}

impl Infer<'_> {
    /// Invoke `infer`, encoding up to `MAX_INLINE_FEATURES` features on the stack.
    #[inline(never)]
    pub fn invoke(&self) -> ProgramResult {
        let mut buf = [0u8; infer_data_len(MAX_INLINE_FEATURES)];
        self.invoke_with_buffer(&mut buf)
    }

    /// Invoke `infer`, encoding its data into `buf` (at least `infer_data_len(features.len())`
    /// bytes; `InvalidArgument` otherwise).
    pub fn invoke_with_buffer(&self, buf: &mut [u8]) -> ProgramResult {
        let len = encode_infer(self.features, self.flags, buf)?;
        let mut metas = [const { MaybeUninit::<InstructionAccount>::uninit() }; 2];
        metas[0].write(InstructionAccount::readonly(self.model.address()));
        metas[1].write(InstructionAccount::readonly(self.weights.address()));
        let instruction = InstructionView {
            program_id: self.program,
            // SAFETY: both metas were written just above.
            accounts: unsafe { core::slice::from_raw_parts(metas.as_ptr() as _, 2) },
            data: &buf[..len],
        };
        invoke(&instruction, &[self.model, self.weights])
    }
}

/// `InferenceResult` as `infer` returns it, read from the return data into an inline buffer.
pub struct InferenceResult {
    len: usize,
    data: [u8; MAX_RETURN_DATA],
}

impl Default for InferenceResult {
    #[inline(always)]
    fn default() -> Self {
        Self::new()
    }
}

impl InferenceResult {
    /// An empty result; fill it with `read` (on chain) or `decode` (anywhere).
    #[inline(always)]
    pub const fn new() -> Self {
        Self {
            len: 0,
            data: [0; MAX_RETURN_DATA],
        }
    }

    /// Read the transaction's current return data, which must have been set by `program` (the
    /// `infer` just invoked): `IncorrectProgramId` if another program set it last (or none
    /// did), `InvalidAccountData` if it is not a well-formed InferenceResult.
    pub fn read(&mut self, program: &Address) -> ProgramResult {
        #[cfg(any(target_os = "solana", target_arch = "bpf"))]
        {
            let mut setter = MaybeUninit::<Address>::uninit();
            // SAFETY: the syscall writes at most `MAX_RETURN_DATA` bytes into `data` and the
            // setter's 32-byte address into `setter`, and returns the full length (0 if none).
            let full = unsafe {
                pinocchio::syscalls::sol_get_return_data(
                    self.data.as_mut_ptr(),
                    MAX_RETURN_DATA as u64,
                    setter.as_mut_ptr() as *mut _,
                )
            } as usize;
            // SAFETY: written by the syscall when `full > 0`; not read otherwise.
            if full == 0 || unsafe { setter.assume_init_ref() } != program {
                return Err(ProgramError::IncorrectProgramId);
            }
            self.len = full.min(MAX_RETURN_DATA);
            self.check()
        }
        #[cfg(not(any(target_os = "solana", target_arch = "bpf")))]
        {
            let _ = program;
            Err(ProgramError::IncorrectProgramId)
        }
    }

    /// Take `bytes` (the borsh InferenceResult, e.g. from a client) as the result.
    pub fn decode(&mut self, bytes: &[u8]) -> ProgramResult {
        if bytes.len() > MAX_RETURN_DATA {
            return Err(ProgramError::InvalidAccountData);
        }
        self.data[..bytes.len()].copy_from_slice(bytes);
        self.len = bytes.len();
        self.check()
    }

    fn check(&self) -> ProgramResult {
        if self.len < RETURN_HEADER || self.len != RETURN_HEADER + 8 * self.outputs_len() {
            return Err(ProgramError::InvalidAccountData);
        }
        Ok(())
    }

    fn u32_at(&self, at: usize) -> u32 {
        u32::from_le_bytes([
            self.data[at],
            self.data[at + 1],
            self.data[at + 2],
            self.data[at + 3],
        ])
    }

    /// The predicted class (argmax for classifiers; 0 for regressors).
    pub fn class(&self) -> u32 {
        self.u32_at(0)
    }

    /// The predicted class's probability in Q16 (65,536 = 1.0; 0 for regressors).
    pub fn confidence_q16(&self) -> u32 {
        self.u32_at(4)
    }

    /// Number of outputs (classes, or regression targets).
    pub fn outputs_len(&self) -> usize {
        self.u32_at(8) as usize
    }

    /// Output `i` (probabilities in Q16, votes, or the regression value in the model's output
    /// scale), or `None` past the end. (Always inlined: a 16-byte `Option` return.)
    #[inline(always)]
    pub fn output(&self, i: usize) -> Option<i64> {
        if i >= self.outputs_len() {
            return None;
        }
        let at = RETURN_HEADER + 8 * i;
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.data[at..at + 8]);
        Some(i64::from_le_bytes(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::string::ToString;
    use std::vec::Vec;

    fn idl() -> serde_json::Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../idl/ml_agent.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn constants_match_the_idl() {
        let idl = idl();
        let id: Address = idl["address"].as_str().unwrap().parse().unwrap();
        assert_eq!(id, ID);
        let infer = idl["instructions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == "infer")
            .unwrap();
        let disc: Vec<u8> = infer["discriminator"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u8)
            .collect();
        assert_eq!(disc, INFER_DISCRIMINATOR);
        assert_eq!(&Sha256::digest(b"global:infer")[..8], INFER_DISCRIMINATOR);
        // The layout encode_infer writes and InferenceResult reads.
        let names: Vec<&str> = infer["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        // `features` is optional (only read with flags bit 1, FLAG_FEATURES_ACCOUNT): the two
        // accounts `Infer` passes are a complete `infer` without the flag.
        assert_eq!(names, ["model", "weights", "features"]);
        assert_eq!(infer["accounts"][2]["optional"], true);
        assert_eq!(infer["args"][0]["type"]["vec"], "i32");
        assert_eq!(infer["args"][1]["type"], "u8");
        let result = idl["types"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "InferenceResult")
            .unwrap();
        let fields: Vec<(&str, std::string::String)> = result["type"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["name"].as_str().unwrap(), f["type"].to_string()))
            .collect();
        assert_eq!(
            fields,
            [
                ("class", "\"u32\"".into()),
                ("confidence_q16", "\"u32\"".into()),
                ("outputs", "{\"vec\":\"i64\"}".into()),
            ]
        );
    }

    #[test]
    fn encodes_infer_as_borsh() {
        let mut buf = [0u8; 64];
        let n = encode_infer(&[1, -2, 65536], FLAG_LOG_CU, &mut buf).unwrap();
        assert_eq!(n, infer_data_len(3));
        let mut want = Vec::from(INFER_DISCRIMINATOR);
        want.extend_from_slice(&3u32.to_le_bytes());
        for f in [1i32, -2, 65536] {
            want.extend_from_slice(&f.to_le_bytes());
        }
        want.push(1);
        assert_eq!(&buf[..n], &want[..]);
        assert_eq!(
            encode_infer(&[1, 2, 3], 0, &mut buf[..20]),
            Err(ProgramError::InvalidArgument)
        );
    }

    #[test]
    fn decodes_inference_result() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&2u32.to_le_bytes());
        bytes.extend_from_slice(&60000u32.to_le_bytes());
        bytes.extend_from_slice(&3u32.to_le_bytes());
        for o in [1i64, -5, 60000] {
            bytes.extend_from_slice(&o.to_le_bytes());
        }
        let mut r = InferenceResult::new();
        r.decode(&bytes).unwrap();
        assert_eq!(
            (r.class(), r.confidence_q16(), r.outputs_len()),
            (2, 60000, 3)
        );
        assert_eq!(
            [r.output(0), r.output(1), r.output(2), r.output(3)],
            [Some(1), Some(-5), Some(60000), None]
        );
        // Truncated, padded or empty return data is refused.
        assert_eq!(
            r.decode(&bytes[..bytes.len() - 1]),
            Err(ProgramError::InvalidAccountData)
        );
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(r.decode(&long), Err(ProgramError::InvalidAccountData));
        assert_eq!(r.decode(&[]), Err(ProgramError::InvalidAccountData));
    }
}
