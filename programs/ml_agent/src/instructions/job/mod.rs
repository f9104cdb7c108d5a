//! Inference jobs (`state::job`): one model run spread over as many transactions as it needs.
//! `create_job` pins the active version and snapshots the input, anyone advances it with
//! `infer_step`, the owner closes it with `close_job`.

pub mod close_job;
pub mod create_job;
pub mod infer_step;
