"""Bit-exact Python twin of the on-chain features (`programs/ml_agent/src/features.rs`).

Features are i32 Q16.16 computed from a price history with integer arithmetic only, so a model
trained on ``training_rows`` sees exactly the numbers ``agent_step`` feeds it on chain.

| kind | name | param | value |
|---|---|---|---|
| 1 | RETURN | k in 1..=63 | (p_t - p_{t-k}) / p_{t-k} |
| 2 | SMA_RATIO | n in 2..=64 | (n p_t - S) / S, S the sum of the last n prices |
| 3 | VOLATILITY | n in 1..=63 | mean of floor(abs(p_i - p_{i-1}) * 65536 / p_{i-1}) over n steps |
| 4 | POSITION | 0 | base balance / max_position |

Magnitudes are floored, the sign applied afterwards (truncation toward zero), then saturated
to i32.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

RETURN = 1
SMA_RATIO = 2
VOLATILITY = 3
POSITION = 4
KIND_NAMES = {
    RETURN: "return",
    SMA_RATIO: "sma_ratio",
    VOLATILITY: "volatility",
    POSITION: "position",
}
HISTORY = 64
MAX_FEATURES = 8
MAX_PRICE = 1 << 56
I32_MAX = 2**31 - 1
I32_MIN = -(2**31)
U64_MAX = 2**64 - 1


@dataclass(frozen=True)
class Feature:
    kind: int
    param: int = 0

    @property
    def lookback(self) -> int:
        k, p = self.kind, self.param
        if k == RETURN and 1 <= p < HISTORY:
            return p + 1
        if k == SMA_RATIO and 2 <= p <= HISTORY:
            return p
        if k == VOLATILITY and 1 <= p < HISTORY:
            return p + 1
        if k == POSITION and p == 0:
            return 1
        raise ValueError(f"invalid feature ({k}, {p})")

    def __str__(self) -> str:
        name = KIND_NAMES.get(self.kind, f"kind{self.kind}")
        return name if self.kind == POSITION else f"{name}:{self.param}"

    @classmethod
    def parse(cls, text: str) -> Feature:
        """``return:5``, ``sma_ratio:20``, ``volatility:10``, ``position``."""
        name, _, param = text.strip().partition(":")
        kinds = {v: k for k, v in KIND_NAMES.items()}
        if name not in kinds:
            raise ValueError(f"unknown feature {name!r} (one of {sorted(kinds)})")
        f = cls(kinds[name], int(param or 0))
        _ = f.lookback
        return f


@dataclass(frozen=True)
class FeatureSpec:
    features: tuple[Feature, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.features) <= MAX_FEATURES:
            raise ValueError(f"a feature spec has 1..{MAX_FEATURES} features")
        for f in self.features:
            _ = f.lookback

    @property
    def lookback(self) -> int:
        return max(f.lookback for f in self.features)

    def encode(self) -> list[int]:
        """The 16-byte on-chain form: (kind, param) pairs, zero padded."""
        out = [b for f in self.features for b in (f.kind, f.param)]
        return out + [0] * (2 * MAX_FEATURES - len(out))

    @classmethod
    def decode(cls, raw: Sequence[int], n: int) -> FeatureSpec:
        return cls(tuple(Feature(raw[2 * i], raw[2 * i + 1]) for i in range(n)))

    @classmethod
    def parse(cls, text: str) -> FeatureSpec:
        return cls(tuple(Feature.parse(t) for t in text.split(",") if t.strip()))

    def __len__(self) -> int:
        return len(self.features)


def _ratio_q16(num: int, den: int) -> int:
    if den == 0:
        return U64_MAX
    q = num * 65536 // den
    return q if q <= U64_MAX else U64_MAX


def _signed(neg: bool, mag: int) -> int:
    if neg:
        return I32_MIN if mag >= 1 << 31 else -mag
    return min(mag, I32_MAX)


def _rel_change(a: int, b: int) -> int:
    return _signed(False, _ratio_q16(a - b, b)) if a >= b else _signed(True, _ratio_q16(b - a, b))


def compute(
    prices: Sequence[int], spec: FeatureSpec, *, base_balance: int = 0, max_position: int = 0
) -> list[int]:
    """Features after the newest price (``prices`` oldest first; at least ``spec.lookback``)."""
    if len(prices) < spec.lookback:
        raise ValueError(f"need {spec.lookback} prices, got {len(prices)}")

    def back(i: int) -> int:
        return int(prices[len(prices) - 1 - i])

    out: list[int] = []
    for f in spec.features:
        p = f.param
        if f.kind == RETURN:
            out.append(_rel_change(back(0), back(p)))
        elif f.kind == SMA_RATIO:
            s = sum(back(i) for i in range(p))
            np_ = back(0) * p
            out.append(
                _signed(False, _ratio_q16(np_ - s, s))
                if np_ >= s
                else _signed(True, _ratio_q16(s - np_, s))
            )
        elif f.kind == VOLATILITY:
            total = 0
            for i in range(p):
                cur, prev = back(i), back(i + 1)
                total = min(total + _ratio_q16(abs(cur - prev), prev), U64_MAX)
            out.append(_signed(False, total // p))
        else:
            out.append(_signed(False, _ratio_q16(base_balance, max_position)))
    return out


def training_rows(
    prices: Sequence[int], spec: FeatureSpec, *, max_position: int = 0, base_balance: int = 0
) -> list[list[int]]:
    """One Q16.16 feature row per price once the history is long enough (the rows `agent_step`
    would compute for this price sequence; POSITION uses a fixed ``base_balance``)."""
    hist: list[int] = []
    rows: list[list[int]] = []
    for p in prices:
        hist = [*hist, int(p)][-HISTORY:]
        if len(hist) >= spec.lookback:
            rows.append(compute(hist, spec, base_balance=base_balance, max_position=max_position))
    return rows


# Feature history windows (an agent's `AgentHistory`, `state/agent_history.rs`).
MIN_WINDOW = 2
MAX_WINDOW = 128


def flatten_window(vectors: Sequence[Sequence[int]]) -> list[int]:
    """The input of a window model: `T` feature vectors (oldest first) flattened time-major,
    value `f` of vector `t` at index `t * F + f` (what `agent_step` feeds a model of `T * F`
    inputs)."""
    return [int(v) for vec in vectors for v in vec]


def window_rows(
    prices: Sequence[int],
    spec: FeatureSpec,
    window: int,
    *,
    max_position: int = 0,
    base_balance: int = 0,
) -> list[list[int]]:
    """One flattened window (`window * len(spec)` Q16.16 values) per price once the feature
    history holds `window` vectors: what an agent with a history of `window` steps feeds its
    window models after each of these prices (every price a sampled step; POSITION uses a
    fixed ``base_balance``)."""
    if not MIN_WINDOW <= window <= MAX_WINDOW:
        raise ValueError(f"a window is {MIN_WINDOW}..{MAX_WINDOW} steps, not {window}")
    rows = training_rows(prices, spec, max_position=max_position, base_balance=base_balance)
    return [flatten_window(rows[i - window : i]) for i in range(window, len(rows) + 1)]
