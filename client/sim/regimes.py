"""Regime-switching price paths with the research memo's three regimes (section 7.2).

A Markov chain over ``TREND``, ``MEAN_REVERT`` and ``CRISIS`` (sticky: each regime lasts
``1 / (1 - stay)`` steps on average), each step a move of the log price ``x``:

- **trend**: ``x += d * mu + sigma * z`` with a direction ``d = ±1`` drawn on entering the regime
  (a trend is up or down for its whole run);
- **mean-revert**: an Ornstein-Uhlenbeck step towards the level ``m`` held on entry,
  ``x += theta * (m - x) + sigma * z`` (same sigma as the trend, so volatility alone cannot
  tell these two apart: a model must look at how moves add up over time);
- **crisis**: ``x += mu + sigma * z + J``: high volatility, a downward drift and, with
  probability ``jump_p`` per step, a jump ``J ~ N(jump_mu, jump_sigma)`` (mostly down).

Like ``client.sim.paths``, every generator takes a ``seed`` and returns the same path for the
same arguments (numpy's PCG64 ``Generator``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from .paths import PricePath

TREND: Final = 0
MEAN_REVERT: Final = 1
CRISIS: Final = 2
REGIME_NAMES: Final = ("trend", "mean-revert", "crisis")


@dataclass(frozen=True)
class RegimeParams:
    """Per-step parameters of the three regimes (log-price units)."""

    trend_mu: float = 0.002
    trend_sigma: float = 0.007
    revert_theta: float = 0.1
    revert_sigma: float = 0.007
    crisis_mu: float = -0.002
    crisis_sigma: float = 0.02
    jump_p: float = 0.03
    jump_mu: float = -0.04
    jump_sigma: float = 0.02
    # Probability of staying in the regime at each step (mean run 1 / (1 - stay) steps).
    stay: tuple[float, float, float] = (0.99, 0.99, 0.985)

    def __post_init__(self) -> None:
        sigmas = (self.trend_sigma, self.revert_sigma, self.crisis_sigma, self.jump_sigma)
        if min(sigmas) < 0 or not 0 <= self.jump_p <= 1 or not 0 <= self.revert_theta <= 1:
            raise ValueError("sigmas must be >= 0, jump_p and revert_theta in [0, 1]")
        if len(self.stay) != 3 or not all(0 <= s < 1 for s in self.stay):
            raise ValueError("stay: three probabilities in [0, 1)")


DEFAULT_PARAMS: Final = RegimeParams()


def regime_path(
    n: int, *, s0: float = 100.0, params: RegimeParams = DEFAULT_PARAMS, seed: int = 0
) -> PricePath:
    """``n`` prices and the regime of each step (``regimes[t]`` is the regime that produced the
    move into ``prices[t]``; ``regimes[0]`` is the starting regime, drawn uniformly)."""
    if n < 2 or s0 <= 0:
        raise ValueError(f"need n >= 2 and s0 > 0 (got n={n}, s0={s0})")
    rng = np.random.default_rng(seed)
    # Draw every random number up front, in a fixed order, so the path depends only on the seed.
    u_switch = rng.random(n)
    u_pick = rng.random(n)
    u_dir = rng.random(n)
    z = rng.standard_normal(n)
    u_jump = rng.random(n)
    z_jump = rng.standard_normal(n)

    p = params
    regimes = np.zeros(n, dtype=np.int64)
    x = np.zeros(n, dtype=np.float64)
    state = int(u_pick[0] * 3)
    direction = 1.0 if u_dir[0] < 0.5 else -1.0
    level = 0.0
    regimes[0] = state
    for t in range(1, n):
        if u_switch[t] >= p.stay[state]:
            # Switch to one of the two other regimes, uniformly.
            state = (state + 1 + int(u_pick[t] * 2)) % 3
            direction = 1.0 if u_dir[t] < 0.5 else -1.0
            level = x[t - 1]
        regimes[t] = state
        prev = x[t - 1]
        if state == TREND:
            step = direction * p.trend_mu + p.trend_sigma * z[t]
        elif state == MEAN_REVERT:
            step = p.revert_theta * (level - prev) + p.revert_sigma * z[t]
        else:
            step = p.crisis_mu + p.crisis_sigma * z[t]
            if u_jump[t] < p.jump_p:
                step += p.jump_mu + p.jump_sigma * z_jump[t]
        x[t] = prev + step
    return PricePath(s0 * np.exp(x), regimes, REGIME_NAMES)
