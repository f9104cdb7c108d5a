"""Regime-switching paths and the 120 x 5 feature windows the sequence models read."""

from __future__ import annotations

import numpy as np
import pytest

from client.agent.features import HISTORY, FeatureSpec, compute
from client.bot.train import price_ints
from client.model.sequence_data import (
    REGIME_SPEC,
    WINDOW,
    WindowConfig,
    make_windows,
    path_rows,
    rows_to_windows,
)
from client.sim.regimes import CRISIS, MEAN_REVERT, TREND, RegimeParams, regime_path


def test_paths_are_deterministic_per_seed() -> None:
    a, b, c = regime_path(800, seed=5), regime_path(800, seed=5), regime_path(800, seed=6)
    assert np.array_equal(a.prices, b.prices) and np.array_equal(a.regimes, b.regimes)
    assert not np.array_equal(a.prices, c.prices)


def test_regimes_are_persistent_and_distinct() -> None:
    moves = {TREND: [], MEAN_REVERT: [], CRISIS: []}  # type: dict[int, list[float]]
    runs: list[int] = []
    for seed in range(20):
        p = regime_path(1500, seed=seed)
        assert p.regimes is not None and p.regime_names == ("trend", "mean-revert", "crisis")
        r = p.regimes
        lr = np.diff(np.log(p.prices))
        for k in moves:
            moves[k].extend(lr[r[1:] == k].tolist())
        switches = np.flatnonzero(np.diff(r)) + 1
        runs.extend(np.diff(np.concatenate([[0], switches, [len(r)]])).tolist())
    assert all(len(v) > 3000 for v in moves.values()), "every regime occurs"
    # Persistence: mean run around 1 / (1 - stay) ~ 67..100 steps, never one-step flicker.
    assert 40 < np.mean(runs) < 150
    sd = {k: float(np.std(v)) for k, v in moves.items()}
    assert sd[CRISIS] > 2 * max(sd[TREND], sd[MEAN_REVERT])
    assert np.mean(moves[CRISIS]) < -0.002  # downward drift and jumps


def test_trend_drifts_and_mean_revert_returns_to_its_level() -> None:
    only_trend = RegimeParams(stay=(0.999999, 0.99, 0.99))
    # A path that starts in trend and (almost surely) stays: |log move| grows ~ mu * n.
    drifts = []
    for seed in range(40):
        p = regime_path(400, params=only_trend, seed=seed)
        assert p.regimes is not None
        if np.all(p.regimes == TREND):
            drifts.append(abs(np.log(p.prices[-1] / p.prices[0])))
    assert len(drifts) > 5 and np.median(drifts) > 0.5  # 399 * 0.002 = 0.8
    only_revert = RegimeParams(stay=(0.99, 0.999999, 0.99))
    spreads = []
    for seed in range(40):
        p = regime_path(400, params=only_revert, seed=seed)
        assert p.regimes is not None
        if np.all(p.regimes == MEAN_REVERT):
            spreads.append(abs(np.log(p.prices[-1] / p.prices[0])))
    assert len(spreads) > 5 and np.median(spreads) < 0.05  # OU spread 0.007/sqrt(0.2) ~ 0.016


def test_bad_params_are_refused() -> None:
    with pytest.raises(ValueError):
        RegimeParams(stay=(1.0, 0.9, 0.9))
    with pytest.raises(ValueError):
        regime_path(1)


def test_rows_are_the_on_chain_twin_over_the_agent_ring() -> None:
    """Every feature row equals ``features.compute`` over the last <= 64 Q32 prices, i.e. what
    an agent computes on chain from its own price ring."""
    cfg = WindowConfig()
    spec = FeatureSpec.parse(REGIME_SPEC)
    assert len(spec) == 5 and spec.lookback <= HISTORY
    path = regime_path(cfg.path_len, params=cfg.params, seed=11)
    prices = price_ints(path.prices.tolist())
    r = path_rows(cfg, 11)
    first = spec.lookback - 1
    assert len(r.rows) == len(prices) - first
    rng = np.random.default_rng(0)
    for i in rng.choice(len(r.rows), size=25, replace=False):
        p = first + int(i)
        ring = prices[max(0, p + 1 - HISTORY) : p + 1]
        assert r.rows[i].tolist() == compute(ring, spec)
        assert path.regimes is not None and r.labels[i] == path.regimes[p]


def test_windows_are_time_major_and_labelled_at_their_end() -> None:
    cfg = WindowConfig()
    r = path_rows(cfg, 3)
    w = rows_to_windows(r, cfg)
    assert w.x.shape[1] == WINDOW * 5 and w.window == WINDOW and w.n_features == 5
    ends = np.arange(len(r.rows) - 1, WINDOW - 2, -cfg.stride)[::-1]
    assert len(w) == len(ends)
    for j in (0, len(w) // 2, len(w) - 1):
        e = ends[j]
        for t in (0, 37, WINDOW - 1):
            for f in range(5):
                # index t * F + f holds feature f of the window's t-th row (oldest first).
                assert w.x[j, t * 5 + f] == r.rows[e - (WINDOW - 1) + t, f] / 65536.0
        assert w.y[j] == r.labels[e]
    assert np.array_equal(w.q16(), np.rint(w.x * 65536).astype(np.int64))
    assert np.array_equal(w.as_sequences()[1, 2], w.x[1, 10:15])


def test_window_sets_are_deterministic() -> None:
    cfg = WindowConfig()
    a, b = make_windows(cfg, 3, seed=9), make_windows(cfg, 3, seed=9)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert not np.array_equal(make_windows(cfg, 3, seed=10).x[:10], a.x[:10])
