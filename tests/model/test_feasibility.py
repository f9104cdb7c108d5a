"""The compile-time feasibility check: limits taken from the program, each "compiles but never
runs" case refused with a message naming its limit, and borderline models on LiteSVM (the
largest that fits runs; one step over fails on chain and is refused at compile time)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from client.artifacts import REPO_ROOT
from client.chain.litesvm import LiteSvmChain
from client.inference import InferenceClient, InferenceError, infer_instruction
from client.model import compile_model, encode, features_to_q16
from client.model import feasibility as fz
from client.model.feasibility import InfeasibleModelError
from client.model.ir import Activation, ActivationLayer, DenseLayer, FloatModel, Head
from client.program import error_name
from client.registry import ModelRegistry
from client.registry.registry import RegistryError

SRC = REPO_ROOT / "programs" / "ml_agent" / "src"


def _rust_const(path: Path, name: str) -> str:
    m = re.search(rf"pub const {name}: usize = ([^;]+);", path.read_text())
    assert m, f"{name} not found in {path}"
    return m.group(1)


def test_limits_are_the_programs_constants() -> None:
    assert int(_rust_const(SRC / "instructions" / "infer.rs", "MAX_OUTPUTS")) == fz.MAX_OUTPUTS
    heap = _rust_const(SRC / "kernels" / "scratch.rs", "DEFAULT_HEAP_BYTES")
    assert heap.replace(" ", "") == "32*1024" and fz.HEAP_BYTES == 32 * 1024
    # infer.rs reserves the return-data words before the forward pass splits the arena in 3.
    infer = (SRC / "instructions" / "infer.rs").read_text()
    assert "scratch.take(MAX_OUTPUTS + 2)" in infer
    exec_rs = (SRC / "kernels" / "exec.rs").read_text()
    assert "let words = scratch.remaining() / 3;" in exec_rs
    assert (
        "if n_out >= words || extra_words(op) > words - n_out - 1 {" in exec_rs
        and "if !TR && n > words {" in exec_rs
    )
    assert (fz.MAX_LAYER_WIDTH, fz.MAX_FEATURES_SCRATCH) == (1321, 1322)


def _solders_infer_tx(n: int, fee: bool) -> int:
    payer = Keypair()
    ix = infer_instruction(Pubkey.new_unique(), Pubkey.new_unique(), [-(2**31)] * n)
    ixs = [set_compute_unit_limit(1_400_000), *([set_compute_unit_price(1)] if fee else []), ix]
    tx = Transaction.new_signed_with_payer(ixs, payer.pubkey(), [payer], Hash.default())
    return len(bytes(tx))


@pytest.mark.parametrize("fee", [False, True])
@pytest.mark.parametrize("n", [1, 4, 27, 28, 29, 100, 232, 233, 235, 236, 300])
def test_infer_tx_bytes_equal_the_serialized_transaction(n: int, fee: bool) -> None:
    assert fz.infer_tx_bytes(n, priority_fee=fee) == _solders_infer_tx(n, fee)


def test_most_features_per_transaction() -> None:
    assert (fz.MAX_FEATURES_TX, fz.MAX_FEATURES_TX_PRIORITY) == (235, 232)
    assert _solders_infer_tx(235, False) <= fz.PACKET_DATA_SIZE < _solders_infer_tx(236, False)
    assert _solders_infer_tx(232, True) <= fz.PACKET_DATA_SIZE < _solders_infer_tx(233, True)


# ---------------------------------------------------------------- the five cases


def mlp(
    widths: list[int], head: Head = Head.NONE, seed: int = 0, rows: int = 64
) -> tuple[FloatModel, np.ndarray]:
    rng = np.random.default_rng(seed)
    layers: list[DenseLayer | ActivationLayer] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(DenseLayer(rng.normal(0, np.sqrt(2.0 / a), (b, a)), rng.normal(0, 0.1, b)))
        if i < len(widths) - 2:
            layers.append(ActivationLayer(Activation.RELU))
    labels = tuple(range(widths[-1])) if head is Head.SOFTMAX else ()
    fm = FloatModel(n_features=widths[0], layers=tuple(layers), head=head, labels=labels)
    return fm, rng.normal(0, 1, (rows, widths[0]))


def refused(limit: str, fm: FloatModel, x: np.ndarray, **kw: object) -> str:
    with pytest.raises(InfeasibleModelError) as e:
        compile_model(fm, x, **kw)  # type: ignore[arg-type]
    assert next(p.limit for p in e.value.problems) == limit, e.value.problems
    return str(e.value)


def test_too_many_features_for_a_transaction_need_a_features_account() -> None:
    f = fz.assess(compile_model(*mlp([236, 4, 1])))
    assert f.ok and f.needs_features_account and not f.needs_job
    (route,) = f.routes
    assert "236 features" in route.message and "1234 bytes" in route.message
    assert "at most 235" in route.message and "infer --features-account" in route.message
    assert any(line.startswith("RUNS AS      features account") for line in f.lines())
    assert not fz.assess(compile_model(*mlp([235, 4, 1]))).routes


def test_layer_wider_than_the_scratch_arena() -> None:
    msg = refused("scratch arena", *mlp([4, 1322, 1]))
    assert "op 0 produces 1322 values" in msg and "at most 1321" in msg
    compile_model(*mlp([4, 1321, 1]))


def test_more_classes_than_the_return_data() -> None:
    msg = refused("return data", *mlp([4, 16, 127], Head.SOFTMAX))
    assert "127 classes" in msg and "at most 126" in msg
    compile_model(*mlp([4, 16, 126], Head.SOFTMAX))


def test_feature_values_beyond_q16_16() -> None:
    fm, x = mlp([3, 4, 1])
    x[5, 2] = 40_000.0
    msg = refused("feature range", fm, x)
    assert "feature 2 reaches 40000" in msg and "32768" in msg
    msg = refused("feature range", fm, np.zeros((4, 3)), input_range=(-1.0, 50_000.0))
    assert "declared range" in msg


def test_degenerate_calibration() -> None:
    fm, x = mlp([3, 4, 1])
    msg = refused("calibration", fm, x[:1])
    assert "1 row(s)" in msg
    x[:, 1] = 7.0
    msg = refused("calibration", fm, x)
    assert "feature(s) 1 are constant" in msg
    # A declared range makes a constant column harmless.
    compile_model(fm, x, input_range=(-10.0, 10.0))


def test_over_the_compute_budget_and_the_job_account() -> None:
    """Over one transaction's CU a model runs as a job, unless its buffers overflow the 10 KiB
    job account: 1300-wide layers need 2 x 1301 words."""
    fm, x = mlp([64, 1300, 1300, 1])
    msg = refused("job account", fm, x)
    assert "1,400,000" in msg and "--prefer speed" in msg
    assert "its job account would need" in msg and "over the 10,240" in msg


def test_over_the_compute_budget_runs_as_a_job() -> None:
    fm, x = mlp([64, 500, 500, 1])
    qm = compile_model(fm, x, 16)
    f = fz.assess(qm)
    assert f.ok and f.needs_job and not f.needs_features_account
    assert f.cu_estimate > fz.MAX_TX_CU and f.job_bytes <= fz.MAX_JOB_SPACE
    (route,) = f.routes
    steps = -(-f.cu_estimate // fz.JOB_STEP_CU)
    # create_job, the steps, close_job (64 features fit create_job's transaction).
    assert f.job_transactions == steps + 2
    assert f"~{f.job_transactions} transactions" in route.message
    assert "infer --large" in route.message
    sizes = fz.job_sizes(qm)
    assert (sizes.a_words, sizes.b_words, sizes.state_words) == (501, 501, 0)
    assert f.job_bytes == fz.JOB_HEADER + 4 * 64 + 8 * (501 + 501)


def test_every_problem_is_reported_at_once() -> None:
    fm, x = mlp([300, 1400, 200], Head.SOFTMAX)
    with pytest.raises(InfeasibleModelError) as e:
        compile_model(fm, x)
    limits = {p.limit for p in e.value.problems}
    assert limits == {"scratch arena", "return data", "job account"}


# ---------------------------------------------------------------- on LiteSVM


async def _deploy(svm: LiteSvmChain, payer: Keypair, data: bytes) -> tuple[Pubkey, Pubkey]:
    d = await ModelRegistry(svm, payer).deploy(data, verify=False, check_runnable=False)
    return d.model, d.weights


async def _run(svm: LiteSvmChain, payer: Keypair, fm: FloatModel, x: np.ndarray, **kw: object):  # type: ignore[no-untyped-def]
    qm = compile_model(fm, x, **kw)  # type: ignore[arg-type]
    model, weights = await _deploy(svm, payer, encode(qm))
    row = np.clip(features_to_q16(x[:1]), qm.input.lo, qm.input.hi)[0].tolist()
    ix = infer_instruction(model, weights, row)
    res = await svm.send([set_compute_unit_limit(1_400_000), ix], payer, check=False)
    return qm, model, weights, row, res


async def test_borderline_widths_and_classes_on_chain(svm: LiteSvmChain, payer: Keypair) -> None:
    for fm, x in (mlp([4, 1321, 1]), mlp([4, 16, 126], Head.SOFTMAX)):
        qm, *_, res = await _run(svm, payer, fm, x)
        assert res.ok, res.logs[-4:]
        assert res.compute_units <= fz.estimate_cu(qm)
    # One step over: the program refuses every input, exactly where the check draws the line.
    for fm, x, why in (
        (*mlp([4, 1322, 1]), "scratch"),
        (*mlp([4, 16, 127], Head.SOFTMAX), "more outputs than return data"),
    ):
        qm, model, _, row, res = await _run(svm, payer, fm, x, check_feasible=False)
        assert not res.ok and error_name(res.custom_error) == "UnsupportedModel", res.logs[-4:]
        assert any(why in line for line in res.logs), res.logs
        # The SDK refuses both before sending anything.
        with pytest.raises(RegistryError, match="could never run on chain"):
            await ModelRegistry(svm, payer).deploy(encode(qm), verify=False)
        with pytest.raises(InferenceError, match="can never run on chain"):
            await InferenceClient(svm, payer).infer(model, features_fx=row)


async def test_most_features_run_and_the_sdk_refuses_a_packet_too_big(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    qm, model, _, row, res = await _run(svm, payer, *mlp([235, 4, 1]))
    assert res.ok, res.logs[-4:]
    client = InferenceClient(svm, payer)
    assert (await client.infer(model, features_fx=row)).compute_units <= fz.estimate_cu(qm)
    with pytest.raises(InferenceError, match="1242 bytes, over Solana's 1232-byte packet limit"):
        await client.infer(model, features_fx=row, priority_fee=1)


async def test_largest_mlp_under_the_estimate_runs(svm: LiteSvmChain, payer: Keypair) -> None:
    """The widest 64-h-h-1 INT8 MLP the estimate admits runs on chain inside 1.4M CU; the next
    width up is over one transaction at compile time."""
    lo, hi = 64, 1320
    while hi - lo > 8:  # bisect on the estimate alone (no chain needed)
        mid = (lo + hi) // 2
        if fz.assess(compile_model(*mlp([64, mid, mid, 1]), check_feasible=False)).cu_estimate > (
            fz.MAX_TX_CU
        ):
            hi = mid
        else:
            lo = mid
    qm, *_, res = await _run(svm, payer, *mlp([64, lo, lo, 1]))
    assert res.ok, res.logs[-4:]
    est = fz.estimate_cu(qm)
    assert res.compute_units <= est <= fz.MAX_TX_CU
    # The estimate is an upper bound, but a close one.
    assert est <= 1.15 * res.compute_units
    # The next width up needs more than one transaction.
    over = fz.assess(compile_model(*mlp([64, hi, hi, 1]), check_feasible=False))
    assert over.cu_estimate > fz.MAX_TX_CU
