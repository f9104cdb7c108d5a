"""Issue 15 end to end on LiteSVM (the v0 build): the quantized regime models compiled from the
committed ONNX files, fed 600-value held-out windows from a features account, run on chain (as
inference jobs over several transactions when one transaction's compute is not enough) and
compared with the numpy reference bit for bit. `python -m client regime-parity --windows N`
runs the same check on any number of windows."""

from __future__ import annotations

import asyncio

import pytest
from solders.keypair import Keypair

from client.bench.regime import (
    heldout_q16,
    measure_regime,
    regime_model,
    run_parity,
    runs_as_job,
)
from client.chain.litesvm import LiteSvmChain
from client.inference import InferenceClient
from client.inference.errors import InferenceError
from client.inference.features import create_features
from client.model.feasibility import JOB_STEP_CU, MAX_JOB_SPACE, MAX_TX_CU, assess
from client.model.format import decode
from client.model.qmodel import DType, OpKind, QConv1d, QPool, QRecurrent
from client.registry import ModelRegistry
from client.registry.registry import RegistryError

from .conftest import fast_chain


@pytest.fixture(scope="module")
def chain_payer(program_elf) -> tuple[LiteSvmChain, Keypair]:  # type: ignore[no-untyped-def]
    chain = fast_chain(program_elf)
    payer = Keypair()
    asyncio.run(chain.airdrop(payer.pubkey(), 10**14))
    return chain, payer


# (model, precision, windows from held-out window 0, windows from held-out window 6,000)
CASES = [
    ("gru", 8, 16, 8),
    ("gru", 16, 4, 2),
    ("lstm", 8, 6, 4),
    ("lstm", 16, 2, 1),
]
CONV_CASES = [("conv11", 8, 30, 20), ("conv11", 16, 10, 10)]


@pytest.mark.parametrize(("kind", "precision", "n_a", "n_b"), CASES)
def test_regime_model_on_chain_equals_the_reference(
    chain_payer: tuple[LiteSvmChain, Keypair], kind: str, precision: int, n_a: int, n_b: int
) -> None:
    chain, payer = chain_payer
    model = regime_model(kind, precision)
    qm = decode(model)
    (rnn,) = [op for op in qm.ops if isinstance(op, QRecurrent)]
    assert (rnn.steps, rnn.features) == (120, 5) and qm.n_features == 600
    assert rnn.kind is (OpKind.GRU if kind == "gru" else OpKind.LSTM)
    f = assess(qm)
    # Neither fits one transaction's compute: both run as jobs, from a features account.
    assert f.ok and f.needs_features_account and f.needs_job and runs_as_job(model)
    assert f.job_bytes <= MAX_JOB_SPACE
    for start, n in ((0, n_a), (6000, n_b)):
        run = asyncio.run(run_parity(chain, payer, kind, precision, n, start=start))
        assert run.route == "job" and run.windows == n
        assert run.mismatches == 0, f"window {run.first_mismatch} differs from the reference"
        # One transaction could not carry it: the job took several steps, each under 1.4M CU.
        assert min(run.inference_cu) > MAX_TX_CU and min(run.steps) >= 2
        assert max(run.steps) <= -(-max(run.inference_cu) // (JOB_STEP_CU // 2)) + 1


def test_gru32_speed_mode_runs_in_one_transaction(
    chain_payer: tuple[LiteSvmChain, Keypair],
) -> None:
    """The issue's one-transaction GRU: the regime GRU-32 over 120 x 5 compiled INT8 with the
    speed layout (h part PACKED3 over the Q7 state) runs as ONE `infer` from a features account
    under the 1.4M limit, bit-exact. Its estimate is an upper bound just over the limit, so the
    route comes from a simulation (`needs_job`), as a client would choose it."""
    chain, payer = chain_payer
    model = regime_model("gru", "speed")
    qm = decode(model)
    (rnn,) = [op for op in qm.ops if isinstance(op, QRecurrent)]
    assert rnn.kind is OpKind.GRU and (rnn.steps, rnn.features, rnn.hidden) == (120, 5, 32)
    assert rnn.h8 and rnn.dtype is DType.I8
    for start, n in ((0, 6), (6000, 4)):
        run = asyncio.run(run_parity(chain, payer, "gru", "speed", n, start=start))
        assert run.route == "infer" and run.windows == n and not run.steps
        assert run.mismatches == 0, f"window {run.first_mismatch} differs from the reference"
        assert max(run.inference_cu) <= MAX_TX_CU


@pytest.mark.parametrize(("kind", "precision", "n_a", "n_b"), CONV_CASES)
def test_conv_regime_model_runs_in_one_transaction(
    chain_payer: tuple[LiteSvmChain, Keypair], kind: str, precision: int, n_a: int, n_b: int
) -> None:
    """The 11-channel Conv1D regime model (116 x 11 = 1,276 words, inside the scratch arena):
    one `infer` reading the 600-value window from a features account."""
    chain, payer = chain_payer
    model = regime_model(kind, precision)
    qm = decode(model)
    conv, pool = qm.ops[:2]
    assert isinstance(conv, QConv1d) and isinstance(pool, QPool)
    assert (conv.c_in, conv.c_out, conv.t_out) == (5, 11, 116)
    f = assess(qm)
    assert f.ok and f.needs_features_account and not f.needs_job and not runs_as_job(model)
    for start, n in ((0, n_a), (6000, n_b)):
        run = asyncio.run(run_parity(chain, payer, kind, precision, n, start=start))
        assert run.route == "infer" and run.windows == n and not run.steps
        assert run.mismatches == 0, f"window {run.first_mismatch} differs from the reference"
        assert max(run.inference_cu) <= f.cu_estimate < MAX_TX_CU


def test_lstm_through_infer_large_is_bit_exact(chain_payer: tuple[LiteSvmChain, Keypair]) -> None:
    """The memo's regime model through the SDK path a user takes: infer_large writes the window
    to a temporary features account, creates the job, sizes every step from a simulation and
    closes what it opened."""
    chain, payer = chain_payer
    row = asyncio.run(measure_regime(chain, payer, "LiteSVM (v0)", "lstm", 8))
    assert row.bit_exact and row.route == "job (infer_large)"
    assert row.steps >= 5 and row.total_cu > 5 * MAX_TX_CU // 2
    # features account: create, 3 writes of 240 values, close; create_job, the steps, close_job
    assert row.transactions == 1 + 3 + 1 + 1 + row.steps + 1


def test_conv_regime_model_is_refused_with_the_limit_it_breaks(
    chain_payer: tuple[LiteSvmChain, Keypair],
) -> None:
    """The Conv1D file (16 channels over 116 positions = 1,856 words before the pool) fits no
    route: one infer's scratch holds 1,321 words per op and a job's buffers would need
    22 KB of a 10 KiB account. The deploy refuses it before any transaction."""
    chain, payer = chain_payer
    model = regime_model("conv", 8)
    f = assess(decode(model))
    assert [p.limit for p in f.problems] == ["scratch arena"]
    assert "1856 values" in f.problems[0].message and f.job_bytes > MAX_JOB_SPACE
    with pytest.raises(RegistryError, match="could never run on chain"):
        asyncio.run(ModelRegistry(chain, payer).deploy(model))


def test_infer_on_a_model_over_one_transaction_points_to_infer_large(
    chain_payer: tuple[LiteSvmChain, Keypair],
) -> None:
    chain, payer = chain_payer

    async def go() -> None:
        model = regime_model("gru", 8)
        deployed = await ModelRegistry(chain, payer).deploy(model)
        x = [int(v) for v in heldout_q16(model, 1)[0]]
        account = await create_features(chain, payer, x)
        client = InferenceClient(chain, payer, log_limit=None)
        with pytest.raises(InferenceError, match="infer --large"):
            await client.infer(deployed.model, features_account=account)
        assert (await client.infer_large(deployed.model, features_account=account)).class_id in (
            0,
            1,
            2,
        )

    asyncio.run(go())
