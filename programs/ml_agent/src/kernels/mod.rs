//! Pure `no_std` fixed-point kernels. Compiled into the program and unit-tested on the host
//! against the Python reference's golden vectors. No allocation; every loop is bounded by
//! dimensions validated once, up front, so inner loops carry no bounds checks.
//!
//! `exec::run` is the entry point: it walks a model file (`model::ModelView`) op by op.

pub mod conv;
pub mod cost;
pub mod dense;
pub mod dense_units;
pub mod exec;
pub mod fixed;
pub mod job;
pub mod lut;
pub mod marked;
pub mod model;
pub mod recurrent;
pub mod scratch;
pub mod softmax;
pub mod sparse;
pub mod trees;

#[cfg(test)]
mod golden_tests;

/// Why a forward pass did not run. The instruction maps each to a program error.
///
/// Kept to 8 bytes (no `&str` payload) so `Result<(), ExecError>` returns in one register: the
/// BPF backend cannot return two-register values from functions it does not inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecError {
    /// The number of features differs from the model's.
    FeatureCount,
    /// Feature `i` lies outside the model's declared range.
    FeatureOutOfRange(u32),
    /// The model file is malformed or uses something these kernels do not implement.
    Model(Why),
}

macro_rules! whys {
    ($( $name:ident => $msg:literal, )*) => {
        /// What is wrong with a model the kernels refuse to execute (logged on chain).
        #[repr(u8)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Why {
            $( $name, )*
        }

        impl Why {
            pub const fn msg(self) -> &'static str {
                match self { $( Why::$name => $msg, )* }
            }
        }
    };
}

whys! {
    WidthChain => "op n_in differs from the previous op's n_out",
    EmptyOutput => "op n_out is 0",
    ArgmaxNotLast => "ARGMAX must be the last op",
    OpKind => "unknown op kind",
    DenseParams => "dense shift outside 1..62 or clamp lo > hi",
    DenseLayout => "unsupported dense layout or dtype",
    LutInput => "LUT input is not confined to its dtype",
    LutTable => "LUT table",
    SoftmaxParams => "softmax mode, K or k_shift",
    SoftmaxWidth => "softmax widths (binary reads 1 logit and writes 2)",
    ArgmaxParams => "argmax mode, divisor or widths",
    TreesParams => "trees mode or base length",
    InputAffine => "input affine: length or shift outside 1..62",
    Dtype => "dtype must be INT8 or INT16",
    Misaligned => "model bytes are not 8-byte aligned",
    NotV1 => "not a v1 model file",
    FileLen => "file_len differs from the stored size",
    Empty => "a model needs features and ops",
    ArrayBounds => "an array lies outside the file or is misaligned",
    Scratch => "activations do not fit in the 32 KiB scratch",
    SparseRows => "sparse row offsets or array lengths",
    SparseIndex => "sparse column index >= n_in",
    TreeNode => "tree child index >= n_nodes",
    TreeFeature => "tree feature id >= n_features",
    TreeDepth => "tree deeper than its max_depth",
    TreeLeaf => "tree leaf row >= n_leaves",
    Packed3Span => "PACKED3 span (columns per chunk) is 0",
    RecurrentLayout => "GRU/LSTM weights: INT8 needs layout PACKED (row pairs), INT16 COMPACT",
    RecurrentInput => "GRU/LSTM input is not confined to INT16",
    RecurrentParams => "GRU/LSTM steps, features, hidden, widths, shift or gate bits",
    RecurrentBuffers => "GRU/LSTM unit range or buffer sizes",
    ConvLayout => "CONV1D layout or dtype",
    ConvInput => "CONV1D input is not confined to its dtype",
    ConvParams => "CONV1D channels, geometry, pad value, shift, clamp or multipliers",
    PoolParams => "POOL mode, kernel, stride, widths, multiplier or clamp",
}
