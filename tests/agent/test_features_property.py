"""Property: for random feature specs, price histories and positions, the features `agent_step`
computes on chain (its Decision events) equal the Python twin `client.agent.features.compute`.

Prices come from a program price feed (published before each step), so any positive series can
be fed without moving a pool; the models always HOLD, so the position stays at the deposit.
One LiteSVM world serves every example; each example gets its own feed and agent.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from client.agent import Feature, FeatureSpec, ModelSlot, StepResult, compute
from client.agent.client import SOURCE_FEED
from client.agent.features import POSITION, RETURN, SMA_RATIO, VOLATILITY
from client.artifacts import embedded_so_path
from client.chain.litesvm import LiteSvmChain
from client.program import PROGRAM_ID

from .world import World, linear_model, make_world, risk

MAX_POSITION = 50_000_000


class Harness:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.svm = LiteSvmChain.with_program(PROGRAM_ID, embedded_so_path())
        payer = Keypair()
        self.run(self.svm.airdrop(payer.pubkey(), 10**12))
        self.world: World = self.run(make_world(self.svm, payer))
        self.models: dict[int, Pubkey] = {}
        self.ids = itertools.count(1)

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    async def hold_model(self, n: int) -> Pubkey:
        if n not in self.models:
            w = [[0.01] * n for _ in range(3)]
            self.models[n] = (await self.world.deploy(linear_model(w, [0.0, 3.0, 0.0], n=n)))[0]
        return self.models[n]

    async def chain_features(
        self, spec: FeatureSpec, prices: list[int], base: int
    ) -> list[tuple[int, ...]]:
        w = self.world
        i = next(self.ids)
        feed = await w.market.create_feed(i.to_bytes(32, "little"), -6)
        agent = await w.agents.create(
            agent_id=i,
            pool=w.pool,
            models=[ModelSlot(await self.hold_model(len(spec)))],
            spec=spec,
            risk=risk(max_position=MAX_POSITION, max_price_age=1000, max_oracle_dev_bps=100),
            source=SOURCE_FEED,
            price_source=feed,
        )
        if base:
            await w.agents.deposit(agent, w.user_a, w.user_b, amount_a=base)
        out = []
        for p in prices:
            self.svm.warp_slots(1)  # one sample per slot, each publication newer
            await w.market.publish(feed, p, 0)
            r = await w.agents.step(agent)
            assert isinstance(r, StepResult)
            if r.decision.reason != "warmup":
                assert r.decision.price == p
                out.append(r.decision.features)
        return out


@pytest.fixture(scope="module")
def harness(program_elf: object) -> Iterator[Harness]:
    h = Harness()
    yield h
    h.loop.close()


features = st.one_of(
    st.builds(Feature, st.just(RETURN), st.integers(1, 6)),
    st.builds(Feature, st.just(SMA_RATIO), st.integers(2, 6)),
    st.builds(Feature, st.just(VOLATILITY), st.integers(1, 6)),
    st.just(Feature(POSITION, 0)),
)
# Wide swings (to reach the i32 saturation), near-flat runs and tiny prices.
prices = st.lists(
    st.one_of(st.integers(1, 1000), st.integers(1, 2**40), st.integers(10**6, 10**6 + 50)),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    spec=st.lists(features, min_size=1, max_size=8).map(lambda fs: FeatureSpec(tuple(fs))),
    extra=prices,
    base=st.sampled_from([0, 1, 12_345_678, MAX_POSITION, 3 * MAX_POSITION]),
)
def test_chain_features_equal_the_python_twin(
    harness: Harness, spec: FeatureSpec, extra: list[int], base: int
) -> None:
    series = [10**6] * (spec.lookback - 1) + extra
    got = harness.run(harness.chain_features(spec, series, base))
    expected = [
        tuple(compute(series[: k + 1], spec, base_balance=base, max_position=MAX_POSITION))
        for k in range(spec.lookback - 1, len(series))
    ]
    assert got == expected
