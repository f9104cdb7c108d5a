//! Elementwise activations (sigmoid, tanh, hard-sigmoid) as lookup tables built by the compiler.
//!
//! The executor only calls these on inputs proven to lie in the table's dtype range (the
//! previous op clamps there), so the index arithmetic below cannot leave the table.

/// INT8: `y = t[q + 128]`, 256 entries; `q` in -128..=127.
#[inline(never)]
pub fn lut_i8(table: &[i8; 256], x: &[i64], y: &mut [i64]) {
    for (o, v) in y.iter_mut().zip(x) {
        *o = table[((*v + 128) as usize) & 0xFF] as i64;
    }
}

/// INT16: 513 entries over q + 32768 in steps of 128, linear interpolation on the low 7 bits:
/// `y = t[i] + (((t[i+1] - t[i]) * frac + 64) >> 7)`; `q` in -32768..=32767.
#[inline(never)]
pub fn lut_i16(table: &[i16; 513], x: &[i64], y: &mut [i64]) {
    for (o, v) in y.iter_mut().zip(x) {
        let u = ((*v + 32768) as usize) & 0xFFFF;
        let i = u >> 7;
        let frac = (u & 127) as i64;
        let t0 = table[i] as i64;
        let t1 = table[i + 1] as i64;
        *o = t0 + (((t1 - t0) * frac + 64) >> 7);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_indexes_by_offset_binary() {
        let mut t = [0i8; 256];
        for (i, v) in t.iter_mut().enumerate() {
            *v = (i as i32 - 128).clamp(-100, 100) as i8;
        }
        let mut y = [0i64; 4];
        lut_i8(&t, &[-128, 0, 127, -5], &mut y);
        assert_eq!(y, [-100, 0, 100, -5]);
    }

    #[test]
    fn int16_interpolates_and_rounds_half_up() {
        let mut t = [0i16; 513];
        for (i, v) in t.iter_mut().enumerate() {
            *v = (i as i32 * 10 - 2560) as i16;
        }
        // q = -32768 -> t[0]; q = 64 -> u = 32832: i = 256, frac 64: 0 + (10*64+64)>>7 = 5.
        // q = 32767 -> i = 511, frac 127: t[511] + (10*127+64)>>7 = 2550 + 10.
        let mut y = [0i64; 4];
        lut_i16(&t, &[-32768, 64, 32767, -1], &mut y);
        assert_eq!(y, [-2560, 5, 2560, 0]);
    }
}
