//! SPARSE dense-layer kernel: per output row, (u16 column, value) pairs between u32 row offsets.
//!
//! The compiler picks SPARSE when it is smaller than COMPACT (pruned layers). The model bytes are
//! not trusted structurally, so the row offsets and every column index are checked here: the
//! column check is one compare per non-zero, cheaper than validating the layer up front on every
//! call.

use super::{ExecError, Why};

/// Values are stored as i8 (INT8 layers) or little-endian i16 (INT16 layers).
pub trait SparseValue: Copy {
    fn widen(self) -> i64;
}
impl SparseValue for i8 {
    #[inline(always)]
    fn widen(self) -> i64 {
        self as i64
    }
}
impl SparseValue for i16 {
    #[inline(always)]
    fn widen(self) -> i64 {
        self as i64
    }
}

pub struct SparseRows<'a, V> {
    /// `n_out + 1` ascending offsets into `idx`/`val`, from 0 to nnz.
    pub row_ptr: &'a [u32],
    pub idx: &'a [u16],
    pub val: &'a [V],
}

/// `acc[i] = sum_k val[k] * x[idx[k]]` over row i's entries (exact; the caller adds the bias).
#[inline(never)]
pub fn sparse<V: SparseValue>(
    w: &SparseRows<V>,
    x: &[i64],
    acc: &mut [i64],
) -> Result<(), ExecError> {
    let n_in = x.len();
    let nnz = w.idx.len();
    if w.row_ptr.len() != acc.len() + 1 || w.val.len() != nnz {
        return Err(ExecError::Model(Why::SparseRows));
    }
    let xp = x.as_ptr();
    let mut start = w.row_ptr[0] as usize;
    if start != 0 {
        return Err(ExecError::Model(Why::SparseRows));
    }
    for (i, a) in acc.iter_mut().enumerate() {
        let end = w.row_ptr[i + 1] as usize;
        if end < start || end > nnz {
            return Err(ExecError::Model(Why::SparseRows));
        }
        let mut s = 0i64;
        // SAFETY: start <= end <= nnz bounds both arrays; each column is checked below n_in
        // before it indexes x.
        unsafe {
            let mut ip = w.idx.as_ptr().add(start);
            let mut vp = w.val.as_ptr().add(start);
            let stop = w.idx.as_ptr().add(end);
            while ip < stop {
                let j = *ip as usize;
                if j >= n_in {
                    return Err(ExecError::Model(Why::SparseIndex));
                }
                s = s.wrapping_add((*vp).widen().wrapping_mul(*xp.add(j)));
                ip = ip.add(1);
                vp = vp.add(1);
            }
        }
        *a = s;
        start = end;
    }
    if start != nnz {
        return Err(ExecError::Model(Why::SparseRows));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_dense_product_and_rejects_bad_indices() {
        // Rows: [0, 2, 0], [], [-3, 0, 1]
        let w = SparseRows {
            row_ptr: &[0, 1, 1, 3],
            idx: &[1, 0, 2],
            val: &[2i8, -3, 1],
        };
        let mut acc = [0i64; 3];
        sparse(&w, &[5, 7, 11], &mut acc).unwrap();
        assert_eq!(acc, [14, 0, -4]);

        let bad = SparseRows {
            idx: &[1, 0, 3],
            ..w
        };
        assert!(sparse(&bad, &[5, 7, 11], &mut acc).is_err());
        let bad = SparseRows {
            row_ptr: &[0, 2, 1, 3],
            ..w
        };
        assert!(sparse(&bad, &[5, 7, 11], &mut acc).is_err());
        let w16 = SparseRows {
            row_ptr: &[0, 1],
            idx: &[0],
            val: &[-30000i16],
        };
        let mut one = [0i64];
        sparse(&w16, &[-32768], &mut one).unwrap();
        assert_eq!(one, [983_040_000]);
    }
}
