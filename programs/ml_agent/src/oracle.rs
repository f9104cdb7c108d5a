//! Price sources the agent reads, each checked for owner, layout, staleness and confidence:
//!
//! * the pool's own time-weighted price (quote per base, Q32) between two readings of its
//!   cumulative price (`state::pool::Pool::observe`), never the spot of this transaction;
//! * a `PriceFeed` this program owns, written by its publisher (staleness in slots);
//! * a Pyth `PriceUpdateV2` owned by the Pyth receiver program, at `Full` verification level,
//!   for the configured feed id (staleness in seconds of `publish_time`).
//!
//! Owner, type, feed-id and exponent violations fail the transaction (the caller passed the
//! wrong account); a price that is merely old or too uncertain is a reason not to trade, which
//! `agent_step` records without failing.

use pinocchio::{AccountView, Address};

use crate::error::MlAgentError;
use crate::features::MAX_PRICE;
use crate::math::mul_u64;
use crate::state::pool::PriceFeed;
use crate::wide::{mul_div_ceil, mul_div_floor, mul_wide};

/// The Pyth Solana receiver program, `rec5EKMGg6MxZYaMdyBfgwp4d5rB9T1VQH5pJv5LtFJ`.
pub const PYTH_RECEIVER_ID: Address = Address::new_from_array([
    12, 183, 250, 187, 82, 247, 166, 72, 187, 91, 49, 125, 154, 1, 139, 144, 87, 203, 2, 71, 116,
    250, 254, 1, 230, 196, 223, 152, 204, 56, 88, 129,
]);
/// `sha256("account:PriceUpdateV2")[..8]`.
pub const PRICE_UPDATE_V2_DISC: [u8; 8] = [34, 241, 35, 99, 157, 126, 244, 205];
/// Borsh `VerificationLevel::Full` (`Partial { num_signatures }` is tag 0 plus a byte).
pub const PYTH_FULL: u8 = 1;
/// discriminator 8, write_authority 32, verification level 1 (Full), PriceFeedMessage 84,
/// posted_slot 8.
pub const PRICE_UPDATE_V2_MIN_LEN: usize = 8 + 32 + 1 + 84 + 8;

/// A price as the source states it: mantissa, confidence and exponent, with its age.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quote {
    pub price: i64,
    pub conf: u64,
    pub exponent: i32,
    /// Slot (PriceFeed) or unix time (Pyth) of publication.
    pub published: i64,
}

/// What the step does with a reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    Fresh(u64),
    Stale,
    Uncertain,
    /// No new sample (same slot, not strictly newer publication, or a pool agent's first
    /// reading of the cumulative price).
    NotAdvanced,
    First,
}

#[inline(always)]
fn le_i64(d: &[u8], at: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[at..at + 8]);
    i64::from_le_bytes(b)
}

#[inline(always)]
fn le_i32(d: &[u8], at: usize) -> i32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&d[at..at + 4]);
    i32::from_le_bytes(b)
}

/// The program's own `PriceFeed`.
pub fn read_feed(acc: &AccountView, program_id: &Address) -> Result<Quote, MlAgentError> {
    crate::checks::program_account(acc, program_id, &PriceFeed::SPEC, PriceFeed::LEN)?;
    // SAFETY: checked owner, discriminator and length; read-only.
    let f = unsafe { &*(acc.data_ptr() as *const PriceFeed) };
    Ok(Quote {
        price: f.price,
        conf: f.conf,
        exponent: f.exponent,
        published: f.publish_slot as i64,
    })
}

/// A Pyth `PriceUpdateV2`: owner, discriminator, Full verification, feed id.
pub fn read_pyth(acc: &AccountView, feed_id: &[u8; 32]) -> Result<Quote, MlAgentError> {
    if !acc.owned_by(&PYTH_RECEIVER_ID) {
        return Err(MlAgentError::AccountOwnedByWrongProgram);
    }
    // SAFETY: read-only view of the account data.
    let d = unsafe { acc.borrow_unchecked() };
    if d.len() < 8 {
        return Err(MlAgentError::AccountDiscriminatorNotFound);
    }
    if d[..8] != PRICE_UPDATE_V2_DISC {
        return Err(MlAgentError::AccountDiscriminatorMismatch);
    }
    if d.len() < PRICE_UPDATE_V2_MIN_LEN {
        return Err(MlAgentError::AccountDidNotDeserialize);
    }
    if d[40] != PYTH_FULL {
        return Err(MlAgentError::PythNotFullyVerified);
    }
    // PriceFeedMessage starts at 41: feed_id 32, price i64, conf u64, exponent i32,
    // publish_time i64, prev_publish_time i64, ema_price i64, ema_conf u64.
    if d[41..73] != feed_id[..] {
        return Err(MlAgentError::PriceSourceMismatch);
    }
    Ok(Quote {
        price: le_i64(d, 73),
        conf: le_i64(d, 81) as u64,
        exponent: le_i32(d, 89),
        published: le_i64(d, 93),
    })
}

/// Limits a quote is judged against.
pub struct QuoteLimits {
    pub exponent: i32,
    /// `now - published` may not exceed this (slots or seconds, like `published`).
    pub max_age: u64,
    pub now: i64,
    pub max_conf_bps: u32,
}

/// Judge a quote: a non-positive or huge price, a changed exponent or too wide a confidence
/// interval is Uncertain; an old one Stale.
pub fn judge(q: &Quote, l: &QuoteLimits) -> Reading {
    if q.price <= 0 || q.price as u64 >= MAX_PRICE || q.exponent != l.exponent {
        return Reading::Uncertain;
    }
    // A publish time in the future counts as age 0.
    let age = if l.now > q.published {
        (l.now as u64).wrapping_sub(q.published as u64)
    } else {
        0
    };
    if age > l.max_age {
        return Reading::Stale;
    }
    // conf / price > max_conf_bps / 10,000, compared exactly as 128-bit products.
    if mul_wide(q.conf, 10_000) > mul_wide(q.price as u64, l.max_conf_bps as u64) {
        return Reading::Uncertain;
    }
    Reading::Fresh(q.price as u64)
}

const POW10: [u64; 20] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    100_000_000_000,
    1_000_000_000_000,
    10_000_000_000_000,
    100_000_000_000_000,
    1_000_000_000_000_000,
    10_000_000_000_000_000,
    100_000_000_000_000_000,
    1_000_000_000_000_000_000,
    10_000_000_000_000_000_000,
];

/// `reserve_a * price * 10^shift` (the oracle value of the pool's A side in B atoms) as
/// `(floor, ceil)`, or None when the ceiling does not fit in a u64. `shift` is the oracle
/// exponent plus B decimals minus A decimals.
pub fn oracle_value(reserve_a: u64, price: u64, shift: i64) -> Option<(u64, u64)> {
    if shift >= 0 {
        if shift > 19 {
            // >= 10^20 > u64::MAX for any non-zero product (a zero product is never judged).
            return None;
        }
        let (hi, lo) = mul_wide(reserve_a, price);
        if hi != 0 {
            return None;
        }
        let v = mul_u64(lo, POW10[shift as usize])?;
        return Some((v, v));
    }
    let k = shift.unsigned_abs();
    let k1 = k.min(19);
    let hi = mul_div_ceil(reserve_a, price, POW10[k1 as usize])?;
    let lo = mul_div_floor(reserve_a, price, POW10[k1 as usize])?;
    if k == k1 {
        return Some((lo, hi));
    }
    // floor(floor(x / a) / b) = floor(x / ab), and the same for ceil.
    let k2 = k - 19;
    if k2 > 19 {
        return Some((0, (hi > 0) as u64));
    }
    let d = POW10[k2 as usize];
    Some((lo / d, hi.div_ceil(d)))
}

/// Whether the pool's spot price `reserve_b / reserve_a` lies within `dev_bps` of the oracle
/// price `price * 10^shift` (B atoms per A atom), both ways:
/// `V (10,000 - dev) <= reserve_b * 10,000 <= V (10,000 + dev)` with `V = reserve_a * oracle`.
/// Each side uses the rounding of `V` that makes the test stricter (against the trade), and an
/// unrepresentable `V` fails. The products are compared exactly in 128 bits.
#[inline(always)]
pub fn within_deviation(reserve_a: u64, reserve_b: u64, price: u64, shift: i64, dev: u16) -> bool {
    let Some((lo, hi)) = oracle_value(reserve_a, price, shift) else {
        return false;
    };
    within_band(lo, hi, reserve_b, dev)
}

/// `V (10,000 - dev) <= reserve_b * 10,000 <= V (10,000 + dev)` for `V` in `[lo, hi]` (its
/// floor and ceiling), each side taking the stricter rounding.
#[inline(always)]
fn within_band(lo: u64, hi: u64, reserve_b: u64, dev: u16) -> bool {
    let spot = mul_wide(reserve_b, 10_000);
    let dev = dev as u64;
    spot <= mul_wide(lo, 10_000 + dev) && mul_wide(hi, 10_000u64.saturating_sub(dev)) <= spot
}

/// Pool agents: the spot `reserve_b / reserve_a` within `dev_bps` of a Q32 reference price
/// (the TWAP), both ways: `V = reserve_a * ref / 2^32` in place of the oracle value.
#[inline(always)]
pub fn within_deviation_q32(reserve_a: u64, reserve_b: u64, ref_q32: u64, dev: u16) -> bool {
    let (Some(lo), Some(hi)) = (
        mul_div_floor(reserve_a, ref_q32, 1 << 32),
        mul_div_ceil(reserve_a, ref_q32, 1 << 32),
    ) else {
        return false;
    };
    within_band(lo, hi, reserve_b, dev)
}

/// An oracle price `price * 10^shift` (B atoms per A atom) as Q32, rounded down; None when it
/// does not fit in a u64. (Sizing and `min_out` are computed from it; the deviation test
/// above stays exact.)
pub fn ref_q32(price: u64, shift: i64) -> Option<u64> {
    if shift >= 0 {
        if shift > 19 {
            return None;
        }
        return mul_u64(price, 1 << 32).and_then(|v| mul_u64(v, POW10[shift as usize]));
    }
    let k = shift.unsigned_abs();
    let v = mul_div_floor(price, 1 << 32, POW10[k.min(19) as usize])?;
    if k <= 19 {
        return Some(v);
    }
    Some(if k - 19 > 19 {
        0
    } else {
        v / POW10[(k - 19) as usize]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_q32_and_twap_band() {
        // 1.5 B atoms per A atom at exponent -6.
        assert_eq!(ref_q32(1_500_000, -6), Some(3 << 31));
        assert_eq!(ref_q32(3, 0), Some(3 << 32));
        assert_eq!(ref_q32(1 << 40, 0), None);
        assert_eq!(ref_q32(5, 20), None);
        assert_eq!(
            ref_q32(1 << 62, -25),
            Some(((1u128 << 94) / 10u128.pow(25)) as u64)
        );
        assert_eq!(ref_q32(1, -45), Some(0));
        // Spot 1.0 against a reference of 1.0: inside any band; 1 % off: outside 99 bps,
        // inside 100 bps, both ways.
        assert!(within_deviation_q32(1_000_000, 1_000_000, 1 << 32, 1));
        assert!(within_deviation_q32(1_000_000, 1_010_000, 1 << 32, 100));
        assert!(!within_deviation_q32(1_000_000, 1_010_000, 1 << 32, 99));
        assert!(within_deviation_q32(1_000_000, 990_000, 1 << 32, 100));
        assert!(!within_deviation_q32(1_000_000, 989_999, 1 << 32, 100));
    }

    #[test]
    fn pyth_receiver_id_matches_its_base58() {
        let parsed: Address = "rec5EKMGg6MxZYaMdyBfgwp4d5rB9T1VQH5pJv5LtFJ"
            .parse()
            .unwrap();
        assert_eq!(parsed, PYTH_RECEIVER_ID);
        let d = crate::sha256_const::discriminator(b"account:", b"PriceUpdateV2");
        assert_eq!(d, PRICE_UPDATE_V2_DISC);
    }

    #[test]
    fn judge_orders_its_checks() {
        let l = QuoteLimits {
            exponent: -8,
            max_age: 10,
            now: 100,
            max_conf_bps: 50,
        };
        let q = Quote {
            price: 1_000_000,
            conf: 5_000,
            exponent: -8,
            published: 90,
        };
        assert_eq!(judge(&q, &l), Reading::Fresh(1_000_000));
        assert_eq!(judge(&Quote { published: 89, ..q }, &l), Reading::Stale);
        assert_eq!(judge(&Quote { conf: 5_001, ..q }, &l), Reading::Uncertain);
        assert_eq!(judge(&Quote { price: 0, ..q }, &l), Reading::Uncertain);
        assert_eq!(judge(&Quote { exponent: -6, ..q }, &l), Reading::Uncertain);
        assert_eq!(
            judge(
                &Quote {
                    published: 200,
                    ..q
                },
                &l
            ),
            Reading::Fresh(1_000_000)
        );
    }

    /// The exact rational test, in u128 where it fits, else None (skip).
    fn exact(ra: u64, rb: u64, price: u64, shift: i64, dev: u16) -> Option<bool> {
        let x = ra as u128 * price as u128;
        let spot = rb as u128 * 10_000;
        let (num, den) = if shift >= 0 {
            (x.checked_mul(10u128.checked_pow(shift as u32)?)?, 1u128)
        } else {
            (x, 10u128.checked_pow(shift.unsigned_abs() as u32)?)
        };
        // V = num / den; V (1e4 - dev) <= spot <= V (1e4 + dev), exactly.
        let up = num.checked_mul(10_000 + dev as u128)?;
        let down = num.checked_mul(10_000 - dev as u128)?;
        let sd = spot.checked_mul(den)?;
        Some(down <= sd && sd <= up)
    }

    #[test]
    fn deviation_bound_edges() {
        // 1 A atom = 1 B atom (shift 0 after the decimals): pool 1:1, both directions.
        let (ra, p) = (1_000_000u64, 1_000_000u64);
        assert!(within_deviation(ra, 1_010_000, p, -6, 100));
        assert!(!within_deviation(ra, 1_010_001, p, -6, 100));
        assert!(within_deviation(ra, 990_000, p, -6, 100));
        assert!(!within_deviation(ra, 989_999, p, -6, 100));
        // Oracle 150.00000000 (exponent -8), A 9 decimals, B 6: 0.15 B atoms per A atom.
        let ra = 1_000_000_000_000u64;
        assert!(within_deviation(
            ra,
            150_000_000_000,
            15_000_000_000,
            -11,
            1
        ));
        assert!(!within_deviation(
            ra,
            150_015_000_001,
            15_000_000_000,
            -11,
            1
        ));
        assert!(within_deviation(
            ra,
            150_015_000_000,
            15_000_000_000,
            -11,
            1
        ));
        // V = 0.3 B atoms rounds to (0, 1); rb = 1 is over 3x the oracle value: refused.
        assert_eq!(oracle_value(1, 1, -1), Some((0, 1)));
        assert!(!within_deviation(3, 1, 1, -1, 10_000));
        assert_eq!(oracle_value(u64::MAX, 1 << 55, 0), None);
        assert_eq!(oracle_value(1, 1, 20), None);
        assert_eq!(oracle_value(7, 3, -60), Some((0, 1)));
        assert_eq!(oracle_value(7, 3, 2), Some((2_100, 2_100)));
    }

    #[test]
    fn deviation_matches_exact_arithmetic() {
        let mut s = 11u64;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s >> 1
        };
        let mut checked = 0;
        for _ in 0..100_000 {
            let ra = next() >> (next() % 64);
            let price = (next() >> 8 >> (next() % 56)).max(1);
            let shift = (next() % 50) as i64 - 30;
            let dev = (next() % 10_001) as u16;
            let ra = ra.max(1);
            // rb near the oracle value most of the time, so both outcomes occur.
            let rb = match oracle_value(ra, price, shift) {
                Some((lo, _)) if next() % 4 != 0 => {
                    let d = (lo / 10_000).saturating_mul(dev as u64);
                    let span = d.saturating_mul(2).saturating_add(3);
                    lo.saturating_sub(d).saturating_add(next() % span).max(1)
                }
                _ => (next() >> (next() % 64)).max(1),
            };
            // The rounded test may only refuse more than the exact one, and only when the
            // rounding matters (V not an integer) or V does not fit.
            let got = within_deviation(ra, rb, price, shift, dev);
            if let Some(e) = exact(ra, rb, price, shift, dev) {
                checked += 1;
                if got {
                    assert!(e, "{ra} {rb} {price} {shift} {dev}");
                }
                if let Some((lo, hi)) = oracle_value(ra, price, shift) {
                    if lo == hi {
                        assert_eq!(got, e, "{ra} {rb} {price} {shift} {dev}");
                    }
                }
            }
        }
        assert!(checked > 50_000);
    }
}
