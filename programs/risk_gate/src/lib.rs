//! risk_gate: an example consumer of on-chain inference (docs/cpi.md).
//!
//! A lamport vault ("gate") that lends to a borrower only when a model registered in ml_agent
//! approves the loan. `borrow` computes the model's features from on-chain state (the amount
//! asked and the borrower's balance), calls ml_agent's `infer` by CPI through `ml_agent_cpi`,
//! and pays out only if the predicted class is the gate's approve class with at least its
//! minimum confidence. Everything else aborts the transaction: nothing moves.
//!
//! Instructions (first data byte):
//! - `0` init `(model: [u8; 32], approve_class: u32, min_confidence_q16: u32, max_amount: u64,
//!   caps: [i32; 2])`, accounts `[admin (signer), gate (signer, writable)]`: configure a
//!   zeroed 112-byte account this program owns (created in the same transaction, so nobody can
//!   configure it first). Its lamports at init are the floor it never lends below; fund it by
//!   plain transfers.
//! - `1` borrow `(amount: u64)`, accounts `[borrower (signer, writable), gate (writable),
//!   ml_agent program, model, weights]`.
//!
//! What the gate trusts: the model account pinned at init (ml_agent checks that `weights` is that
//! model's active version), hence the model's authority, who can activate new versions unless
//! the model is frozen. The borrower's balance is read in the same transaction, so a borrower
//! can inflate it temporarily (the features are illustrative, not a credit policy).
#![no_std]

#[cfg(not(target_arch = "bpf"))]
extern crate std;

use ml_agent_cpi::{Infer, InferenceResult};
use pinocchio::{error::ProgramError, AccountView, Address, ProgramResult};

/// Gate account layout (little-endian, 112 bytes).
pub mod gate {
    pub const LEN: usize = 112;
    pub const MAGIC: [u8; 8] = *b"RISKGATE";
    pub const MAGIC_AT: usize = 0;
    pub const ADMIN: usize = 8;
    pub const MODEL: usize = 40;
    pub const APPROVE_CLASS: usize = 72;
    pub const MIN_CONFIDENCE: usize = 76;
    pub const MAX_AMOUNT: usize = 80;
    pub const FLOOR: usize = 88;
    pub const CAPS: usize = 96;
    pub const LENT: usize = 104;
}

/// Custom errors (logged as a short line too).
pub mod errors {
    /// The model did not predict the approve class with the minimum confidence.
    pub const DENIED: u32 = 6000;
    /// The gate account is not an initialized gate of this program (or is already one, at init).
    pub const BAD_GATE: u32 = 6001;
    /// The model account is not the gate's model, or the program is not ml_agent.
    pub const WRONG_MODEL: u32 = 6002;
    /// Amount zero, above the gate's maximum, or more than the gate holds above its floor.
    pub const BAD_AMOUNT: u32 = 6003;
}

/// Features are Q16.16 values of lamports / 2^30 (about 1.07 SOL per unit): `lamports >> 14`,
/// capped at the model's declared upper bound so a large balance never makes `infer` fail.
pub const fn feature_fx(lamports: u64, cap: i32) -> i32 {
    let fx = lamports >> 14;
    if fx > cap as u64 {
        cap
    } else {
        fx as i32
    }
}

pub fn process_instruction(
    program_id: &Address,
    accounts: &mut [AccountView],
    data: &[u8],
) -> ProgramResult {
    let Some((&tag, args)) = data.split_first() else {
        return Err(ProgramError::InvalidInstructionData);
    };
    let mut ix = Ix {
        program_id,
        accounts,
        args,
    };
    match tag {
        0 => init(&mut ix),
        1 => borrow(&mut ix),
        _ => Err(ProgramError::InvalidInstructionData),
    }
}

/// One instruction's inputs, passed by reference: as three arguments (five registers plus the
/// result pointer) the handlers would exceed the BPF backend's five argument registers.
pub struct Ix<'a> {
    program_id: &'a Address,
    accounts: &'a mut [AccountView],
    args: &'a [u8],
}

fn fail(code: u32, msg: &str) -> ProgramError {
    log(msg);
    ProgramError::Custom(code)
}

fn log(msg: &str) {
    #[cfg(target_arch = "bpf")]
    // SAFETY: a valid UTF-8 slice.
    unsafe {
        pinocchio::syscalls::sol_log_(msg.as_ptr(), msg.len() as u64);
    }
    #[cfg(not(target_arch = "bpf"))]
    let _ = msg;
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

#[inline(never)]
fn init(ix: &mut Ix) -> ProgramResult {
    let (program_id, args) = (ix.program_id, ix.args);
    let [admin, gate_acc, ..] = &mut *ix.accounts else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    if args.len() != 32 + 4 + 4 + 8 + 8 {
        return Err(ProgramError::InvalidInstructionData);
    }
    if !admin.is_signer() || !gate_acc.is_signer() {
        return Err(ProgramError::MissingRequiredSignature);
    }
    if !gate_acc.owned_by(program_id) || gate_acc.data_len() != gate::LEN {
        return Err(fail(errors::BAD_GATE, "risk_gate: not a gate account"));
    }
    let floor = gate_acc.lamports();
    let mut g = gate_acc.try_borrow_mut()?;
    if g[..8] != [0u8; 8] {
        return Err(fail(
            errors::BAD_GATE,
            "risk_gate: gate already initialized",
        ));
    }
    g[gate::MAGIC_AT..gate::MAGIC_AT + 8].copy_from_slice(&gate::MAGIC);
    g[gate::ADMIN..gate::ADMIN + 32].copy_from_slice(admin.address().as_ref());
    // model, approve_class, min_confidence, max_amount: the argument bytes in layout order.
    g[gate::MODEL..gate::FLOOR].copy_from_slice(&args[..48]);
    g[gate::FLOOR..gate::FLOOR + 8].copy_from_slice(&floor.to_le_bytes());
    g[gate::CAPS..gate::CAPS + 8].copy_from_slice(&args[48..56]);
    g[gate::LENT..gate::LENT + 8].copy_from_slice(&0u64.to_le_bytes());
    Ok(())
}

#[inline(never)]
fn borrow(ix: &mut Ix) -> ProgramResult {
    let (program_id, args) = (ix.program_id, ix.args);
    let [borrower, gate_acc, ml_agent, model, weights, ..] = &mut *ix.accounts else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    if args.len() != 8 {
        return Err(ProgramError::InvalidInstructionData);
    }
    let amount = u64_at(args, 0);
    if !borrower.is_signer() {
        return Err(ProgramError::MissingRequiredSignature);
    }
    if !borrower.is_writable() || !gate_acc.is_writable() {
        return Err(ProgramError::InvalidAccountData);
    }
    if !gate_acc.owned_by(program_id) || gate_acc.data_len() != gate::LEN {
        return Err(fail(errors::BAD_GATE, "risk_gate: not a gate account"));
    }
    if ml_agent.address() != &ml_agent_cpi::ID {
        return Err(fail(
            errors::WRONG_MODEL,
            "risk_gate: not the ml_agent program",
        ));
    }
    // Copy what the checks need; the borrow ends before the CPI.
    let (approve_class, min_confidence, caps, floor) = {
        let g = gate_acc.try_borrow()?;
        if g[..8] != gate::MAGIC {
            return Err(fail(errors::BAD_GATE, "risk_gate: gate not initialized"));
        }
        if g[gate::MODEL..gate::MODEL + 32] != *model.address().as_ref() {
            return Err(fail(errors::WRONG_MODEL, "risk_gate: not the gate's model"));
        }
        if amount == 0 || amount > u64_at(&g, gate::MAX_AMOUNT) {
            return Err(fail(errors::BAD_AMOUNT, "risk_gate: amount out of bounds"));
        }
        let caps = [
            u32_at(&g, gate::CAPS) as i32,
            u32_at(&g, gate::CAPS + 4) as i32,
        ];
        (
            u32_at(&g, gate::APPROVE_CLASS),
            u32_at(&g, gate::MIN_CONFIDENCE),
            caps,
            u64_at(&g, gate::FLOOR),
        )
    };
    let available = gate_acc.lamports().saturating_sub(floor);
    if amount > available {
        return Err(fail(
            errors::BAD_AMOUNT,
            "risk_gate: not enough lamports above the floor",
        ));
    }

    let features = [
        feature_fx(amount, caps[0]),
        feature_fx(borrower.lamports(), caps[1]),
    ];
    Infer {
        program: &ml_agent_cpi::ID,
        model,
        weights,
        features: &features,
        flags: 0,
    }
    .invoke()?;
    let mut result = InferenceResult::new();
    result.read(&ml_agent_cpi::ID)?;
    if result.class() != approve_class || result.confidence_q16() < min_confidence {
        return Err(fail(errors::DENIED, "risk_gate: the model denied the loan"));
    }

    // The gate is ours: debit it directly; any account can be credited.
    gate_acc.set_lamports(gate_acc.lamports() - amount);
    borrower.set_lamports(borrower.lamports() + amount);
    let mut g = gate_acc.try_borrow_mut()?;
    let lent = u64_at(&g, gate::LENT).saturating_add(amount);
    g[gate::LENT..gate::LENT + 8].copy_from_slice(&lent.to_le_bytes());
    Ok(())
}

#[cfg(all(target_arch = "bpf", not(feature = "no-entrypoint")))]
mod entry {
    pinocchio::program_entrypoint!(crate::process_instruction, 8);
}

#[cfg(target_arch = "bpf")]
mod runtime {
    pinocchio::no_allocator!();

    /// As in ml_agent: ignore the location (it makes sbpf-linker 0.1.9 emit an ELF the loader
    /// rejects) and stop.
    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
        const MSG: &str = "risk_gate: panic";
        // SAFETY: static message; `abort` never returns.
        unsafe {
            pinocchio::syscalls::sol_log_(MSG.as_ptr(), MSG.len() as u64);
            pinocchio::syscalls::abort()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_lamports_over_2_pow_30_in_q16_capped() {
        assert_eq!(feature_fx(1 << 30, i32::MAX), 65536);
        assert_eq!(feature_fx(3 << 29, i32::MAX), 98304);
        assert_eq!(feature_fx(u64::MAX, 1_000_000), 1_000_000);
        assert_eq!(feature_fx(0, 5), 0);
    }

    #[test]
    fn layout_is_contiguous() {
        assert_eq!(gate::MODEL + 48, gate::FLOOR);
        assert_eq!(gate::LENT + 8, gate::LEN);
    }
}
