//! On-chain features: integer-only, Q16.16 i32 like `infer`'s inputs, computed from the agent's
//! price ring. `client/agent/features.py` is a bit-exact Python twin (tested against the vectors
//! in `tests::vectors` and against the chain), so models train on the numbers the chain sees.
//!
//! Each feature is a (kind, parameter) pair:
//!
//! | kind | name | parameter | value (then Q16.16, truncated toward zero, saturated to i32) |
//! |---|---|---|---|
//! | 1 | RETURN | k in 1..=63 | `(p_t - p_{t-k}) / p_{t-k}` |
//! | 2 | SMA_RATIO | n in 2..=64 | `p_t / mean(p_t..p_{t-n+1}) - 1` = `(n p_t - S) / S` |
//! | 3 | VOLATILITY | n in 1..=63 | mean over n steps of `\|p_i - p_{i-1}\| / p_{i-1}` (each term floored, then the sum divided by n, floored) |
//! | 4 | POSITION | 0 | base balance / `max_position` |
//!
//! Magnitudes are `floor(|num| * 65536 / den)` by unsigned 128-bit mul-div (no signed division
//! on BPF), the sign applied afterwards: rounding is toward zero for negative values.

use crate::state::agent::{Agent, HISTORY, MAX_FEATURES};
use crate::wide::mul_div_floor;

pub const RETURN: u8 = 1;
pub const SMA_RATIO: u8 = 2;
pub const VOLATILITY: u8 = 3;
pub const POSITION: u8 = 4;
/// Prices must stay below 2^56 so sums of 64 of them and `n * p` fit in a u64.
pub const MAX_PRICE: u64 = 1 << 56;

/// Prices the feature needs in the ring, or None for an invalid (kind, parameter).
pub const fn lookback(kind: u8, param: u8) -> Option<usize> {
    let p = param as usize;
    match kind {
        RETURN if p >= 1 && p < HISTORY => Some(p + 1),
        SMA_RATIO if p >= 2 && p <= HISTORY => Some(p),
        VOLATILITY if p >= 1 && p < HISTORY => Some(p + 1),
        POSITION if p == 0 => Some(1),
        _ => None,
    }
}

/// Longest lookback of a spec, or None when a pair is invalid or the spec is empty/too long.
pub fn spec_lookback(spec: &[u8]) -> Option<usize> {
    if spec.is_empty() || !spec.len().is_multiple_of(2) || spec.len() > 2 * MAX_FEATURES {
        return None;
    }
    let mut need = 0;
    for pair in spec.chunks_exact(2) {
        need = need.max(lookback(pair[0], pair[1])?);
    }
    Some(need)
}

/// `floor(num * 65536 / den)`, saturating to u64::MAX (den = 0 included).
#[inline(always)]
fn ratio_q16(num: u64, den: u64) -> u64 {
    mul_div_floor(num, 1 << 16, den).unwrap_or(u64::MAX)
}

/// Apply a sign to a magnitude and saturate to i32.
#[inline(always)]
fn signed(neg: bool, mag: u64) -> i32 {
    if neg {
        if mag >= 1 << 31 {
            i32::MIN
        } else {
            (mag as i32).wrapping_neg()
        }
    } else if mag > i32::MAX as u64 {
        i32::MAX
    } else {
        mag as i32
    }
}

/// `(a - b) / b` in Q16.16.
#[inline(always)]
fn rel_change(a: u64, b: u64) -> i32 {
    if a >= b {
        signed(false, ratio_q16(a - b, b))
    } else {
        signed(true, ratio_q16(b - a, b))
    }
}

/// Inputs of one feature computation: the price ring (newest first through `price_back`).
pub struct FeatureInput<'a> {
    pub agent: &'a Agent,
    pub base_balance: u64,
}

/// Compute the agent's declared features into `out[..n_features]`. The caller has checked that
/// the ring holds `spec_lookback` prices, all in `1..MAX_PRICE`.
#[inline(never)]
pub fn compute(inp: &FeatureInput, out: &mut [i32; MAX_FEATURES]) {
    let a = inp.agent;
    let n = a.n_features as usize;
    for (j, o) in out.iter_mut().enumerate().take(n) {
        let (kind, param) = (a.features[2 * j], a.features[2 * j + 1] as usize);
        *o = match kind {
            RETURN => rel_change(a.price_back(0), a.price_back(param)),
            SMA_RATIO => {
                let mut sum = 0u64;
                for i in 0..param {
                    sum += a.price_back(i);
                }
                let np = a.price_back(0) * param as u64;
                if np >= sum {
                    signed(false, ratio_q16(np - sum, sum))
                } else {
                    signed(true, ratio_q16(sum - np, sum))
                }
            }
            VOLATILITY => {
                let mut sum = 0u64;
                for i in 0..param {
                    let (cur, prev) = (a.price_back(i), a.price_back(i + 1));
                    let d = cur.abs_diff(prev);
                    sum = sum.saturating_add(ratio_q16(d, prev));
                }
                signed(false, sum / param as u64)
            }
            POSITION => signed(false, ratio_q16(inp.base_balance, a.risk.max_position)),
            _ => 0,
        };
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    fn agent_with(prices: &[u64], spec: &[u8]) -> std::boxed::Box<Agent> {
        // SAFETY: Agent is plain integers; all-zero is a valid value.
        let mut a: std::boxed::Box<Agent> = std::boxed::Box::new(unsafe { core::mem::zeroed() });
        a.n_features = (spec.len() / 2) as u8;
        a.features[..spec.len()].copy_from_slice(spec);
        a.risk.max_position = 1_000_000;
        for &p in prices {
            a.push_price(p);
        }
        a
    }

    /// Shared with the Python twin's test (`tests/agent/test_features.py` reads the same
    /// numbers from this table via `features_vectors.json`, generated by `vectors_json`).
    pub const SPEC: [u8; 14] = [1, 1, 1, 5, 2, 4, 2, 20, 3, 3, 3, 10, 4, 0];

    pub fn vectors() -> std::vec::Vec<(std::vec::Vec<u64>, u64, [i32; MAX_FEATURES])> {
        let mut out = std::vec::Vec::new();
        let mut s = 12345u64;
        for case in 0..40u64 {
            let mut p: u64 = match case % 4 {
                0 => 1 << 32,
                1 => 1000,
                2 => (1 << 55) - 1,
                _ => 7,
            };
            let mut prices = std::vec::Vec::new();
            for _ in 0..(21 + case as usize) {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let step = (s >> 33) % 2001;
                // Moves of -10 % .. +10 %, with occasional jumps.
                let num = if case % 7 == 3 && (s >> 20).is_multiple_of(5) {
                    30000
                } else {
                    9000 + step
                };
                p = (p as u128 * num as u128 / 10000) as u64;
                p = p.clamp(1, MAX_PRICE - 1);
                prices.push(p);
            }
            let base = (s >> 11) % 3_000_000;
            let a = agent_with(&prices, &SPEC);
            let mut f = [0i32; MAX_FEATURES];
            compute(
                &FeatureInput {
                    agent: &a,
                    base_balance: base,
                },
                &mut f,
            );
            out.push((prices, base, f));
        }
        out
    }

    #[test]
    fn returns_and_ratios_by_hand() {
        let a = agent_with(&[100, 110, 99, 121], &[1, 1, 1, 3, 2, 4, 3, 2, 4, 0]);
        let mut f = [0i32; MAX_FEATURES];
        compute(
            &FeatureInput {
                agent: &a,
                base_balance: 250_000,
            },
            &mut f,
        );
        // 121/99 - 1 = 0.2222.. -> floor(22/99 * 65536) = 14563
        assert_eq!(f[0], (22 * 65536 / 99));
        // 121/100 - 1
        assert_eq!(f[1], (21 * 65536 / 100));
        // SMA4 = 107.5; (4*121 - 430)/430
        assert_eq!(f[2], (54 * 65536 / 430));
        // |121-99|/99 and |99-110|/110, each floored, mean floored
        assert_eq!(f[3], ((22 * 65536 / 99 + 11 * 65536 / 110) / 2));
        assert_eq!(f[4], 65536 / 4);
        // A fall rounds toward zero.
        let a = agent_with(&[110, 99], &[1, 1]);
        compute(
            &FeatureInput {
                agent: &a,
                base_balance: 0,
            },
            &mut f,
        );
        assert_eq!(f[0], -(11 * 65536 / 110));
    }

    #[test]
    fn saturates_instead_of_overflowing() {
        let a = agent_with(&[1, MAX_PRICE - 1], &[1, 1, 4, 0]);
        let mut f = [0i32; MAX_FEATURES];
        compute(
            &FeatureInput {
                agent: &a,
                base_balance: u64::MAX,
            },
            &mut f,
        );
        assert_eq!(f[0], i32::MAX);
        assert_eq!(f[1], i32::MAX);
    }

    #[test]
    fn spec_validation() {
        assert_eq!(spec_lookback(&SPEC), Some(20));
        assert_eq!(spec_lookback(&[1, 0]), None);
        assert_eq!(spec_lookback(&[2, 1]), None);
        assert_eq!(spec_lookback(&[4, 1]), None);
        assert_eq!(spec_lookback(&[9, 1]), None);
        assert_eq!(spec_lookback(&[]), None);
        assert_eq!(spec_lookback(&[2, 64]), Some(64));
        assert_eq!(spec_lookback(&[1, 64]), None);
    }

    /// Writes the vectors for the Python twin's test when `ML_AGENT_WRITE_VECTORS` is set, and
    /// otherwise checks that the committed file is current.
    #[test]
    fn vectors_file_is_current() {
        let mut s = std::string::String::from("{\"spec\": [");
        let spec: std::vec::Vec<std::string::String> =
            SPEC.iter().map(|v| std::format!("{v}")).collect();
        s += &spec.join(", ");
        s += "], \"max_position\": 1000000, \"cases\": [\n";
        let cases: std::vec::Vec<std::string::String> = vectors()
            .iter()
            .map(|(p, base, f)| {
                let ps: std::vec::Vec<std::string::String> =
                    p.iter().map(|v| std::format!("{v}")).collect();
                let fs: std::vec::Vec<std::string::String> = f[..SPEC.len() / 2]
                    .iter()
                    .map(|v| std::format!("{v}"))
                    .collect();
                std::format!(
                    "  {{\"prices\": [{}], \"base\": {}, \"features\": [{}]}}",
                    ps.join(", "),
                    base,
                    fs.join(", ")
                )
            })
            .collect();
        s += &cases.join(",\n");
        s += "\n]}\n";
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/agent/features_vectors.json"
        );
        if std::env::var_os("ML_AGENT_WRITE_VECTORS").is_some() {
            std::fs::write(path, &s).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == s,
            "tests/agent/features_vectors.json is stale: rerun with ML_AGENT_WRITE_VECTORS=1"
        );
    }
}
