//! Pure `no_std` fixed-point kernels. Compiled into the program and unit-tested on the host
//! against the Python reference's golden vectors. No allocation; every loop is bounded by
//! dimensions validated once, up front, so inner loops carry no bounds checks.

pub mod dense;
pub mod fixed;
