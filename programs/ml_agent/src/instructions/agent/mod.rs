//! The autonomous trading agent: `create_agent`, `configure_agent`, `set_agent_models`,
//! `pause_agent`, `resume_agent`, `deposit`, `withdraw`, `close_agent` (authority only) and
//! `agent_step`, the permissionless crank that reads a price, computes features, runs the
//! models with `infer`'s kernels, decides and trades within the risk limits.

pub mod admin;
pub mod close;
pub mod create;
pub mod history_close;
pub mod history_init;
pub mod set_models;
pub mod step;

use pinocchio::{cpi::Seed, AccountView, Address};

use crate::args::ArgReader;
use crate::checks;
use crate::error::MlAgentError;
use crate::kernels::cost::{cost_bound, floor};
use crate::kernels::model::ModelView;
use crate::state::agent::{Agent, AGENT_SEED, MAX_MODELS};
use crate::state::agent_history::{MAX_WINDOW, MIN_WINDOW};
use crate::state::model::{
    load_active, stored_cost_bound, trusted_marks, ModelHeader, ModelStatus, ModelTombstone,
    ModelWeights, VersionStatus,
};

/// Class -> action convention: a model's class 0 is SELL, 1 HOLD, 2 BUY (3 classes exactly).
pub const SELL: u8 = 0;
pub const HOLD: u8 = 1;
pub const BUY: u8 = 2;
pub const N_CLASSES: u16 = 3;

/// Why a step did or did not trade (`Decision.reason`).
pub mod reason {
    pub const TRADED: u8 = 0;
    pub const HOLD: u8 = 1;
    pub const LOW_CONFIDENCE: u8 = 2;
    pub const RISK_LIMIT: u8 = 3;
    pub const COOLDOWN: u8 = 4;
    pub const STALE_PRICE: u8 = 5;
    pub const PAUSED: u8 = 6;
    pub const WARMUP: u8 = 7;
    pub const PRICE_UNCERTAIN: u8 = 8;
    pub const SLIPPAGE: u8 = 9;
    /// Feed / Pyth agents: the pool's spot price is further from the oracle price than
    /// `max_oracle_dev_bps`.
    pub const ORACLE_DEVIATION: u8 = 10;
    /// A model of the agent could not run this step: its header or pinned version is gone,
    /// the pinned version's content no longer matches the pin, the active version no longer
    /// fits the feature spec, or the kernels refused it. The step still counts (a model author
    /// cannot stop the agent); `set_agent_models` replaces the model.
    pub const MODEL_UNAVAILABLE: u8 = 11;
    /// Pool agents: the pool's spot price is further from the TWAP since the previous sample
    /// than `max_oracle_dev_bps` (someone moved it inside this slot, e.g. in this very
    /// transaction).
    pub const TWAP_DEVIATION: u8 = 12;
    /// No new price: a second step in the same slot, a feed / Pyth price not strictly newer
    /// than the last sample, or a pool whose TWAP window is empty. Nothing is pushed.
    pub const PRICE_NOT_ADVANCED: u8 = 13;
    /// The agent has window models but its feature history holds fewer than `T` vectors (or
    /// it has no history): the step pushed this step's features and holds.
    pub const WARMING_UP: u8 = 14;
}

/// Validate `acc` as an Agent and view it mutably.
///
/// # Safety
/// No other reference to the agent's data may be live while the result is used.
pub unsafe fn load_agent<'a>(
    acc: &AccountView,
    program_id: &Address,
) -> Result<&'a mut Agent, MlAgentError> {
    checks::program_account(acc, program_id, &Agent::SPEC, Agent::LEN)?;
    Ok(&mut *(acc.data_ptr() as *mut Agent))
}

/// The agent's authority must sign.
pub fn check_authority(agent: &Agent, authority: &AccountView) -> Result<(), MlAgentError> {
    checks::signer(authority)?;
    if agent.authority != authority.address().to_bytes() {
        return Err(MlAgentError::NotAgentAuthority);
    }
    Ok(())
}

/// Signer seeds of the agent PDA (it owns the vaults). `id` and `bump` are caller-owned
/// buffers so the seeds can borrow them.
pub fn agent_seeds<'a>(agent: &'a Agent, id: &'a [u8; 8], bump: &'a [u8; 1]) -> [Seed<'a>; 4] {
    [
        Seed::from(AGENT_SEED),
        Seed::from(&agent.authority[..]),
        Seed::from(&id[..]),
        Seed::from(&bump[..]),
    ]
}

/// The model file an agent slot runs, with the marks finalize left on its version.
pub struct SlotModel<'a> {
    pub bytes: &'a [u8],
    /// `HEADER_CHECKED` under this program's epoch: `ModelView::parse` accepted these bytes.
    pub checked: bool,
    /// `OPS_CHECKED` too: the marked executor may run them (`kernels::marked`).
    pub ops_checked: bool,
    /// The version's fixed part (its `chunk_root` is what a pin records).
    pub weights: &'a ModelWeights,
}

/// The model file an agent slot runs: the active version (`pinned == 0`) or exactly version
/// `pinned` of the model (active or retired, i.e. finalized bytes), checked like `load_active`.
/// (Inlined: the result is larger than the BPF backend returns by value.)
#[inline(always)]
pub fn load_model_bytes<'a>(
    program_id: &Address,
    header: &'a AccountView,
    weights: &'a AccountView,
    pinned: u32,
) -> Result<SlotModel<'a>, MlAgentError> {
    let (w, bytes) = if pinned == 0 {
        let a = load_active(program_id, header, weights).map_err(|e| {
            if e == MlAgentError::AccountDiscriminatorMismatch && ModelTombstone::is(header) {
                MlAgentError::ModelClosed
            } else {
                e
            }
        })?;
        (a.weights, a.bytes)
    } else {
        // SAFETY: read-only views; no mutable borrow of these accounts is live.
        let h: &ModelHeader = unsafe { ModelHeader::load(header, program_id)? };
        if h.status != ModelStatus::Ready as u8 && h.status != ModelStatus::Frozen as u8 {
            return Err(MlAgentError::NoActiveVersion);
        }
        // SAFETY: as above.
        let w = unsafe { ModelWeights::load(weights, program_id)? };
        let st = w.fixed.status;
        if w.fixed.model != header.address().to_bytes()
            || w.fixed.version != pinned
            || (st != VersionStatus::Active as u8 && st != VersionStatus::Retired as u8)
        {
            return Err(MlAgentError::PinnedVersionMismatch);
        }
        let (fixed, data): (&'a ModelWeights, &'a [u8]) = (w.fixed, w.data);
        (fixed, data)
    };
    let (checked, ops_checked) = trusted_marks(w);
    Ok(SlotModel {
        bytes,
        checked,
        ops_checked,
        weights: w,
    })
}

/// Parse a model and check it is a 3-class classifier (its input count is the caller's to
/// check). A version finalize marked `HEADER_CHECKED` is viewed without repeating the parse.
#[inline(always)]
pub fn model_view<'a>(m: &SlotModel<'a>) -> Result<ModelView<'a>, MlAgentError> {
    let view = if m.checked {
        // SAFETY: finalize_version ran `parse` on these sealed bytes and recorded it.
        unsafe { ModelView::checked_before(m.bytes) }
    } else {
        ModelView::parse(m.bytes).map_err(|_| MlAgentError::UnsupportedModel)?
    };
    let h = view.header;
    if h.task != 1 || h.n_classes != N_CLASSES {
        return Err(MlAgentError::FeatureSpecMismatch);
    }
    Ok(view)
}

/// The window a model of `n_inputs` inputs reads for an agent of `n_features` features: 0 for
/// the single feature vector, `T` for a window of `T` vectors (`n_inputs == T * n_features`,
/// 2 <= T <= 128), `None` for anything else.
pub fn model_window(n_inputs: usize, n_features: usize) -> Option<u16> {
    if n_inputs == n_features {
        return Some(0);
    }
    if n_features == 0 || !n_inputs.is_multiple_of(n_features) {
        return None;
    }
    let t = n_inputs / n_features;
    if t >= MIN_WINDOW as usize && t <= MAX_WINDOW as usize {
        Some(t as u16)
    } else {
        None
    }
}

/// The model set `create_agent` and `set_agent_models` declare.
pub struct ModelSet {
    pub n_models: u8,
    /// 0: follow the model's active version; n: pin version n.
    pub versions: [u32; MAX_MODELS],
    pub weights: [u16; MAX_MODELS],
}

impl ModelSet {
    pub fn read(a: &mut ArgReader) -> Result<Self, MlAgentError> {
        let n_models = a.u8()?;
        let mut versions = [0u32; MAX_MODELS];
        for v in versions.iter_mut() {
            *v = a.u32()?;
        }
        let mut weights = [0u16; MAX_MODELS];
        for v in weights.iter_mut() {
            *v = a.u16()?;
        }
        Ok(ModelSet {
            n_models,
            versions,
            weights,
        })
    }

    /// 1..=4 models, each with a non-zero vote weight; unused entries all zero.
    pub fn valid(&self) -> bool {
        let nm = self.n_models as usize;
        nm != 0
            && nm <= MAX_MODELS
            && !self.weights[..nm].contains(&0)
            && self.weights[nm..].iter().all(|w| *w == 0)
            && self.versions[nm..].iter().all(|v| *v == 0)
    }
}

/// What an agent records about its models once `check_model_set` accepted them.
#[derive(Default)]
pub struct Pins {
    pub headers: [[u8; 32]; MAX_MODELS],
    pub weights: [[u8; 32]; MAX_MODELS],
    pub roots: [[u8; 32]; MAX_MODELS],
    /// The window `T` the set's window models read (0: none).
    pub window: u16,
    /// How many slots read the window.
    pub window_models: u8,
}

/// A model set to check, and the agent's feature count it must fit.
pub struct ModelSetCheck<'a> {
    pub set: &'a ModelSet,
    pub n_features: usize,
    /// The window a model may read: the agent's history's `T` when it has one (fixed by
    /// `init_agent_history`), else 0: any `T` in 2..=128, the same for every model of the set,
    /// which then fixes the window the history must have.
    pub window: u16,
}

/// Check the (header, weights) pairs against `c.set` for an agent with `c.n_features` inputs:
/// each model's active version, or exactly the pinned version, must be a 3-class classifier
/// over those features, or over a window of `T` of them (`T * n_features` inputs, time-major,
/// see `state::agent_history`). A pinned slot records the weights account and its chunk root.
/// (Arguments travel in `ModelSetCheck`: the BPF backend passes at most five.)
pub fn check_model_set(
    program_id: &Address,
    models: &[AccountView],
    c: &ModelSetCheck,
    pins: &mut Pins,
) -> Result<(), MlAgentError> {
    let (set, n_features) = (c.set, c.n_features);
    let nm = set.n_models as usize;
    if models.len() != 2 * nm {
        return Err(MlAgentError::ModelSetMismatch);
    }
    let mut total = 0u64;
    for i in 0..nm {
        let (h, w) = (&models[2 * i], &models[2 * i + 1]);
        let m = load_model_bytes(program_id, h, w, set.versions[i])?;
        let view = model_view(&m)?;
        match model_window(view.n_features, n_features) {
            Some(0) => {}
            Some(t)
                if (c.window == 0 || t == c.window) && (pins.window == 0 || t == pins.window) =>
            {
                pins.window = t;
                pins.window_models += 1;
            }
            _ => return Err(MlAgentError::FeatureSpecMismatch),
        }
        // A set that could never run in one step would hold at every step: refuse it here.
        total = total.saturating_add(version_cost_bound(&m, &view));
        if total > step::MODELS_MAX_CU {
            return Err(MlAgentError::ModelTooCostly);
        }
        pins.headers[i] = h.address().to_bytes();
        if set.versions[i] != 0 {
            pins.weights[i] = w.address().to_bytes();
            pins.roots[i] = m.weights.chunk_root;
        }
    }
    Ok(())
}

/// The compute bound of version `m` (viewed as `view`): the one finalize stored, or computed
/// (a version sealed by older code; a table whose records alone exceed any step saturates
/// without the walk).
pub fn version_cost_bound(m: &SlotModel, view: &ModelView) -> u64 {
    match stored_cost_bound(m.weights) {
        Some(b) => b,
        None if floor(view.n_features, view.n_ops) > step::MODELS_MAX_CU => u64::MAX,
        None => cost_bound(view),
    }
}

/// Record an accepted model set on the agent.
pub fn apply_model_set(agent: &mut Agent, set: &ModelSet, pins: &Pins) {
    agent.n_models = set.n_models;
    agent.model_versions = set.versions;
    agent.model_weights = set.weights;
    agent.models = pins.headers;
    agent.pinned_weights = pins.weights;
    agent.pinned_roots = pins.roots;
    agent.window_models = pins.window_models;
    // With a history the window is its shape (the set was checked against it); without one
    // the set declares it, and `init_agent_history` must then use it.
    if agent.has_history == 0 {
        agent.history_window = pins.window;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(n: u8, versions: [u32; 4], weights: [u16; 4]) -> ModelSet {
        ModelSet {
            n_models: n,
            versions,
            weights,
        }
    }

    #[test]
    fn model_set_rules() {
        assert!(set(1, [0; 4], [1, 0, 0, 0]).valid());
        assert!(set(4, [1, 0, 7, 2], [1, 2, 3, 65535]).valid());
        // No model, too many, a zero vote weight, anything past n_models.
        assert!(!set(0, [0; 4], [0; 4]).valid());
        assert!(!set(5, [0; 4], [1; 4]).valid());
        assert!(!set(2, [0; 4], [1, 0, 0, 0]).valid());
        assert!(!set(1, [0; 4], [1, 1, 0, 0]).valid());
        assert!(!set(1, [0, 3, 0, 0], [1, 0, 0, 0]).valid());
    }

    #[test]
    fn model_widths() {
        assert_eq!(model_window(5, 5), Some(0));
        assert_eq!(model_window(600, 5), Some(120));
        assert_eq!(model_window(10, 5), Some(2));
        assert_eq!(model_window(640, 5), Some(128));
        assert_eq!(model_window(645, 5), None);
        assert_eq!(model_window(601, 5), None);
        assert_eq!(model_window(4, 5), None);
        assert_eq!(model_window(0, 5), None);
        assert_eq!(model_window(1024, 8), Some(128));
    }

    #[test]
    fn model_set_reads_the_create_agent_field_order() {
        let mut data = std::vec![2u8];
        for v in [5u32, 0, 0, 0] {
            data.extend_from_slice(&v.to_le_bytes());
        }
        for w in [3u16, 4, 0, 0] {
            data.extend_from_slice(&w.to_le_bytes());
        }
        let mut a = ArgReader::new(&data);
        let s = ModelSet::read(&mut a).unwrap();
        a.finish().unwrap();
        assert_eq!(
            (s.n_models, s.versions, s.weights),
            (2, [5, 0, 0, 0], [3, 4, 0, 0])
        );
    }
}
