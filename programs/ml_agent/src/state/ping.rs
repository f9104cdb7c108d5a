//! `PingRecord`: the per-authority liveness account created by `ping`.

use crate::interface::{field, Ty, TypeSpec};

/// Layout is `repr(C)` with explicit padding so its bytes after the 8-byte discriminator equal the
/// borsh encoding the IDL declares: Anchor clients decode it as a normal borsh account.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PingRecord {
    pub discriminator: [u8; 8],
    pub authority: [u8; 32],
    pub count: u64,
    pub last_slot: u64,
    pub last_payload_len: u32,
    pub bump: u8,
    pub padding: [u8; 3],
}

impl PingRecord {
    pub const LEN: usize = core::mem::size_of::<PingRecord>();
    pub const SEED: &'static [u8] = b"ping";

    pub const SPEC: TypeSpec = TypeSpec::account(
        "PingRecord",
        "Liveness record written by `ping`: proves the program can create and write accounts.",
        &[
            field("authority", Ty::Pubkey),
            field("count", Ty::U64),
            field("last_slot", Ty::U64),
            field("last_payload_len", Ty::U32),
            field("bump", Ty::U8),
            field("padding", Ty::Array(&Ty::U8, 3)),
        ],
    );

    /// # Safety
    /// `data` must be at least `LEN` bytes and 8-byte aligned (account data always is).
    pub unsafe fn from_bytes_mut(data: &mut [u8]) -> &mut PingRecord {
        &mut *(data.as_mut_ptr() as *mut PingRecord)
    }
}
