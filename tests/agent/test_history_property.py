"""Property: for random feature specs, windows, price series and positions, the feature history
`agent_step` builds on chain equals the Python twin (`features.window_rows` / `training_rows`),
and an agent whose model reads the window holds `warming_up` exactly until `T` vectors exist.

Prices come from a program price feed (one publication per slot), the models always HOLD (so
the position stays at the deposit), as in `test_features_property.py`, whose harness this
reuses: one LiteSVM world, one feed and agent per example.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from client.agent import AgentHistoryState, FeatureSpec, ModelSlot, StepResult, window_rows
from client.agent.client import SOURCE_FEED
from client.agent.features import training_rows

from .test_features_property import MAX_POSITION, Harness, features, prices
from .world import risk


class WindowHarness(Harness):
    async def run_window(
        self, spec: FeatureSpec, window: int, series: list[int], base: int, window_model: bool
    ) -> tuple[list[str], AgentHistoryState]:
        w = self.world
        i = next(self.ids)
        feed = await w.market.create_feed(i.to_bytes(32, "little"), -6)
        n = window * len(spec) if window_model else len(spec)
        agent = await w.agents.create(
            agent_id=i,
            pool=w.pool,
            models=[ModelSlot(await self.hold_model(n))],
            spec=spec,
            risk=risk(max_position=MAX_POSITION, max_price_age=1000, max_oracle_dev_bps=100),
            source=SOURCE_FEED,
            price_source=feed,
            window=window,
        )
        if base:
            await w.agents.deposit(agent, w.user_a, w.user_b, amount_a=base)
        reasons = []
        for p in series:
            self.svm.warp_slots(1)
            await w.market.publish(feed, p, 0)
            r = await w.agents.step(agent)
            assert isinstance(r, StepResult)
            reasons.append(r.decision.reason)
        return reasons, await w.agents.history(agent)


@pytest.fixture(scope="module")
def harness(program_elf: object) -> Iterator[WindowHarness]:
    h = WindowHarness()
    yield h
    h.loop.close()


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    spec=st.lists(features, min_size=1, max_size=8).map(lambda fs: FeatureSpec(tuple(fs))),
    window=st.integers(2, 6),
    extra=prices,
    base=st.sampled_from([0, 12_345_678, 3 * MAX_POSITION]),
    window_model=st.booleans(),
)
def test_chain_history_equals_the_python_twin(
    harness: WindowHarness,
    spec: FeatureSpec,
    window: int,
    extra: list[int],
    base: int,
    window_model: bool,
) -> None:
    series = [10**6] * (spec.lookback - 1) + extra
    reasons, h = harness.run(harness.run_window(spec, window, series, base, window_model))
    rows = training_rows(series, spec, base_balance=base, max_position=MAX_POSITION)
    assert h.pushed == len(rows) and h.count == min(window, len(rows))
    assert h.vectors == rows[-window:]
    windows = window_rows(series, spec, window, base_balance=base, max_position=MAX_POSITION)
    if windows:
        assert h.flat() == windows[-1]
    # A window model waits for `window` vectors; a single-vector one never does.
    computed = reasons[spec.lookback - 1 :]
    n_warming = min(window - 1, len(computed)) if window_model else 0
    assert computed[:n_warming] == ["warming_up"] * n_warming
    assert "warming_up" not in computed[n_warming:]
    assert all(r == "hold" for r in computed[n_warming:]), reasons
