"""Python twin of the agent's vote, decision and risk logic (`instructions/agent/step.rs`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SELL, HOLD, BUY = 0, 1, 2
ACTION_NAMES = {SELL: "sell", HOLD: "hold", BUY: "buy"}

TRADED = 0
R_HOLD = 1
LOW_CONFIDENCE = 2
RISK_LIMIT = 3
COOLDOWN = 4
STALE_PRICE = 5
PAUSED = 6
WARMUP = 7
PRICE_UNCERTAIN = 8
SLIPPAGE = 9
ORACLE_DEVIATION = 10
# A model could not run (gone, pinned content changed, no longer fits the spec): a HOLD.
MODEL_UNAVAILABLE = 11
TWAP_DEVIATION = 12
PRICE_NOT_ADVANCED = 13
# Window models but fewer than T vectors in the feature history (or no history): a HOLD.
WARMING_UP = 14
REASON_NAMES = {
    TRADED: "traded",
    R_HOLD: "hold",
    LOW_CONFIDENCE: "low_confidence",
    RISK_LIMIT: "risk_limit",
    COOLDOWN: "cooldown",
    STALE_PRICE: "stale_price",
    PAUSED: "paused",
    WARMUP: "warmup",
    PRICE_UNCERTAIN: "price_uncertain",
    SLIPPAGE: "slippage",
    ORACLE_DEVIATION: "oracle_deviation",
    MODEL_UNAVAILABLE: "model_unavailable",
    TWAP_DEVIATION: "twap_deviation",
    PRICE_NOT_ADVANCED: "price_not_advanced",
    WARMING_UP: "warming_up",
}
Q32 = 1 << 32
# The deviation bound every agent has unless told otherwise: 1 % between the pool's spot
# price and the reference (oracle, or the pool's TWAP for pool agents).
DEFAULT_MAX_DEV_BPS = 100
U64_MAX = 2**64 - 1


@dataclass(frozen=True)
class Risk:
    trade_size: int
    max_position: int
    max_trade: int
    max_turnover_per_day: int
    min_slots_between_trades: int = 0
    max_price_age: int = 100
    threshold_q16: int = 0
    max_conf_bps: int = 100
    slippage_bps: int = 100
    # 1..10,000 bps between the pool's spot and the reference price (the oracle, or the pool's
    # TWAP for pool agents); required by the program, on by default here.
    max_oracle_dev_bps: int = DEFAULT_MAX_DEV_BPS

    def to_idl(self) -> dict[str, object]:
        return {
            "trade_size": self.trade_size,
            "max_position": self.max_position,
            "max_trade": self.max_trade,
            "max_turnover_per_day": self.max_turnover_per_day,
            "min_slots_between_trades": self.min_slots_between_trades,
            "max_price_age": self.max_price_age,
            "threshold_q16": self.threshold_q16,
            "max_conf_bps": self.max_conf_bps,
            "slippage_bps": self.slippage_bps,
            "max_oracle_dev_bps": self.max_oracle_dev_bps,
            "padding": [0] * 4,
        }


@dataclass(frozen=True)
class Plan:
    reason: int
    amount_in: int = 0
    amount_out: int = 0
    value: int = 0


def swap_out(r_in: int, r_out: int, amount_in: int, fee_bps: int) -> int | None:
    x = amount_in * (10_000 - fee_bps) // 10_000
    den = r_in + x
    if den > U64_MAX or den == 0:
        return None
    out = r_out * x // den
    return out if out <= U64_MAX else None


def _mdf(a: int, b: int, d: int) -> int | None:
    if d == 0:
        return None
    q = a * b // d
    return q if q <= U64_MAX else None


def oracle_value(reserve_a: int, price: int, shift: int) -> tuple[int, int] | None:
    """`reserve_a * price * 10^shift` as (floor, ceil), None when the ceiling exceeds u64
    (`oracle::oracle_value`)."""
    x = reserve_a * price
    if shift >= 0:
        v = x * 10**shift
        return (v, v) if v <= U64_MAX else None
    d = 10 ** (-shift)
    lo, hi = x // d, -(-x // d)
    return (lo, hi) if hi <= U64_MAX else None


def within_deviation(reserve_a: int, reserve_b: int, price: int, shift: int, dev_bps: int) -> bool:
    """The pool's spot `reserve_b / reserve_a` within `dev_bps` of the oracle price
    `price * 10^shift` (B atoms per A atom), both ways, rounding against the trade
    (`oracle::within_deviation`)."""
    v = oracle_value(reserve_a, price, shift)
    if v is None:
        return False
    lo, hi = v
    spot = reserve_b * 10_000
    return spot <= lo * (10_000 + dev_bps) and hi * max(10_000 - dev_bps, 0) <= spot


def within_deviation_q32(reserve_a: int, reserve_b: int, ref_q32: int, dev_bps: int) -> bool:
    """Pool agents: the spot within `dev_bps` of the Q32 reference (the TWAP), both ways
    (`oracle::within_deviation_q32`)."""
    x = reserve_a * ref_q32
    lo, hi = x >> 32, -(-x >> 32)
    if hi > U64_MAX:
        return False
    spot = reserve_b * 10_000
    return spot <= lo * (10_000 + dev_bps) and hi * max(10_000 - dev_bps, 0) <= spot


def ref_q32(price: int, shift: int) -> int | None:
    """An oracle price `price * 10^shift` as Q32 B atoms per A atom, rounded down; None when it
    exceeds a u64 (`oracle::ref_q32`)."""
    if shift >= 0:
        v = (price << 32) * 10**shift
        return v if shift <= 19 and v <= U64_MAX else None
    v = (price << 32) // 10 ** (-shift)
    return v if v <= U64_MAX else None


def vote(classes: Sequence[int], confs: Sequence[int], weights: Sequence[int]) -> tuple[int, int]:
    score = [0, 0, 0]
    for c, conf, w in zip(classes, confs, weights, strict=True):
        score[min(c, 2)] += w * conf
    total = sum(weights)
    best = max(score)
    cls = HOLD if score.count(best) > 1 else score.index(best)
    return cls, (score[cls] // total if total else 0)


@dataclass
class Book:
    """The agent state the decision reads."""

    trades: int = 0
    last_trade_slot: int = 0
    turnover_today: int = 0


def decide(
    risk: Risk,
    book: Book,
    *,
    action: int,
    confidence: int,
    reserve_a: int,
    reserve_b: int,
    base_balance: int,
    quote_balance: int,
    fee_bps: int,
    slot: int,
    ref_price_q32: int,
    oracle_price: int = 0,
    oracle_shift: int = 0,
) -> Plan:
    """`ref_price_q32`: the reference price (Q32 B atoms per A atom) sizing and `min_out` use:
    the TWAP sample for a pool agent, the oracle price converted for the others.
    `oracle_price` (mantissa) and `oracle_shift` (exponent + B decimals - A decimals) for
    feed / Pyth agents; `oracle_price=0` for a pool-priced agent (bound against the TWAP)."""
    if action == HOLD:
        return Plan(R_HOLD)
    if confidence < risk.threshold_q16:
        return Plan(LOW_CONFIDENCE)
    if book.trades > 0 and slot < min(
        book.last_trade_slot + risk.min_slots_between_trades, U64_MAX
    ):
        return Plan(COOLDOWN)
    ra, rb, px = reserve_a, reserve_b, ref_price_q32
    if ra == 0 or rb == 0 or px == 0:
        return Plan(RISK_LIMIT)
    if action == BUY:
        x = min(risk.trade_size, quote_balance)
        out = swap_out(rb, ra, x, fee_bps) or 0
        value, fair = x, _mdf(x, Q32, px) or 0
    else:
        want = _mdf(risk.trade_size, Q32, px)
        x = min(U64_MAX if want is None else want, base_balance)
        out = swap_out(ra, rb, x, fee_bps) or 0
        value, fair = out, _mdf(x, px, Q32) or 0
    if x == 0 or out == 0 or value > risk.max_trade:
        return Plan(RISK_LIMIT)
    if action == BUY and base_balance + out > risk.max_position:
        return Plan(RISK_LIMIT)
    if book.turnover_today + value > risk.max_turnover_per_day:
        return Plan(RISK_LIMIT)
    if oracle_price:
        if not within_deviation(ra, rb, oracle_price, oracle_shift, risk.max_oracle_dev_bps):
            return Plan(ORACLE_DEVIATION)
    elif not within_deviation_q32(ra, rb, px, risk.max_oracle_dev_bps):
        return Plan(TWAP_DEVIATION)
    min_out = -(-fair * (10_000 - risk.slippage_bps) // 10_000)
    if out < min_out:
        return Plan(SLIPPAGE)
    return Plan(TRADED, x, out, value)
