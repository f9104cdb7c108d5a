//! A bump arena of i64 words for activations.
//!
//! The BPF stack frame is 4 KiB, too small for activation vectors, and the program has no
//! allocator. On chain the arena is the runtime's heap region (`0x300000000`, 32 KiB unless the
//! transaction requests a larger heap frame), which nothing else in the program uses; host tests
//! back it with a `Vec`. Every slice handed out is disjoint from the others, so callers may hold
//! several at once.

use core::marker::PhantomData;

use super::{ExecError, Why};

/// Bytes of the heap region every transaction gets without a `RequestHeapFrame` instruction.
pub const DEFAULT_HEAP_BYTES: usize = 32 * 1024;

pub struct Scratch<'a> {
    base: *mut i64,
    cap: usize,
    used: usize,
    _buf: PhantomData<&'a mut [i64]>,
}

impl Scratch<'static> {
    /// The program's heap region as an arena.
    ///
    /// # Safety
    /// Call at most once per instruction, with no other user of the heap region (the program
    /// declares `no_allocator!`, so nothing else allocates there).
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    pub unsafe fn heap() -> Scratch<'static> {
        Scratch {
            base: pinocchio::entrypoint::HEAP_START_ADDRESS as *mut i64,
            cap: DEFAULT_HEAP_BYTES / 8,
            used: 0,
            _buf: PhantomData,
        }
    }
}

impl<'a> Scratch<'a> {
    /// An arena over a caller-owned buffer (host tests and tools).
    pub fn new(buf: &'a mut [i64]) -> Scratch<'a> {
        Scratch {
            base: buf.as_mut_ptr(),
            cap: buf.len(),
            used: 0,
            _buf: PhantomData,
        }
    }

    /// Words still available.
    pub fn remaining(&self) -> usize {
        self.cap - self.used
    }

    /// `n` fresh words (contents unspecified: callers write before they read).
    #[inline(always)]
    pub fn take(&mut self, n: usize) -> Result<&'a mut [i64], ExecError> {
        if n > self.cap - self.used {
            return Err(ExecError::Model(Why::Scratch));
        }
        // SAFETY: [used, used + n) lies inside the arena and was never handed out before, so
        // the slice aliases nothing; the arena outlives 'a by construction.
        let out = unsafe { core::slice::from_raw_parts_mut(self.base.add(self.used), n) };
        self.used += n;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_disjoint_slices_until_full() {
        let mut buf = [0i64; 10];
        let mut s = Scratch::new(&mut buf);
        let a = s.take(4).unwrap();
        let b = s.take(6).unwrap();
        a.fill(1);
        b.fill(2);
        assert_eq!(a, &[1; 4]);
        assert_eq!(s.remaining(), 0);
        assert!(s.take(1).is_err());
        assert!(s.take(0).is_ok());
    }
}
