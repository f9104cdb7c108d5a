//! Compile-time SHA-256, so every Anchor discriminator in the program is derived from its name
//! (`sha256("global:<ix>")[..8]` etc.) instead of being pasted as bytes that could drift.

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

pub(crate) const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// Maximum input length accepted at compile time; discriminator preimages are short.
const MAX_LEN: usize = 119;

/// SHA-256 of the concatenation `prefix || name`, evaluated in const context.
pub const fn sha256_concat(prefix: &[u8], name: &[u8]) -> [u8; 32] {
    let len = prefix.len() + name.len();
    assert!(len <= MAX_LEN, "discriminator preimage too long");
    // Two blocks hold any preimage up to 119 bytes plus padding and length.
    let mut buf = [0u8; 128];
    let mut i = 0;
    while i < prefix.len() {
        buf[i] = prefix[i];
        i += 1;
    }
    let mut j = 0;
    while j < name.len() {
        buf[i + j] = name[j];
        j += 1;
    }
    buf[len] = 0x80;
    let blocks = if len + 9 <= 64 { 1 } else { 2 };
    let bit_len = (len as u64) * 8;
    let end = blocks * 64;
    let mut b = 0;
    while b < 8 {
        buf[end - 1 - b] = (bit_len >> (8 * b)) as u8;
        b += 1;
    }
    let mut h = H0;
    let mut blk = 0;
    while blk < blocks {
        h = compress(h, &buf, blk * 64);
        blk += 1;
    }
    let mut out = [0u8; 32];
    let mut k = 0;
    while k < 8 {
        let bytes = h[k].to_be_bytes();
        out[4 * k] = bytes[0];
        out[4 * k + 1] = bytes[1];
        out[4 * k + 2] = bytes[2];
        out[4 * k + 3] = bytes[3];
        k += 1;
    }
    out
}

const fn compress(mut h: [u32; 8], buf: &[u8; 128], off: usize) -> [u32; 8] {
    let mut w = [0u32; 64];
    let mut t = 0;
    while t < 16 {
        let p = off + 4 * t;
        w[t] = u32::from_be_bytes([buf[p], buf[p + 1], buf[p + 2], buf[p + 3]]);
        t += 1;
    }
    while t < 64 {
        let s0 = w[t - 15].rotate_right(7) ^ w[t - 15].rotate_right(18) ^ (w[t - 15] >> 3);
        let s1 = w[t - 2].rotate_right(17) ^ w[t - 2].rotate_right(19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16]
            .wrapping_add(s0)
            .wrapping_add(w[t - 7])
            .wrapping_add(s1);
        t += 1;
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
    t = 0;
    while t < 64 {
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = hh
            .wrapping_add(s1)
            .wrapping_add(ch)
            .wrapping_add(K[t])
            .wrapping_add(w[t]);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        hh = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
        t += 1;
    }
    h[0] = h[0].wrapping_add(a);
    h[1] = h[1].wrapping_add(b);
    h[2] = h[2].wrapping_add(c);
    h[3] = h[3].wrapping_add(d);
    h[4] = h[4].wrapping_add(e);
    h[5] = h[5].wrapping_add(f);
    h[6] = h[6].wrapping_add(g);
    h[7] = h[7].wrapping_add(hh);
    h
}

/// One SHA-256 compression of a 64-byte block (host-side streaming hasher in `hash.rs`).
#[cfg(not(target_arch = "bpf"))]
pub(crate) fn compress_block(h: [u32; 8], block: &[u8; 64]) -> [u32; 8] {
    let mut buf = [0u8; 128];
    buf[..64].copy_from_slice(block);
    compress(h, &buf, 0)
}

/// First 8 bytes of `sha256(prefix || name)`: Anchor's discriminator rule.
pub const fn discriminator(prefix: &[u8], name: &[u8]) -> [u8; 8] {
    let h = sha256_concat(prefix, name);
    [h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_known_vectors() {
        // sha256("") and sha256("abc") from FIPS 180-2.
        assert_eq!(sha256_concat(b"", b"")[..4], [0xe3, 0xb0, 0xc4, 0x42],);
        assert_eq!(sha256_concat(b"a", b"bc")[28..], [0xf2, 0x00, 0x15, 0xad],);
        // A two-block preimage (56 bytes), also from FIPS 180-2.
        let msg = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(
            sha256_concat(&msg[..10], &msg[10..])[..4],
            [0x24, 0x8d, 0x6a, 0x61]
        );
    }

    #[test]
    fn anchor_initialize_discriminator() {
        // Anchor's well-known discriminator for `global:initialize`.
        assert_eq!(
            discriminator(b"global:", b"initialize"),
            [175, 175, 109, 31, 13, 152, 155, 237]
        );
    }
}
