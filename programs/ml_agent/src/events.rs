//! Anchor-compatible events: `sol_log_data([sha256("event:<Name>")[..8] ++ borsh(body)])`.

use crate::interface::TypeSpec;

/// Emit an event. `bytes` is discriminator + body, as built by `BorshWriter::event`; it must be
/// one slice because `sol_log_data` logs each slice as its own base64 field and Anchor clients
/// decode only the first.
#[inline(always)]
pub fn emit(bytes: &[u8]) {
    let _parts: [&[u8]; 1] = [bytes];
    #[cfg(target_arch = "bpf")]
    {
        // SAFETY: `_parts` is an array of (ptr, len) slices, the layout sol_log_data expects.
        unsafe {
            pinocchio::syscalls::sol_log_data(_parts.as_ptr() as *const u8, _parts.len() as u64);
        }
    }
}

/// Borsh writer over a caller-provided stack buffer (no allocation on hot paths).
pub struct BorshWriter<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> BorshWriter<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        BorshWriter { buf, pos: 0 }
    }
    /// A writer for an event body, starting with the event's discriminator.
    pub fn event(spec: &TypeSpec, buf: &'a mut [u8]) -> Self {
        let mut w = BorshWriter { buf, pos: 0 };
        w.bytes(&spec.discriminator);
        w
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.buf[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
        self
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.bytes(&[v])
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }
    pub fn finish(&self) -> &[u8] {
        &self.buf[..self.pos]
    }
}
