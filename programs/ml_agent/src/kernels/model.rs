//! Zero-copy view of a v1 model file (docs/model-format.md): header, feature ranges, input
//! affine and op table, with the bounds and alignment checks every array access relies on.
//!
//! The registry guarantees the bytes are what the owner uploaded, not that they are a valid
//! model, so nothing here trusts an offset or a count: each array is checked to lie inside the
//! file and to be aligned for its element type before it is viewed. Checks are O(1) per array;
//! structural checks that would be O(size) (sparse columns, tree links) happen where the kernels
//! touch the data.

use core::mem::{align_of, size_of};

use super::{ExecError, Why};

pub const MAGIC: [u8; 4] = *b"MLAG";
pub const VERSION: u16 = 1;
pub const HEADER_SIZE: usize = 64;
pub const OP_SIZE: usize = 64;

/// Op kinds (`OpRecord::kind`).
pub const DENSE: u8 = 1;
pub const LUT: u8 = 2;
pub const SOFTMAX: u8 = 3;
pub const ARGMAX: u8 = 4;
pub const TREES: u8 = 5;
/// Sequence ops over time-major activations (`kernels::conv`).
pub const CONV1D: u8 = 6;
pub const POOL: u8 = 7;
/// Gated recurrent unit over a window (`recurrent`).
pub const GRU: u8 = 8;
/// Long short-term memory over a window (`recurrent`).
pub const LSTM: u8 = 9;

/// Dtypes (`Header::input_dtype`, `OpRecord::dtype`).
pub const DTYPE_NONE: u8 = 0;
pub const I8: u8 = 1;
pub const I16: u8 = 2;

/// Dense layouts (`OpRecord::layout`).
pub const COMPACT: u8 = 1;
pub const PACKED: u8 = 2;
pub const SPARSE: u8 = 3;
/// Three 21-bit lanes per word, twelve rows per group (`dense::packed3_i8`); INT8 only.
pub const PACKED3: u8 = 4;

/// The 64-byte file header, field for field (little-endian, naturally aligned).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Header {
    pub magic: [u8; 4],
    pub version: u16,
    pub header_size: u16,
    pub file_len: u32,
    pub arch: u8,
    pub task: u8,
    pub input_dtype: u8,
    pub scaling: u8,
    pub n_features: u16,
    pub n_outputs: u16,
    pub n_classes: u16,
    pub n_ops: u16,
    pub input_zp: i32,
    pub label_kind: u8,
    pub out_frac_bits: i8,
    pub reserved0: u16,
    pub ranges_off: u32,
    pub affine_off: u32,
    pub ops_off: u32,
    pub payload_off: u32,
    pub payload_len: u32,
    pub labels_off: u32,
    pub labels_len: u32,
    pub reserved1: u32,
}

/// One 64-byte op record.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct OpRecord {
    pub kind: u8,
    pub dtype: u8,
    pub layout: u8,
    pub mode: u8,
    pub n_in: u32,
    pub n_out: u32,
    pub p0: u32,
    pub p1: u32,
    pub p2: u32,
    pub shift: u8,
    pub reserved: u8,
    pub p3: u16,
    pub zp: i32,
    pub lo: i32,
    pub hi: i32,
    pub off: [u32; 6],
}

const _: () = assert!(size_of::<Header>() == HEADER_SIZE && size_of::<OpRecord>() == OP_SIZE);
#[cfg(target_endian = "big")]
compile_error!("the model format is little-endian");

/// `x` rounded up to a multiple of 8: where the format starts each array.
#[inline(always)]
pub const fn a8(x: usize) -> usize {
    (x + 7) & !7
}

/// Inclusive `qmin, qmax` of a quantized dtype.
#[inline(always)]
pub fn dtype_range(dtype: u8) -> Result<(i64, i64), ExecError> {
    match dtype {
        I8 => Ok((-128, 127)),
        I16 => Ok((-32768, 32767)),
        _ => Err(ExecError::Model(Why::Dtype)),
    }
}

#[derive(Clone, Copy)]
pub struct ModelView<'a> {
    pub bytes: &'a [u8],
    pub header: &'a Header,
    pub n_features: usize,
    pub n_ops: usize,
}

impl<'a> ModelView<'a> {
    /// Check the header and the op table's placement. `bytes` must start 8-byte aligned (the
    /// registry stores models at an aligned offset; host callers use aligned buffers).
    #[inline(never)]
    pub fn parse(bytes: &'a [u8]) -> Result<ModelView<'a>, ExecError> {
        if bytes.as_ptr() as usize & 7 != 0 {
            return Err(ExecError::Model(Why::Misaligned));
        }
        if bytes.len() < HEADER_SIZE {
            return Err(ExecError::Model(Why::NotV1));
        }
        // SAFETY: 64 readable bytes, 8-aligned; Header is plain integers.
        let header = unsafe { &*(bytes.as_ptr() as *const Header) };
        if header.magic != MAGIC
            || header.version != VERSION
            || header.header_size as usize != HEADER_SIZE
        {
            return Err(ExecError::Model(Why::NotV1));
        }
        if header.file_len as usize != bytes.len() {
            return Err(ExecError::Model(Why::FileLen));
        }
        let n_features = header.n_features as usize;
        let n_ops = header.n_ops as usize;
        if n_features == 0 || n_ops == 0 {
            return Err(ExecError::Model(Why::Empty));
        }
        let view = ModelView {
            bytes,
            header,
            n_features,
            n_ops,
        };
        view.array::<OpRecord>(header.ops_off as usize, n_ops)?;
        let (lo, hi) = view.ranges_offsets();
        view.array::<i32>(lo, n_features)?;
        view.array::<i32>(hi, n_features)?;
        if header.input_dtype != DTYPE_NONE {
            dtype_range(header.input_dtype)?;
            let (c, m, s) = view.affine_offsets();
            view.array::<i32>(c, n_features)?;
            view.array::<i32>(m, n_features)?;
            view.array::<u8>(s, n_features)?;
        }
        Ok(view)
    }

    /// The view `parse` returns, without its checks.
    ///
    /// # Safety
    /// `parse(bytes)` has succeeded on these exact bytes, at this address (the registry runs it
    /// in `finalize_version`, after which a version's bytes never change).
    #[inline(always)]
    pub unsafe fn checked_before(bytes: &'a [u8]) -> ModelView<'a> {
        let header = &*(bytes.as_ptr() as *const Header);
        ModelView {
            bytes,
            header,
            n_features: header.n_features as usize,
            n_ops: header.n_ops as usize,
        }
    }

    /// Offsets of the `lo` and `hi` arrays (each array starts 8-aligned).
    #[inline(always)]
    pub fn ranges_offsets(&self) -> (usize, usize) {
        let lo = self.header.ranges_off as usize;
        (lo, a8(lo + 4 * self.n_features))
    }

    /// Offsets of the input affine's `c`, `m` and `s` arrays.
    #[inline(always)]
    pub fn affine_offsets(&self) -> (usize, usize, usize) {
        let c = self.header.affine_off as usize;
        let m = a8(c + 4 * self.n_features);
        (c, m, a8(m + 4 * self.n_features))
    }

    /// `count` elements of `T` at byte offset `off`, checked to be inside the file and aligned.
    /// Callers keep `off` and `count` below 2^40 (u32 fields times widths bounded by the
    /// scratch arena), so the end offset cannot overflow.
    #[inline(always)]
    pub fn array<T>(&self, off: usize, count: usize) -> Result<&'a [T], ExecError> {
        let end = off + count * size_of::<T>();
        if off & (align_of::<T>() - 1) != 0 || end > self.bytes.len() {
            return Err(ExecError::Model(Why::ArrayBounds));
        }
        // SAFETY: [off, end) is inside the file; the base is 8-aligned and off is aligned for T;
        // T is a plain integer type (or a repr(C) record of them).
        Ok(unsafe { core::slice::from_raw_parts(self.bytes.as_ptr().add(off) as *const T, count) })
    }

    /// `array` without its checks.
    ///
    /// # Safety
    /// `array(off, count)` succeeds on these bytes (the registry's `OPS_CHECKED` mark records
    /// a checked forward pass over the same bytes, which makes the same calls).
    #[inline(always)]
    pub unsafe fn array_unchecked<T>(&self, off: usize, count: usize) -> &'a [T] {
        core::slice::from_raw_parts(self.bytes.as_ptr().add(off) as *const T, count)
    }

    #[inline(always)]
    pub fn op(&self, i: usize) -> &'a OpRecord {
        // SAFETY: parse() checked that n_ops records fit at ops_off, aligned; callers pass
        // i < n_ops.
        unsafe {
            &*(self
                .bytes
                .as_ptr()
                .add(self.header.ops_off as usize + i * OP_SIZE) as *const OpRecord)
        }
    }

    /// Declared inclusive ranges of the raw Q16.16 features.
    #[inline(always)]
    pub fn ranges(&self) -> (&'a [i32], &'a [i32]) {
        let (lo, hi) = self.ranges_offsets();
        let view = |off: usize| {
            // SAFETY: parse() checked both arrays.
            unsafe {
                core::slice::from_raw_parts(
                    self.bytes.as_ptr().add(off) as *const i32,
                    self.n_features,
                )
            }
        };
        (view(lo), view(hi))
    }
}
