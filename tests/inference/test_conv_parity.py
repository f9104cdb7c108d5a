"""CONV1D / POOL on chain (LiteSVM, the v0 build) against the numpy reference, bit for bit:
random quantized conv models of random geometry (stride, padding, dilation, INT8 / INT16,
max / average / global / no pooling) and a conv model compiled from an ONNX graph."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import numpy as np
import pytest

from client.inference import InferenceClient
from client.model import compile_model
from client.model.conv_models import ConvSpec, random_conv_model, random_features
from client.model.format import encode
from client.model.importers import import_onnx
from client.model.qmodel import DType, PoolMode, QModel
from client.model.reference import clip_to_range, execute, features_to_q16
from client.registry import ModelRegistry

from .conftest import fast_chain

ROWS = 1_000
N_MODELS = 16


def random_spec(rng: np.random.Generator) -> ConvSpec:
    while True:
        t, f, c_out = int(rng.integers(4, 31)), int(rng.integers(1, 7)), int(rng.integers(1, 13))
        dtype = DType.I8 if rng.random() < 0.5 else DType.I16
        if t * f > 200:
            continue
        k, dil, stride = int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
        pl, pr = int(rng.integers(0, 4)), int(rng.integers(0, 4))
        span = dil * (k - 1) + 1
        if span > t + pl + pr:
            continue
        t_out = (t + pl + pr - span) // stride + 1
        pool = [None, PoolMode.MAX, PoolMode.AVG][int(rng.integers(0, 3))]
        pk = int(rng.integers(0, t_out + 1))  # 0: global
        return ConvSpec(
            t=t, f=f, c_out=c_out, k=k, stride=stride, dilation=dil,
            pad_left=pl, pad_right=pr, dtype=dtype,
            pool=pool, pool_kernel=pk, pool_stride=int(rng.integers(0, 3)),
            n_classes=[0, 2, 3, 5][int(rng.integers(0, 4))],
            packed=dtype is DType.I8 and c_out % 2 == 0 and rng.random() < 0.7,
        )  # fmt: skip


def _check(client: InferenceClient, registry: ModelRegistry, qm: QModel, x: np.ndarray) -> int:
    async def go() -> list[tuple[tuple[int, ...], int]]:
        deployed = await registry.deploy(encode(qm))
        handle = await client.model(deployed.model)
        got, _ = await client.infer_many(handle, x)
        return [(r.outputs, r.class_id) for r in got]

    got = asyncio.run(go())
    want = execute(qm, x)
    assert len(got) == x.shape[0]
    bad = [
        i
        for i, (outs, cls) in enumerate(got)
        if outs != tuple(int(v) for v in want.outputs[i]) or cls != int(want.classes[i])
    ]
    assert not bad, f"{len(bad)} of {len(got)} differ; first row {bad[0]}"
    return len(got)


def test_random_conv_models_match_the_reference(program_elf: Path) -> None:
    chain = fast_chain(program_elf)
    client, registry = asyncio.run(_clients(chain))
    rng = np.random.default_rng(15)
    total = 0
    for m in range(N_MODELS):
        spec = random_spec(rng)
        qm = random_conv_model(spec, seed=m)
        total += _check(client, registry, qm, random_features(qm, ROWS, seed=m))
    assert total == N_MODELS * ROWS


def test_compiled_onnx_conv_model_matches_the_reference(program_elf: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parents[1] / "model"))
    pytest.importorskip("onnxruntime")
    from test_importers_onnx_conv import _window, conv_graph

    t, f = 20, 5
    fm = import_onnx(conv_graph(t, f, c=6, k=3, pads=(1, 1), pool="GlobalAveragePool"))
    x = _window(3000, t, f, seed=3).reshape(3000, -1)
    qm = compile_model(fm, x[:1000], 8)
    chain = fast_chain(program_elf)
    client, registry = asyncio.run(_clients(chain))
    assert _check(client, registry, qm, clip_to_range(qm, features_to_q16(x[1000:]))) == 2000


def test_compiled_two_conv_model_matches_the_reference(program_elf: Path) -> None:
    """Hidden padded, dilated conv after a max pool, INT8 (a non-zero pad value) and INT16."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "model"))
    from test_conv import two_conv_model

    fm, x = two_conv_model()
    chain = fast_chain(program_elf)
    client, registry = asyncio.run(_clients(chain))
    for bits in (8, 16):
        qm = compile_model(fm, x[:1000], bits)
        rows = clip_to_range(qm, features_to_q16(x[1000:]))
        assert _check(client, registry, qm, rows) == 2000


async def _clients(chain: object) -> tuple[InferenceClient, ModelRegistry]:
    from solders.keypair import Keypair

    payer = Keypair()
    await chain.airdrop(payer.pubkey(), 1_000 * 10**9)  # type: ignore[attr-defined]
    return InferenceClient(chain, payer, log_limit=None), ModelRegistry(chain, payer)  # type: ignore[arg-type]


def test_compute_bound_and_estimate_cover_the_measured_cost(program_elf: Path) -> None:
    """The bound finalize stores (`kernels::cost`, what agent_step budgets with) and the SDK's
    estimate (`feasibility.estimate_cu`) are at least the measured CU of `infer`, for the bench
    conv shapes (every kernel path) and random geometries."""
    from solders.compute_budget import set_compute_unit_limit

    from client.bench.conv import BENCH_SPECS
    from client.inference import infer_instruction
    from client.model.feasibility import estimate_cu

    from ..agent.test_model_cost import stored_bound

    chain = fast_chain(program_elf)
    client, registry = asyncio.run(_clients(chain))
    rng = np.random.default_rng(7)
    specs = [s for _, _, s in BENCH_SPECS] + [random_spec(rng) for _ in range(40)]

    async def worst(qm: QModel) -> tuple[int, int]:
        deployed = await registry.deploy(encode(qm), check_runnable=False)
        cus = []
        for x in random_features(qm, 3, seed=1):
            ix = infer_instruction(deployed.model, deployed.weights, x.tolist())
            sim = await chain.simulate([set_compute_unit_limit(1_400_000), ix], client.payer)  # type: ignore[attr-defined]
            assert sim.ok, sim.logs
            cus.append(sim.compute_units)
        return max(cus), await stored_bound(chain, deployed.weights)  # type: ignore[arg-type]

    for i, spec in enumerate(specs):
        qm = random_conv_model(spec, seed=i)
        measured, bound = asyncio.run(worst(qm))
        assert measured <= estimate_cu(qm), (spec, measured, estimate_cu(qm))
        assert measured <= bound <= 8 * measured + 10_000, (spec, measured, bound)
