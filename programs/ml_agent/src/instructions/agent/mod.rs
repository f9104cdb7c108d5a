//! The autonomous trading agent: `create_agent`, `configure_agent`, `pause_agent`,
//! `resume_agent`, `deposit`, `withdraw` (authority only) and `agent_step`, the permissionless
//! crank that reads a price, computes features, runs the models with `infer`'s kernels, decides
//! and trades within the risk limits.

pub mod admin;
pub mod create;
pub mod step;

use pinocchio::{cpi::Seed, AccountView, Address};

use crate::checks;
use crate::error::MlAgentError;
use crate::kernels::model::ModelView;
use crate::state::agent::{Agent, AGENT_SEED};
use crate::state::model::{
    load_active, trusted_marks, ModelHeader, ModelStatus, ModelWeights, VersionStatus,
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
    // 11 is left for the models half of issue 11 (`model_unavailable`).
    /// Pool agents: the pool's spot price is further from the TWAP since the previous sample
    /// than `max_oracle_dev_bps` (someone moved it inside this slot, e.g. in this very
    /// transaction).
    pub const TWAP_DEVIATION: u8 = 12;
    /// No new price: a second step in the same slot, a feed / Pyth price not strictly newer
    /// than the last sample, or a pool whose TWAP window is empty. Nothing is pushed.
    pub const PRICE_NOT_ADVANCED: u8 = 13;
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
}

/// The model file an agent slot runs: the active version (`pinned == 0`) or exactly version
/// `pinned` of the model (active or retired, i.e. finalized bytes), checked like `load_active`.
pub fn load_model_bytes<'a>(
    program_id: &Address,
    header: &'a AccountView,
    weights: &'a AccountView,
    pinned: u32,
) -> Result<SlotModel<'a>, MlAgentError> {
    let (w, bytes) = if pinned == 0 {
        let a = load_active(program_id, header, weights)?;
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
    })
}

/// Parse a model and check it fits the agent: a 3-class classifier over `n_features` inputs.
/// A version finalize marked `HEADER_CHECKED` is viewed without repeating the parse.
pub fn check_model<'a>(
    m: &SlotModel<'a>,
    n_features: usize,
) -> Result<ModelView<'a>, MlAgentError> {
    let view = if m.checked {
        // SAFETY: finalize_version ran `parse` on these sealed bytes and recorded it.
        unsafe { ModelView::checked_before(m.bytes) }
    } else {
        ModelView::parse(m.bytes).map_err(|_| MlAgentError::UnsupportedModel)?
    };
    let h = view.header;
    if h.task != 1 || h.n_classes != N_CLASSES || view.n_features != n_features {
        return Err(MlAgentError::FeatureSpecMismatch);
    }
    Ok(view)
}
