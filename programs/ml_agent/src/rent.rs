//! Rent-exempt minimum without floats.
//!
//! Pinocchio 0.12's `Rent` assumes the post-SIMD-0194 sysvar (threshold folded into
//! lamports_per_byte) and under-funds accounts on today's clusters, where the sysvar still holds
//! `lamports_per_byte_year` and an f64 `exemption_threshold` of 2.0. We read both and accept
//! exactly the thresholds 1.0 and 2.0 (bit patterns), so no f64 maths reaches the BPF backend.

use pinocchio::error::ProgramError;

const ACCOUNT_STORAGE_OVERHEAD: u64 = 128;
const F64_ONE: u64 = 0x3FF0_0000_0000_0000;
const F64_TWO: u64 = 0x4000_0000_0000_0000;

/// Bincode layout of the Rent sysvar: u64, f64, u8 (17 bytes).
#[repr(C)]
struct RawRent {
    lamports_per_byte_year: u64,
    exemption_threshold_bits: u64,
    burn_percent: u8,
}

/// Lamports for a rent-exempt account of `space` data bytes.
pub fn minimum_balance(space: usize) -> Result<u64, ProgramError> {
    let raw = read_rent()?;
    let factor = match raw.exemption_threshold_bits {
        F64_ONE => 1,
        F64_TWO => 2,
        _ => return Err(ProgramError::UnsupportedSysvar),
    };
    let bytes = ACCOUNT_STORAGE_OVERHEAD + space as u64;
    crate::math::mul_u64(bytes, raw.lamports_per_byte_year)
        .and_then(|v| crate::math::mul_u64(v, factor))
        .ok_or(ProgramError::ArithmeticOverflow)
}

#[cfg(target_arch = "bpf")]
fn read_rent() -> Result<RawRent, ProgramError> {
    let mut raw = RawRent {
        lamports_per_byte_year: 0,
        exemption_threshold_bits: 0,
        burn_percent: 0,
    };
    // SAFETY: RawRent is repr(C) with the sysvar's 17 bincode bytes at its start.
    #[allow(deprecated)]
    let rc =
        unsafe { pinocchio::syscalls::sol_get_rent_sysvar(&mut raw as *mut RawRent as *mut u8) };
    if rc != 0 {
        return Err(ProgramError::UnsupportedSysvar);
    }
    let _ = raw.burn_percent;
    Ok(raw)
}

#[cfg(not(target_arch = "bpf"))]
fn read_rent() -> Result<RawRent, ProgramError> {
    // Host builds (unit tests) use mainnet's values.
    Ok(RawRent {
        lamports_per_byte_year: 3480,
        exemption_threshold_bits: F64_TWO,
        burn_percent: 50,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_mainnet_rent() {
        // 0 bytes -> 890,880 lamports, the well-known minimum for an empty account.
        assert_eq!(super::minimum_balance(0).unwrap(), 890_880);
    }
}
