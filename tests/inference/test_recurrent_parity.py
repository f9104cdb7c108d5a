"""GRU / LSTM on chain (LiteSVM, the v0 build) against the numpy reference, bit for bit.

The golden GRU/LSTM models (`test_parity.py`) are small files the registry marks `OPS_CHECKED`,
so `infer` runs them through the lean marked executor; the models here are seeded random ones
large enough (> 4 KiB) to take the checked executor, with odd row counts, both dtypes and both
modes, each on random windows inside the declared ranges plus the range corners.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from solders.keypair import Keypair

from client.inference import InferenceClient
from client.model.format import encode
from client.model.ir import CellKind, DenseLayer, FloatModel, Head, RecurrentLayer
from client.model.qmodel import DType, QModel
from client.model.reference import execute
from client.model.rnn_compile import compile_recurrent
from client.registry import ModelRegistry

from .conftest import fast_chain

N_WINDOWS = 1_500

# (cell, steps, features, hidden, dtype, sequence, prefer)
MODELS = [
    (CellKind.GRU, 12, 5, 13, DType.I8, False, "size"),
    (CellKind.GRU, 9, 4, 11, DType.I16, True, "size"),
    (CellKind.LSTM, 10, 3, 14, DType.I8, True, "size"),
    (CellKind.LSTM, 14, 5, 12, DType.I16, False, "size"),
    (CellKind.GRU, 12, 5, 13, DType.I8, True, "speed"),
    (CellKind.LSTM, 10, 3, 14, DType.I8, False, "speed"),
]


def _model(
    cell: CellKind, steps: int, feats: int, hid: int, dtype: DType, seq: bool, prefer: str
) -> QModel:
    rng = np.random.default_rng(steps * 100 + hid)
    g = 3 if cell is CellKind.GRU else 4
    rec = RecurrentLayer(
        cell,
        steps,
        rng.normal(0, 0.7, (g * hid, feats)),
        rng.normal(0, 0.7, (g * hid, hid)),
        rng.normal(0, 0.3, g * hid),
        rng.normal(0, 0.3, g * hid),
        seq,
    )
    head = DenseLayer(rng.normal(0, 1.0, (4, rec.n_out)), rng.normal(0, 0.1, 4))
    fm = FloatModel(steps * feats, (rec, head), Head.SOFTMAX, labels=(0, 1, 2, 3))
    return compile_recurrent(fm, rng.normal(0, 1.0, (300, steps * feats)), (dtype,), prefer=prefer)


@pytest.mark.parametrize("spec", MODELS, ids=lambda s: f"{s[0].value}-{s[4].name}-{s[5]}-{s[6]}")
def test_random_recurrent_models_match_the_reference(
    program_elf: Path, spec: tuple[CellKind, int, int, int, DType, bool, str]
) -> None:
    qm = _model(*spec)
    data = encode(qm)
    assert len(data) > 4096  # the checked executor, not the marked one

    async def run() -> None:
        chain = fast_chain(program_elf)
        payer = Keypair()
        await chain.airdrop(payer.pubkey(), 1_000 * 10**9)
        deployed = await ModelRegistry(chain, payer).deploy(data)
        client = InferenceClient(chain, payer, log_limit=None)
        handle = await client.model(deployed.model)
        rng = np.random.default_rng(len(data))
        lo, hi = handle.lo_fx, handle.hi_fx
        x = rng.integers(lo, hi + 1, size=(N_WINDOWS, lo.size), dtype=np.int64)
        corners = np.stack([lo, hi, np.where(np.arange(lo.size) % 2, lo, hi)])
        x = np.vstack([x, corners])
        want = execute(qm, x)
        got, _ = await client.infer_many(handle, x)
        assert len(got) == x.shape[0]
        bad = [
            i
            for i, r in enumerate(got)
            if r.outputs != tuple(int(v) for v in want.outputs[i])
            or r.class_id != int(want.classes[i])
            or r.confidence_q16 != int(want.confidence[i])
        ]
        assert not bad, f"{len(bad)} of {len(got)} differ; first row {bad[0]}"
        # The inputs reach every class and saturate some gates: not a degenerate model.
        assert len(set(int(c) for c in want.classes)) >= 2

    asyncio.run(run())


@pytest.mark.parametrize(
    "spec",
    [(CellKind.GRU, 8, 5, 32, DType.I8), (CellKind.LSTM, 8, 5, 64, DType.I16)],
    ids=["gru32-i8", "lstm64-i16"],
)
def test_cu_estimate_covers_the_measured_instruction(
    program_elf: Path, spec: tuple[CellKind, int, int, int, DType]
) -> None:
    """`feasibility.estimate_cu` must bound what `infer` really costs (compute units are
    deterministic on LiteSVM; this is not a timing test)."""
    from client.bench.rnn import measure_rnn, rnn_model

    async def run() -> None:
        chain = fast_chain(program_elf)
        payer = Keypair()
        await chain.airdrop(payer.pubkey(), 1_000 * 10**9)
        row = await measure_rnn(chain, payer, rnn_model(*spec))
        assert row.bit_exact and row.instruction_cu is not None and row.op_cu is not None
        assert row.op_cu < row.instruction_cu <= row.estimate < 1.15 * row.instruction_cu

    asyncio.run(run())
