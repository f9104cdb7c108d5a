//! SHA-256 over a list of slices without copying them.
//!
//! On chain this is one `sol_sha256` syscall (85 CU + 0.5 CU per byte, slices may point straight
//! into account data). Host builds (unit tests, the IDL generator) use a plain software
//! implementation built on the same compression function as the compile-time hasher.

/// SHA-256 of the concatenation of `parts`.
#[cfg(target_arch = "bpf")]
#[inline(always)]
pub fn sha256v(parts: &[&[u8]]) -> [u8; 32] {
    let mut out = [0u8; 32];
    sha256v_into(parts, &mut out);
    out
}

/// SHA-256 of the concatenation of `parts`, written to `out` (on chain the syscall writes it
/// there directly, with no copy through a temporary).
#[cfg(target_arch = "bpf")]
#[inline(always)]
pub fn sha256v_into(parts: &[&[u8]], out: &mut [u8; 32]) {
    // SAFETY: `&[u8]` is (ptr, len), the layout the syscall reads; it fills all 32 bytes.
    unsafe {
        pinocchio::syscalls::sol_sha256(
            parts.as_ptr() as *const u8,
            parts.len() as u64,
            out.as_mut_ptr(),
        );
    }
}

/// SHA-256 of the concatenation of `parts`, written to `out`.
#[cfg(not(target_arch = "bpf"))]
pub fn sha256v_into(parts: &[&[u8]], out: &mut [u8; 32]) {
    *out = sha256v(parts);
}

/// SHA-256 of the concatenation of `parts`.
#[cfg(not(target_arch = "bpf"))]
pub fn sha256v(parts: &[&[u8]]) -> [u8; 32] {
    use crate::sha256_const::{compress_block, H0};
    let mut h = H0;
    let mut block = [0u8; 64];
    let mut fill = 0usize;
    let mut total: u64 = 0;
    for part in parts {
        for &b in part.iter() {
            block[fill] = b;
            fill += 1;
            if fill == 64 {
                h = compress_block(h, &block);
                fill = 0;
            }
        }
        total += part.len() as u64;
    }
    block[fill] = 0x80;
    fill += 1;
    if fill > 56 {
        block[fill..].fill(0);
        h = compress_block(h, &block);
        fill = 0;
    }
    block[fill..56].fill(0);
    block[56..].copy_from_slice(&(total * 8).to_be_bytes());
    h = compress_block(h, &block);
    let mut out = [0u8; 32];
    for (i, word) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::sha256v;

    #[test]
    fn matches_known_vectors() {
        // FIPS 180-2 "abc", split across slices, and the empty message.
        assert_eq!(sha256v(&[b"a", b"", b"bc"])[28..], [0xf2, 0x00, 0x15, 0xad]);
        assert_eq!(sha256v(&[])[..4], [0xe3, 0xb0, 0xc4, 0x42]);
        // 56 bytes: the padding spills into a second block.
        let msg = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(sha256v(&[msg])[..4], [0x24, 0x8d, 0x6a, 0x61]);
        // One million 'a' (FIPS 180-2 long vector).
        let a = [b'a'; 1000];
        let parts = [&a[..]; 1000];
        assert_eq!(sha256v(&parts)[..4], [0xcd, 0xc7, 0x6e, 0x5c]);
    }
}
