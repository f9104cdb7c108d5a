"""Price paths are seeded and reproducible; the shipped CSV is what its README says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from client.sim import gbm, load_csv, regime_switching, shipped_series
from client.sim.paths import CALM_UP, SHIPPED_CSV, regenerate_shipped


def test_gbm_is_seeded_and_positive() -> None:
    a, b, c = gbm(500, seed=1), gbm(500, seed=1), gbm(500, seed=2)
    assert np.array_equal(a.prices, b.prices) and not np.array_equal(a.prices, c.prices)
    assert a.prices[0] == 100.0 and np.all(a.prices > 0)
    # The log-returns have the volatility asked for (loosely: 500 samples).
    assert 0.008 < np.std(np.diff(np.log(gbm(500, sigma=0.01, seed=3).prices))) < 0.012


def test_regime_switching_visits_regimes_with_their_volatility() -> None:
    path = regime_switching(4000, seed=5)
    assert path.regimes is not None and set(np.unique(path.regimes)) == {0, 1, 2}
    r = np.diff(np.log(path.prices))
    states = path.regimes[1:]
    assert np.std(r[states == 2]) > 2 * np.std(r[states == 0])


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="need n >= 2"):
        gbm(1)
    with pytest.raises(ValueError, match="at least two regimes"):
        regime_switching(10, regimes=(CALM_UP,))


def test_shipped_csv_is_reproducible(tmp_path: Path) -> None:
    again = tmp_path / "again.csv"
    regenerate_shipped(again)
    assert again.read_bytes() == SHIPPED_CSV.read_bytes()
    series = shipped_series()
    assert len(series) == 2000 and series.prices[0] == 100.0 and series.regimes is not None


def test_csv_without_price_column_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("step,close\n0,1\n1,2\n")
    with pytest.raises(ValueError, match="no 'price' column"):
        load_csv(bad)
