//! An agent's feature history (PDA `["agent_history", agent]`): a ring of the last `window`
//! feature vectors `agent_step` computed, so a model can read a window of them (a sequence
//! model over the agent's own on-chain history).
//!
//! Layout: this fixed 80-byte head, then `window * n_features` i32 Q16.16 values, vector `i` of
//! the ring at `[i * n_features, (i + 1) * n_features)`. Only `agent_step` writes vectors, and
//! only the features it computed itself from the agent's price ring (one per sampled slot), so
//! nobody can put a value in the window that the chain did not compute.

use crate::error::MlAgentError;
use crate::interface::{field, SeedSpec, Ty, TypeSpec};
use crate::state::agent::MAX_FEATURES;
use pinocchio::{AccountView, Address};

pub const AGENT_HISTORY_SEED: &[u8] = b"agent_history";
/// Shortest and longest window (the regime models read 120 steps).
pub const MIN_WINDOW: u16 = 2;
pub const MAX_WINDOW: u16 = 128;

/// The history's seeds (IDL only).
pub const AGENT_HISTORY_PDA: &[SeedSpec] = &[
    SeedSpec::Const(AGENT_HISTORY_SEED),
    SeedSpec::Account("agent"),
];

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct AgentHistory {
    pub discriminator: [u8; 8],
    /// The agent whose steps fill it (the PDA is derived from it; checked every step).
    pub agent: [u8; 32],
    /// T: vectors in the window.
    pub window: u16,
    /// F: the agent's feature count when the history was created.
    pub n_features: u8,
    pub bump: u8,
    /// Vectors held, up to `window`: a window model runs only once it is `window`.
    pub count: u16,
    /// Ring index of the next write (the oldest vector once `count == window`).
    pub head: u16,
    /// Vectors pushed since creation.
    pub pushed: u64,
    /// The agent step (`Agent.step`) and slot of the newest vector.
    pub last_step: u64,
    pub last_slot: u64,
    /// The agent's step counter when the history was created.
    pub created_step: u64,
}

impl AgentHistory {
    pub const LEN: usize = core::mem::size_of::<AgentHistory>();
    pub const SPEC: TypeSpec = TypeSpec::account(
        "AgentHistory",
        "An agent's feature history (PDA [\"agent_history\", agent]): this fixed 80-byte head, \
         then window x n_features i32 Q16.16 values, a ring of the last `window` feature vectors \
         agent_step computed (vector i at [i * n_features, (i + 1) * n_features); `head` is the \
         next write, the oldest vector once count == window). Variable size: 80 + 4 x window x \
         n_features bytes.",
        &[
            field("agent", Ty::Pubkey),
            field("window", Ty::U16),
            field("n_features", Ty::U8),
            field("bump", Ty::U8),
            field("count", Ty::U16),
            field("head", Ty::U16),
            field("pushed", Ty::U64),
            field("last_step", Ty::U64),
            field("last_slot", Ty::U64),
            field("created_step", Ty::U64),
        ],
    );

    /// Account size of a `window` x `n_features` history.
    pub const fn space(window: u16, n_features: u8) -> usize {
        Self::LEN + 4 * window as usize * n_features as usize
    }
}

/// A validated history: its head and its ring.
pub struct HistoryView<'a> {
    pub head: &'a mut AgentHistory,
    pub ring: &'a mut [i32],
}

impl<'a> HistoryView<'a> {
    /// View `acc` as the history of `agent`: ours, an `AgentHistory`, exactly its size, and
    /// recording this agent (only `init_agent_history` writes that field, at the agent's PDA).
    ///
    /// # Safety
    /// No other reference to the account's data may be live while the result is used.
    pub unsafe fn load(
        acc: &AccountView,
        program_id: &Address,
        agent: &Address,
    ) -> Result<HistoryView<'a>, MlAgentError> {
        crate::checks::program_account(acc, program_id, &AgentHistory::SPEC, AgentHistory::LEN)?;
        let base = acc.data_ptr();
        let head = &mut *(base as *mut AgentHistory);
        if head.agent != agent.to_bytes() {
            return Err(MlAgentError::HistoryMismatch);
        }
        let (t, f) = (head.window, head.n_features);
        if !(MIN_WINDOW..=MAX_WINDOW).contains(&t)
            || f == 0
            || f as usize > MAX_FEATURES
            || acc.data_len() != AgentHistory::space(t, f)
        {
            return Err(MlAgentError::AccountDidNotDeserialize);
        }
        // The data is 8-aligned and the head is 80 bytes: the ring is 4-aligned.
        let ring = core::slice::from_raw_parts_mut(
            base.add(AgentHistory::LEN) as *mut i32,
            t as usize * f as usize,
        );
        Ok(HistoryView { head, ring })
    }

    /// Append one feature vector (the first `n_features` of `v`), overwriting the oldest.
    pub fn push(&mut self, v: &[i32; MAX_FEATURES], step: u64, slot: u64) {
        let (t, f) = (self.head.window as usize, self.head.n_features as usize);
        let at = self.head.head as usize % t;
        self.ring[at * f..(at + 1) * f].copy_from_slice(&v[..f]);
        self.head.head = ((at + 1) % t) as u16;
        if (self.head.count as usize) < t {
            self.head.count += 1;
        }
        self.head.pushed = self.head.pushed.wrapping_add(1);
        self.head.last_step = step;
        self.head.last_slot = slot;
    }

    /// Whether the window holds `window` vectors.
    #[inline(always)]
    pub fn full(&self) -> bool {
        self.head.count == self.head.window
    }
}

/// Copy a full window into `out` (`window * n_features` values), time-major and oldest first
/// (`out[t * F + f]`, the sequence layout of docs/model-format.md), each value clamped to
/// `[lo[j], max(lo[j], hi[j])]` (a model's declared ranges, one per input index).
#[inline(always)]
pub fn window_into(head: &AgentHistory, ring: &[i32], lo: &[i32], hi: &[i32], out: &mut [i32]) {
    let (t, f) = (head.window as usize, head.n_features as usize);
    let n = t * f;
    // Oldest vector first: the ring from `head` to its end, then from its start. Two plain
    // zipped loops (no per-element bounds checks, no chained iterator).
    let split = (head.head as usize % t) * f;
    let (newer, older) = ring[..n].split_at(split);
    let (o1, o2) = out[..n].split_at_mut(n - split);
    let (lo1, lo2) = lo[..n].split_at(n - split);
    let (hi1, hi2) = hi[..n].split_at(n - split);
    clamp_into(o1, older, lo1, hi1);
    clamp_into(o2, newer, lo2, hi2);
}

/// `out[j] = src[j]` clamped to `[lo[j], max(lo[j], hi[j])]` (no panic path: an inverted range
/// clamps to its lower bound).
#[inline(always)]
fn clamp_into(out: &mut [i32], src: &[i32], lo: &[i32], hi: &[i32]) {
    for (((o, v), l), h) in out.iter_mut().zip(src).zip(lo).zip(hi) {
        let h = if *h < *l { *l } else { *h };
        *o = if *v < *l {
            *l
        } else if *v > h {
            h
        } else {
            *v
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_yields_the_window_oldest_first() {
        // SAFETY: plain integers; zero is valid.
        let mut h: AgentHistory = unsafe { core::mem::zeroed() };
        h.window = 3;
        h.n_features = 2;
        let mut ring = [0i32; 6];
        let mut view = HistoryView {
            head: &mut h,
            ring: &mut ring,
        };
        for s in 0..5i32 {
            let mut v = [0i32; MAX_FEATURES];
            v[0] = 10 * s;
            v[1] = 10 * s + 1;
            view.push(&v, s as u64, 100 + s as u64);
            assert_eq!(view.full(), s >= 2);
        }
        assert_eq!((h.count, h.head, h.pushed, h.last_step), (3, 2, 5, 4));
        let (lo, hi) = ([i32::MIN; 6], [i32::MAX; 6]);
        let mut out = [0i32; 6];
        window_into(&h, &ring, &lo, &hi, &mut out);
        assert_eq!(out, [20, 21, 30, 31, 40, 41]);
        // Clamped per input index; an inverted range clamps to its lower bound.
        let lo = [25, 0, 0, 0, 0, 50];
        let hi = [26, 100, 35, 100, 100, 0];
        window_into(&h, &ring, &lo, &hi, &mut out);
        assert_eq!(out, [25, 21, 30, 31, 40, 50]);
    }

    #[test]
    fn head_is_80_bytes() {
        assert_eq!(AgentHistory::LEN, 80);
        assert_eq!(AgentHistory::space(120, 5), 80 + 2400);
    }
}
