"""A model too costly for any step is a HOLD, not a step that runs out of compute (issue 11,
attack 4): `finalize_version` stores each version's compute bound (`kernels/cost.rs`) and
`agent_step` compares it with what the transaction has left before running the model. The bound
must never be below what a model really costs: checked here against the measured `infer` of
every bench model, on LiteSVM."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from solders.compute_budget import set_compute_unit_limit
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from client.agent import ModelSlot
from client.agent.client import STEP_CU_LIMIT, out_of_compute
from client.bench.models import BUILDERS, measured_rows
from client.bench.runner import _instruction_cu
from client.chain.base import TransactionFailed, TxResult
from client.chain.litesvm import LiteSvmChain
from client.inference import InferenceClient, infer_instruction
from client.model import compile_model, encode
from client.model.ir import Activation, ActivationLayer, DenseLayer, FloatModel, Head
from client.model.qmodel import Layout
from client.program import error_name
from client.registry import ModelRegistry
from tests.registry.helpers import funded

from .test_model_safety import assert_held_unavailable, vaults
from .world import LABELS, constant_model, make_world, step, warm

BUY = 2
# ModelWeights.padding at 220: marks, epoch, then the bound in units of 64 CU (u16).
BOUND_OFFSET = 222
COST_UNIT = 64
# agent_step's MODELS_MAX_CU: 1.4 M minus the step's 40,000 before and 40,000 after its models.
MODELS_MAX_CU = 1_320_000


async def stored_bound(chain: LiteSvmChain, weights: Pubkey) -> int:
    acc = await chain.get_account(weights)
    assert acc is not None
    units = int.from_bytes(bytes(acc.data)[BOUND_OFFSET : BOUND_OFFSET + 2], "little")
    assert units != 0, "finalize stored no bound"
    return units * COST_UNIT


def wide_classifier(width: int) -> bytes:
    """4 inputs -> width -> width -> 3 classes (PACKED INT8, softmax): ~width^2 MACs. The
    compiler's feasibility check is off: the author in these tests means to publish a model
    that cannot run, which nothing stops them doing with their own tools."""
    rng = np.random.default_rng(7)
    layers = (
        DenseLayer(rng.normal(0, 0.5, (width, 4)), rng.normal(0, 0.1, width)),
        ActivationLayer(Activation.RELU),
        DenseLayer(rng.normal(0, np.sqrt(2 / width), (width, width)), rng.normal(0, 0.1, width)),
        ActivationLayer(Activation.RELU),
        DenseLayer(rng.normal(0, np.sqrt(2 / width), (3, width)), np.zeros(3)),
    )
    fm = FloatModel(4, layers, Head.SOFTMAX, LABELS, name="wide")
    calib = rng.uniform(-0.3, 0.3, (256, 4))
    calib[:, 3] = rng.uniform(0, 1, 256)
    rng_lo, rng_hi = [-1.0, -1.0, -1.0, 0.0], [1.0, 1.0, 1.0, 2.0]
    qm = compile_model(
        fm,
        calib,
        8,
        input_range=(rng_lo, rng_hi),
        layout=Layout.PACKED,
        check_feasible=False,
    )
    return encode(qm)


async def test_a_model_too_costly_for_any_step_holds_and_set_models_recovers(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    """The author of the model an agent follows activates a version whose bound exceeds what
    any agent_step can spend (640,000 MACs: ~1.7 M CU, more than a transaction's 1.4 M). Before,
    every step ran out of compute, forever; now each step is a model_unavailable HOLD
    (ModelTooCostly) that advances and moves no token, whatever compute limit the crank sends.
    The authority cannot pick such a set itself (create_agent and set_agent_models refuse it);
    set_agent_models to another model recovers the agent."""
    w = await make_world(svm, payer)
    author = funded(svm)
    svm.svm.airdrop(author.pubkey(), 100 * 10**9)  # rent of a 640 KB version
    reg = ModelRegistry(svm, author)
    d1 = await reg.deploy(constant_model(BUY), model_id=5)
    agent = await w.agent([ModelSlot(d1.model)], 1)
    await warm(w, agent)
    assert (await step(w, agent)).decision.reason == "traded"

    d2 = await reg.deploy(wide_classifier(800), model_id=5, check_runnable=False)
    assert d2.version == 2
    assert await stored_bound(svm, d2.weights) > MODELS_MAX_CU
    # Not a refusal of a model that could run: alone, with a transaction's whole 1.4 M CU, it
    # runs out of compute.
    res = await svm.send(
        [set_compute_unit_limit(1_400_000), infer_instruction(d2.model, d2.weights, [0] * 4)],
        author,
        check=False,
    )
    assert not res.ok and out_of_compute(res), res.logs[-3:]
    await assert_held_unavailable(w, agent, "ModelTooCostly")
    # The largest compute limit changes nothing: the bound, not the crank, decides.
    before, step0 = await vaults(w, agent), (await w.agents.state(agent)).step
    svm.warp_slots(1)
    ix = await w.agents.step_instruction(agent)
    res = await svm.send([set_compute_unit_limit(1_400_000), ix], payer)
    assert res.ok
    st = await w.agents.state(agent)
    assert st.step == step0 + 1 and st.log[-1].reason == "model_unavailable"
    assert await vaults(w, agent) == before

    # The authority cannot choose it on purpose: set_agent_models and create_agent refuse it.
    costly = ModelSlot(d2.model, version=2, weights=d2.weights)
    res = await w.agents.set_models(agent, [costly], check=False)
    assert isinstance(res, TxResult) and error_name(res.custom_error or 0) == "ModelTooCostly"
    with pytest.raises(TransactionFailed) as e:
        await w.agent([costly], 2, fund=False)
    assert error_name(e.value.result.custom_error or 0) == "ModelTooCostly"

    own, own_w = await w.deploy(constant_model(BUY, margin=4.0))
    await w.agents.set_models(agent, [ModelSlot(own, version=1, weights=own_w)])
    r = await step(w, agent)
    assert r.decision.reason == "traded" and r.traded


async def test_too_little_compute_fails_the_step_instead_of_holding(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    """The compute limit (and whatever runs before agent_step in the transaction) is the
    crank's choice, so it must never turn into a HOLD, or any crank could make a healthy agent
    skip its trades: too little compute fails the transaction and changes nothing."""
    w = await make_world(svm, payer)
    m, _ = await w.deploy(constant_model(BUY))
    agent = await w.agent([ModelSlot(m)], 1)
    await warm(w, agent)
    before = await w.agents.state(agent)
    svm.warp_slots(1)
    ix = await w.agents.step_instruction(agent)
    res = await svm.send([set_compute_unit_limit(8_000), ix], payer, check=False)
    assert not res.ok and out_of_compute(res)
    after = await w.agents.state(agent)
    assert (after.step, after.log) == (before.step, before.log)
    assert (await step(w, agent)).decision.reason == "traded"


async def test_the_sdk_raises_the_compute_limit_for_costly_models(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    """A 4-300-300-3 model needs more than the SDK's usual 200,000-CU step but fits a
    transaction: `step` resends with 1.4 M and the model runs."""
    w = await make_world(svm, payer)
    m, mw = await w.deploy(wide_classifier(300))
    assert STEP_CU_LIMIT < await stored_bound(svm, mw) < MODELS_MAX_CU
    agent = await w.agent([ModelSlot(m)], 1)
    await warm(w, agent)
    r = await step(w, agent)
    assert r.decision.reason != "model_unavailable" and r.unavailable is None
    assert r.compute_units > STEP_CU_LIMIT, r.compute_units


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
async def test_the_stored_bound_covers_the_measured_cost_of_every_bench_model(
    svm: LiteSvmChain, payer: Keypair, build: object
) -> None:
    """Bound >= the whole `infer` instruction (entrypoint, accounts, every op, events and return
    data: more than a model slot of agent_step spends) at the bench's worst case over 32 data
    samples and 32 boundary inputs."""
    model = build()  # type: ignore[operator]
    deployed = await ModelRegistry(svm, payer).deploy(model.data)
    bound = await stored_bound(svm, deployed.weights)
    client = InferenceClient(svm, payer, log_limit=None)
    handle = await client.model(deployed.model)
    worst = max(await _instruction_cu(client, handle, measured_rows(model, 32)))
    assert bound >= worst, (model.name, bound, worst)
    # And not absurdly loose (a bound of everything would refuse every model).
    assert bound <= 8 * worst + 10_000, (model.name, bound, worst)


def synthetic(layout: Layout, precision: int, act: Activation) -> tuple[bytes, np.ndarray]:
    """12 -> 48 -> 31 -> 3 classifier (odd widths: PACKED padding rows), sparse weights for the
    SPARSE layout; and 64 inputs: corners of the declared range and uniform inside."""
    rng = np.random.default_rng(11)
    widths = [12, 48, 31, 3]
    layers: list[DenseLayer | ActivationLayer] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        wt = rng.normal(0, np.sqrt(2.0 / a), (b, a))
        if layout == Layout.SPARSE:
            wt[rng.uniform(size=wt.shape) < 0.7] = 0.0
        layers.append(DenseLayer(wt, rng.normal(0, 0.1, b)))
        if i < len(widths) - 2:
            layers.append(ActivationLayer(act))
    fm = FloatModel(12, tuple(layers), Head.SOFTMAX, LABELS, name="synthetic")
    qm = compile_model(fm, rng.normal(0, 1, (256, 12)), precision, layout=layout)
    lo = np.asarray(qm.input.lo, dtype=np.int64)
    hi = np.asarray(qm.input.hi, dtype=np.int64)
    pick = rng.integers(0, 3, size=(64, 12))
    inside = rng.integers(lo, hi + 1, size=(64, 12))
    return encode(qm), np.where(pick == 0, lo, np.where(pick == 1, hi, inside))


@pytest.mark.parametrize("act", [Activation.RELU, Activation.TANH, Activation.SIGMOID])
@pytest.mark.parametrize(
    ("layout", "precision"),
    # PACKED is INT8 only.
    [
        (Layout.COMPACT, 8),
        (Layout.COMPACT, 16),
        (Layout.PACKED, 8),
        (Layout.SPARSE, 8),
        (Layout.SPARSE, 16),
    ],
)
async def test_the_stored_bound_covers_every_layout_dtype_and_activation(
    svm: LiteSvmChain, payer: Keypair, layout: Layout, precision: int, act: Activation
) -> None:
    """The same check over the kernels the bench models do not all reach: COMPACT, PACKED and
    SPARSE layers, INT8 and INT16, ReLU and both LUT activations, odd widths."""
    data, rows = synthetic(layout, precision, act)
    deployed = await ModelRegistry(svm, payer).deploy(data)
    bound = await stored_bound(svm, deployed.weights)
    client = InferenceClient(svm, payer, log_limit=None)
    handle = await client.model(deployed.model)
    worst = max(await _instruction_cu(client, handle, rows))
    assert bound >= worst, (bound, worst)
