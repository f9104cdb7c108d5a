//! ml_agent: quantized ML inference and trading agents inside a Solana program.
//!
//! Built for upstream BPF (`bpfel-unknown-none`) and relinked to SBPF v0 by sbpf-linker; speaks
//! Anchor's wire format (discriminators, error codes, events) so Anchor clients work unchanged.
#![no_std]
// The dense PACKED3 kernel's inner loop is BPF assembly (`kernels::dense::cols_by_four`).
#![cfg_attr(target_arch = "bpf", feature(asm_experimental_arch))]

#[cfg(not(target_arch = "bpf"))]
extern crate std;

pub mod args;
pub mod checks;
pub mod error;
pub mod events;
pub mod features;
pub mod hash;
pub mod instructions;
pub mod interface;
pub mod kernels;
pub mod math;
pub mod oracle;
pub mod pda;
pub mod processor;
pub mod rent;
pub mod sha256_const;
pub mod state;
pub mod token;
pub mod wide;

#[cfg(not(target_arch = "bpf"))]
pub mod idl;

pub use processor::process_instruction;

/// The program id used for local clusters (keypair in `programs/ml_agent/keys/`).
pub const PROGRAM_ID: &str = "HuyAZHfebin8EpSqngy3jELk5MsgSbhNDpBTuaq9f7NE";

#[cfg(all(target_arch = "bpf", not(feature = "no-entrypoint")))]
mod entry {
    use core::mem::MaybeUninit;
    use pinocchio::AccountView;

    // 24 = create_agent's 10 fixed accounts + (header, weights) for 4 models, with room to spare.
    // The cap only sizes the entrypoint's account array; `infer` CU is unchanged (docs/agent.md).
    const MAX_ACCOUNTS: usize = 24;

    /// pinocchio's `program_entrypoint!` body, with the `Err` arm's return value passed through
    /// `error::fail`, which logs the anchor-lang error line. Nothing stays live across that call,
    /// so the success path's CU are what they were with the plain macro.
    ///
    /// # Safety
    /// Called by the runtime with its serialized input buffer.
    #[no_mangle]
    pub unsafe extern "C" fn entrypoint(input: *mut u8) -> u64 {
        const UNINIT: MaybeUninit<AccountView> = MaybeUninit::<AccountView>::uninit();
        let mut accounts = [UNINIT; MAX_ACCOUNTS];
        // SAFETY: `input` is the runtime's input buffer, alive for the whole execution.
        let (program_id, count, data) =
            unsafe { pinocchio::entrypoint::deserialize::<MAX_ACCOUNTS>(input, &mut accounts) };
        // SAFETY: `deserialize` initialized the first `count` views.
        let accounts = unsafe {
            core::slice::from_raw_parts_mut(accounts.as_mut_ptr() as *mut AccountView, count)
        };
        match crate::process_instruction(program_id, accounts, data) {
            Ok(()) => pinocchio::SUCCESS,
            Err(e) => crate::error::fail(e.into()),
        }
    }
}

// Kept outside the entrypoint gate: even as a dependency the crate is also a cdylib, and a
// cdylib for BPF needs a panic handler. Hot paths never allocate.
#[cfg(target_arch = "bpf")]
mod runtime {
    pinocchio::no_allocator!();

    /// Panics are bugs (inputs are validated up front), so the handler only needs to stop the
    /// program. It deliberately ignores the panic location: pinocchio's handler reads it, and the
    /// `Location` it pulls in makes sbpf-linker 0.1.9 emit an ELF the SBPF v0 loader rejects.
    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
        const MSG: &str = "ml_agent: panic";
        // SAFETY: static message; `abort` never returns.
        unsafe {
            pinocchio::syscalls::sol_log_(MSG.as_ptr(), MSG.len() as u64);
            pinocchio::syscalls::abort()
        }
    }
}
