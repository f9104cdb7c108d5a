"""Regime windows: 120 timesteps x 5 on-chain features, labelled with the regime at the end.

Each price path (``client.sim.regimes.regime_path``) is turned into Q32 integer prices (the pool
source's scale, ``client.bot.train.price_ints``) and then into one feature row per step with the
bit-exact twin of the agent's on-chain features (``client.agent.features.training_rows``): the
numbers an agent computes over its own price history. A window is ``T`` consecutive rows,
flattened time-major, oldest first (index ``t * F + f``, docs/model-format.md 1.11), as float
``q / 65536``; its label is the regime of the step of its last row.

The feature spec (``REGIME_SPEC``): the two things that tell the regimes apart are volatility
(crisis moves ~2.5x more per step than the other two) and how moves add up over time (a trend
keeps going, a mean-reverting path returns to its level, so at equal per-step volatility the long
return and the distance from the moving average separate them):

- ``return:1``: the last move (crisis jumps, sign of the move);
- ``return:16``: the medium-horizon move;
- ``return:63``: the longest return the ring allows: grows linearly in a trend, bounded by the
  OU spread in a mean-reverting run;
- ``sma_ratio:32``: price against its 32-step mean: stays on one side in a trend, crosses zero
  every few steps when mean-reverting;
- ``volatility:16``: mean absolute move over 16 steps: the crisis detector.

All lookbacks are <= 64 (the agent's ring), so an agent computes the same rows on chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
from numpy.typing import NDArray

from ..agent.features import FeatureSpec, training_rows
from ..bot.train import price_ints
from ..sim.regimes import DEFAULT_PARAMS, REGIME_NAMES, RegimeParams, regime_path

REGIME_SPEC: Final = "return:1,return:16,return:63,sma_ratio:32,volatility:16"
WINDOW: Final = 120
N_CLASSES: Final = len(REGIME_NAMES)
Q16: Final = 65536.0


@dataclass(frozen=True)
class WindowConfig:
    """How windows are cut from generated paths. Path ``i`` of a split uses seed
    ``seed * 1_000_003 + i``: splits with different ``seed`` share no path."""

    spec: str = REGIME_SPEC
    window: int = WINDOW
    path_len: int = 1000
    stride: int = 8  # steps between the ends of consecutive windows of one path
    params: RegimeParams = field(default_factory=lambda: DEFAULT_PARAMS)

    @property
    def feature_spec(self) -> FeatureSpec:
        return FeatureSpec.parse(self.spec)

    @property
    def n_features(self) -> int:
        return len(self.feature_spec)


@dataclass(frozen=True)
class RegimeRows:
    """The feature rows of one path: ``rows[i]`` are the Q16.16 features after price
    ``first_price + i``, ``labels[i]`` that step's regime."""

    rows: NDArray[np.int64]  # (n_rows, F) Q16.16
    labels: NDArray[np.int64]  # (n_rows,)
    # The path's Q32 prices (``first_price`` + n_rows of them) when known.
    prices: NDArray[np.int64] | None = None


@dataclass(frozen=True)
class WindowSet:
    """Windows as floats ``(n, T * F)`` (time-major) and their labels ``(n,)``."""

    x: NDArray[np.float64]
    y: NDArray[np.int64]
    window: int
    n_features: int

    def __len__(self) -> int:
        return len(self.y)

    def as_sequences(self) -> NDArray[np.float64]:
        """``(n, T, F)``: the batch-first layout of the ONNX models' input."""
        return self.x.reshape(len(self.y), self.window, self.n_features)

    def q16(self) -> NDArray[np.int64]:
        """The windows' exact Q16.16 integers (the floats are ``q / 65536``)."""
        return np.rint(self.x * Q16).astype(np.int64)


def path_seed(seed: int, i: int) -> int:
    return seed * 1_000_003 + i


def path_rows(config: WindowConfig, seed: int) -> RegimeRows:
    """Features of one generated path through the on-chain twin."""
    spec = config.feature_spec
    path = regime_path(config.path_len, params=config.params, seed=seed)
    assert path.regimes is not None
    prices = price_ints(path.prices.tolist())
    rows = np.asarray(training_rows(prices, spec), dtype=np.int64)
    first = spec.lookback - 1  # the price index of the first row
    return RegimeRows(rows, path.regimes[first:].copy(), np.asarray(prices, dtype=np.int64))


def rows_to_windows(r: RegimeRows, config: WindowConfig, *, stride: int | None = None) -> WindowSet:
    """Every ``stride``-th window of ``config.window`` consecutive rows (the last one ends at
    the path's last row)."""
    t, n_rows = config.window, len(r.rows)
    step = config.stride if stride is None else stride
    if n_rows < t:
        raise ValueError(f"a path of {n_rows} feature rows is shorter than a {t}-step window")
    ends = np.arange(n_rows - 1, t - 2, -step)[::-1]
    idx = ends[:, None] - (t - 1) + np.arange(t)[None, :]
    x = r.rows[idx].reshape(len(ends), -1).astype(np.float64) / Q16
    return WindowSet(x, r.labels[ends], t, r.rows.shape[1])


def make_windows(config: WindowConfig, n_paths: int, seed: int) -> WindowSet:
    """Windows of ``n_paths`` paths generated from ``seed`` (deterministic)."""
    if n_paths < 1:
        raise ValueError("n_paths must be >= 1")
    parts = [rows_to_windows(path_rows(config, path_seed(seed, i)), config) for i in range(n_paths)]
    return concat(parts)


def concat(parts: list[WindowSet]) -> WindowSet:
    first = parts[0]
    return WindowSet(
        np.concatenate([p.x for p in parts]),
        np.concatenate([p.y for p in parts]),
        first.window,
        first.n_features,
    )


def class_counts(y: NDArray[np.int64]) -> dict[str, int]:
    return {name: int(np.sum(y == i)) for i, name in enumerate(REGIME_NAMES)}
