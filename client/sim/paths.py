"""Price paths for simulated markets: geometric Brownian motion, regime switching, CSV replay.

Every generator takes a ``seed`` and returns the same path for the same arguments (numpy's
PCG64 ``Generator``), so a simulation, a backtest and a test can all replay one path.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

DATA_DIR: Final = Path(__file__).resolve().parents[2] / "data"
SHIPPED_CSV: Final = DATA_DIR / "prices_regime_seed20240601.csv"


@dataclass(frozen=True)
class Regime:
    """Drift and volatility per step (log-return mean and standard deviation)."""

    name: str
    mu: float
    sigma: float


CALM_UP: Final = Regime("calm-up", 0.0004, 0.004)
CALM_DOWN: Final = Regime("calm-down", -0.0004, 0.004)
VOLATILE: Final = Regime("volatile", 0.0, 0.015)


@dataclass(frozen=True)
class PricePath:
    prices: NDArray[np.float64]
    # Regime index per step (regime-switching paths only).
    regimes: NDArray[np.int64] | None = None
    regime_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.prices)


def gbm(
    n: int, *, s0: float = 100.0, mu: float = 0.0, sigma: float = 0.01, seed: int = 0
) -> PricePath:
    """Geometric Brownian motion with per-step drift ``mu`` and volatility ``sigma``:
    ``S[t+1] = S[t] * exp(mu - sigma²/2 + sigma * Z)``."""
    _check(n, s0, sigma)
    z = np.random.default_rng(seed).standard_normal(n - 1)
    steps = (mu - 0.5 * sigma**2) + sigma * z
    return PricePath(s0 * np.exp(np.concatenate([[0.0], np.cumsum(steps)])))


def regime_switching(
    n: int,
    *,
    s0: float = 100.0,
    regimes: Sequence[Regime] = (CALM_UP, CALM_DOWN, VOLATILE),
    stay: float = 0.98,
    seed: int = 0,
) -> PricePath:
    """A Markov chain over ``regimes`` (stay with probability ``stay``, else switch to another
    uniformly), each step a GBM step with the current regime's parameters."""
    if len(regimes) < 2 or not 0 <= stay <= 1:
        raise ValueError("need at least two regimes and 0 <= stay <= 1")
    _check(n, s0, max(r.sigma for r in regimes))
    rng = np.random.default_rng(seed)
    state = np.zeros(n, dtype=np.int64)
    for t in range(1, n):
        if rng.random() < stay:
            state[t] = state[t - 1]
        else:
            others = [i for i in range(len(regimes)) if i != state[t - 1]]
            state[t] = others[int(rng.integers(len(others)))]
    mu = np.array([r.mu for r in regimes])[state[1:]]
    sigma = np.array([r.sigma for r in regimes])[state[1:]]
    steps = (mu - 0.5 * sigma**2) + sigma * rng.standard_normal(n - 1)
    prices = s0 * np.exp(np.concatenate([[0.0], np.cumsum(steps)]))
    return PricePath(prices, state, tuple(r.name for r in regimes))


def write_csv(path: Path, prices: NDArray[np.float64], regimes: NDArray[np.int64] | None) -> None:
    """``step,price[,regime]`` with prices to 6 decimals (what the shipped file holds)."""
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["step", "price", *(["regime"] if regimes is not None else [])])
        for i, price in enumerate(prices):
            row = [str(i), f"{price:.6f}"]
            if regimes is not None:
                row.append(str(int(regimes[i])))
            w.writerow(row)


def load_csv(path: Path = SHIPPED_CSV, *, column: str = "price") -> PricePath:
    """Read a price column from a CSV with a header row (e.g. the shipped series)."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or column not in rows[0]:
        raise ValueError(f"{path} has no {column!r} column")
    prices = np.array([float(r[column]) for r in rows], dtype=np.float64)
    if len(prices) < 2 or not np.all(prices > 0):
        raise ValueError(f"{path}: need at least two positive prices")
    regimes = (
        np.array([int(r["regime"]) for r in rows], dtype=np.int64) if "regime" in rows[0] else None
    )
    return PricePath(prices, regimes)


def shipped_series() -> PricePath:
    """The series in ``data/`` (see data/README.md for how it was made)."""
    return load_csv(SHIPPED_CSV)


def regenerate_shipped(path: Path = SHIPPED_CSV) -> None:
    """Recreate ``data/prices_regime_seed20240601.csv`` exactly."""
    p = regime_switching(2000, s0=100.0, seed=20240601)
    assert p.regimes is not None
    write_csv(path, p.prices, p.regimes)


def _check(n: int, s0: float, sigma: float) -> None:
    if n < 2 or s0 <= 0 or sigma < 0:
        raise ValueError(f"need n >= 2, s0 > 0, sigma >= 0 (got n={n}, s0={s0}, sigma={sigma})")


if __name__ == "__main__":
    regenerate_shipped()
    print(f"wrote {SHIPPED_CSV}")
