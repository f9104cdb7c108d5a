"""Offline replay of an agent: the same prices through the feature twin, the reference executor
and the decision/risk twin. Its decisions must equal the chain's `Decision` events step by step
(tests/agent/test_replay.py checks it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..model.qmodel import QModel
from ..model.reference import execute
from .decide import (
    BUY,
    HOLD,
    PAUSED,
    PRICE_NOT_ADVANCED,
    PRICE_UNCERTAIN,
    SELL,
    TRADED,
    WARMING_UP,
    WARMUP,
    Book,
    Risk,
    decide,
    ref_q32,
    vote,
)
from .features import HISTORY, MAX_FEATURES, FeatureSpec, compute, flatten_window

DAY_SECONDS = 86_400


WIDE = 1 << 128
MAX_PRICE = 1 << 56


@dataclass(frozen=True)
class Observation:
    """What one step sees: the clock, the pool's tracked reserves before the step and its
    price source.

    * Pool agents: `cumulative`, the pool's cumulative price (Q32 x slots, modulo 2^128) at
      this slot as the step sees it (`PoolState.cumulative_at(slot)`); `price` is ignored, the
      agent's price is the TWAP since its previous sample.
    * Feed / Pyth agents: `price` (None with `no_price_reason` when the source is stale or
      uncertain) and `published`, its publish slot (feed) or time (Pyth)."""

    slot: int
    unix_time: int
    price: int | None
    reserve_a: int
    reserve_b: int
    no_price_reason: int = 0
    paused: bool = False
    cumulative: int | None = None
    published: int | None = None


@dataclass(frozen=True)
class ReplayDecision:
    step: int
    slot: int
    price: int
    action: int
    reason: int
    class_id: int
    confidence_q16: int
    features: tuple[int, ...]
    amount_in: int
    amount_out: int


def pool_price(reserve_a: int, reserve_b: int) -> int | None:
    """The pool's spot price, Q32 quote per base (what the pool accumulates per slot)."""
    if reserve_a == 0:
        return None
    p = (reserve_b << 32) // reserve_a
    return p if 0 < p < MAX_PRICE else None


def twap(c0: int, c1: int, slots: int) -> int | None:
    """The average Q32 price between two cumulative readings (`state::pool::twap_q32`)."""
    if slots <= 0:
        return None
    p = ((c1 - c0) % WIDE) // slots
    return p if p < 1 << 64 else None


def run_models(
    models: Sequence[tuple[QModel, int]],
    features: Sequence[int],
    window: Sequence[int] | None = None,
) -> tuple[int, int, list[int], list[int]]:
    """Each model on the features (or, a model of ``len(window)`` inputs, on the flattened
    window) clamped to its declared range, then the weighted vote."""
    classes: list[int] = []
    confs: list[int] = []
    for qm, _w in models:
        lo, hi = qm.input.lo, qm.input.hi
        src = features if len(lo) == len(features) or window is None else window
        if len(lo) != len(src):
            raise ValueError(f"a model of {len(lo)} inputs on {len(src)} values")
        x = [max(int(lo[j]), min(int(max(hi[j], lo[j])), int(v))) for j, v in enumerate(src)]
        tr = execute(qm, np.asarray([x], dtype=np.int64))
        classes.append(int(tr.classes[0]))
        confs.append(max(0, min(65536, int(tr.confidence[0]))))
    cls, conf = vote(classes, confs, [w for _, w in models])
    return cls, conf, classes, confs


@dataclass
class AgentReplay:
    spec: FeatureSpec
    risk: Risk
    models: list[tuple[QModel, int]]
    fee_bps: int
    base_balance: int = 0
    quote_balance: int = 0
    step: int = 0
    history: list[int] = field(default_factory=list)
    book: Book = field(default_factory=Book)
    day: int = 0
    # Feed / Pyth agents: the oracle exponent + B decimals - A decimals (`AgentState.
    # oracle_shift`); None for a pool-priced agent, whose price is not an oracle.
    oracle_shift: int | None = None
    # Sampling state (`Agent.sampled`, `last_price_slot`, `twap_cum_*`, `last_published`).
    sampled: bool = False
    sample_slot: int = 0
    twap_cum: int = 0
    last_published: int = 0
    # Feature history (`AgentHistory`): its window T (0: none) and the vectors it holds.
    window: int = 0
    vectors: list[list[int]] = field(default_factory=list)

    def _sample(self, obs: Observation) -> tuple[int | None, int]:
        """The price this step pushes, or None and the reason it pushes none (`agent_step`'s
        `read_price` and the one-sample-per-slot rule)."""
        if self.sampled and obs.slot <= self.sample_slot:
            return None, PRICE_NOT_ADVANCED
        if self.oracle_shift is None:
            if obs.cumulative is None:
                raise ValueError("a pool agent's observation needs the pool's cumulative price")
            if not self.sampled:
                self.sampled, self.sample_slot, self.twap_cum = True, obs.slot, obs.cumulative
                return None, WARMUP
            p = twap(self.twap_cum, obs.cumulative, obs.slot - self.sample_slot)
            if p is None or not 0 < p < MAX_PRICE:
                return None, PRICE_UNCERTAIN
            self.twap_cum = obs.cumulative
        else:
            if obs.price is None:
                return None, obs.no_price_reason
            if obs.published is None:
                raise ValueError("an oracle agent's observation needs the publish slot / time")
            if self.sampled and obs.published <= self.last_published:
                return None, PRICE_NOT_ADVANCED
            self.last_published = obs.published
            p = obs.price
        self.sampled, self.sample_slot = True, obs.slot
        return p, 0

    def advance(self, obs: Observation) -> ReplayDecision:
        day = max(obs.unix_time, 0) // DAY_SECONDS
        if day != self.day:
            self.day = day
            self.book.turnover_today = 0
        feats = [0] * MAX_FEATURES
        price, action, cls, conf, reason, amounts = 0, HOLD, 255, 0, 0, (0, 0)
        sample, why = (None, PAUSED) if obs.paused else self._sample(obs)
        if sample is None:
            reason = why
        else:
            price = sample
            self.history = [*self.history, price][-HISTORY:]
            if len(self.history) < self.spec.lookback:
                reason = WARMUP
            else:
                f = compute(
                    self.history,
                    self.spec,
                    base_balance=self.base_balance,
                    max_position=self.risk.max_position,
                )
                feats[: len(f)] = f
                if self.window:
                    self.vectors = [*self.vectors, list(f)][-self.window :]
                full = self.window > 0 and len(self.vectors) == self.window
                window_models = any(len(qm.input.lo) != len(f) for qm, _ in self.models)
                if window_models and not full:
                    reason = WARMING_UP
                else:
                    win = flatten_window(self.vectors) if full else None
                    cls, conf, _, _ = run_models(self.models, f, win)
                    action = cls
                    reason, amounts = self._trade(obs, price, cls, conf)
        d = ReplayDecision(
            self.step, obs.slot, price, action, reason, cls, conf, tuple(feats), *amounts
        )
        self.step += 1
        return d

    def _trade(
        self, obs: Observation, price: int, cls: int, conf: int
    ) -> tuple[int, tuple[int, int]]:
        """`decide`, then the book-keeping of a trade: the reason and (amount in, amount out)."""
        plan = decide(
            self.risk,
            self.book,
            action=cls,
            confidence=conf,
            reserve_a=obs.reserve_a,
            reserve_b=obs.reserve_b,
            base_balance=self.base_balance,
            quote_balance=self.quote_balance,
            fee_bps=self.fee_bps,
            slot=obs.slot,
            ref_price_q32=(
                price if self.oracle_shift is None else ref_q32(price, self.oracle_shift) or 0
            ),
            oracle_price=0 if self.oracle_shift is None else price,
            oracle_shift=self.oracle_shift or 0,
        )
        if plan.reason != TRADED:
            return plan.reason, (0, 0)
        a_in, a_out = plan.amount_in, plan.amount_out
        self.book.trades += 1
        self.book.last_trade_slot = obs.slot
        self.book.turnover_today += plan.value
        if cls == BUY:
            self.quote_balance -= a_in
            self.base_balance += a_out
        elif cls == SELL:
            self.base_balance -= a_in
            self.quote_balance += a_out
        return plan.reason, (a_in, a_out)
