//! ml_agent: quantized ML inference and trading agents inside a Solana program.
//!
//! Built for upstream BPF (`bpfel-unknown-none`) and relinked to SBPF v0 by sbpf-linker; speaks
//! Anchor's wire format (discriminators, error codes, events) so Anchor clients work unchanged.
#![no_std]

#[cfg(not(target_arch = "bpf"))]
extern crate std;

pub mod args;
pub mod checks;
pub mod error;
pub mod events;
pub mod instructions;
pub mod interface;
pub mod math;
pub mod processor;
pub mod rent;
pub mod sha256_const;
pub mod state;

#[cfg(not(target_arch = "bpf"))]
pub mod idl;

pub use processor::process_instruction;

/// The program id used for local clusters (keypair in `programs/ml_agent/keys/`).
pub const PROGRAM_ID: &str = "HuyAZHfebin8EpSqngy3jELk5MsgSbhNDpBTuaq9f7NE";

#[cfg(target_arch = "bpf")]
mod entry {
    // Accounts beyond 16 are never needed and cost stack in the entrypoint.
    pinocchio::program_entrypoint!(crate::process_instruction, 16);
    pinocchio::no_allocator!();
    pinocchio::nostd_panic_handler!();
}
