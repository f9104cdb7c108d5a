//! Borsh readers for instruction arguments. Any short or malformed input maps to Anchor's
//! `InstructionDidNotDeserialize` (102), the error Anchor clients expect for bad data.

use crate::error::MlAgentError;

pub struct ArgReader<'a> {
    data: &'a [u8],
    pos: usize,
}

type R<T> = Result<T, MlAgentError>;

impl<'a> ArgReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        ArgReader { data, pos: 0 }
    }

    pub fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(MlAgentError::InstructionDidNotDeserialize)?;
        let out = self
            .data
            .get(self.pos..end)
            .ok_or(MlAgentError::InstructionDidNotDeserialize)?;
        self.pos = end;
        Ok(out)
    }

    pub fn array<const N: usize>(&mut self) -> R<&'a [u8; N]> {
        let s = self.take(N)?;
        // take() returned exactly N bytes.
        s.try_into()
            .map_err(|_| MlAgentError::InstructionDidNotDeserialize)
    }

    pub fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn bool(&mut self) -> R<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(MlAgentError::InstructionDidNotDeserialize),
        }
    }
    pub fn u16(&mut self) -> R<u16> {
        Ok(u16::from_le_bytes(*self.array::<2>()?))
    }
    pub fn u32(&mut self) -> R<u32> {
        Ok(u32::from_le_bytes(*self.array::<4>()?))
    }
    pub fn u64(&mut self) -> R<u64> {
        Ok(u64::from_le_bytes(*self.array::<8>()?))
    }
    pub fn i64(&mut self) -> R<i64> {
        Ok(i64::from_le_bytes(*self.array::<8>()?))
    }
    /// Borsh `bytes` / `Vec<u8>`: u32 length prefix.
    pub fn bytes(&mut self) -> R<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    /// Borsh `Vec<T>` of fixed-size elements: returns (count, raw bytes).
    pub fn vec_raw(&mut self, elem_size: usize) -> R<(usize, &'a [u8])> {
        let n = self.u32()? as usize;
        // mul_u64: `usize::checked_mul` lowers to __multi3, which the BPF backend rejects.
        let len = crate::math::mul_u64(n as u64, elem_size as u64)
            .ok_or(MlAgentError::InstructionDidNotDeserialize)? as usize;
        Ok((n, self.take(len)?))
    }
    /// Trailing bytes are a client bug; Anchor rejects them too.
    pub fn finish(&self) -> R<()> {
        if self.pos == self.data.len() {
            Ok(())
        } else {
            Err(MlAgentError::InstructionDidNotDeserialize)
        }
    }
}
