"""`python -m client bench --rnn`: compute units of the GRU / LSTM kernels on LiteSVM.

For each model (seeded random float weights compiled by `rnn_compile`, a dense 3-class head)
it deploys the file through the registry SDK, runs `infer` with the LOG_CU flag on a few random
windows and reports the recurrent op's CU (worst window), its CU per MAC (MACs = steps x gate
rows x (features + hidden)), the whole instruction's CU and whether the outputs match the
numpy reference. The GRU-32 over a 120 x 5 window is the issue's one-transaction target:
600 features do not fit an `infer` transaction's instruction data on a real cluster (1,232-byte
packets; they come from a features account there), but LiteSVM does not enforce the packet
size, so the compute is measured with the features in the instruction.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass

import numpy as np
from solders.compute_budget import set_compute_unit_limit
from solders.keypair import Keypair

from ..chain.base import TransactionFailed
from ..chain.litesvm import LiteSvmChain
from ..inference import CuProfile, InferenceClient, infer_instruction
from ..inference.result import ReturnData
from ..model.format import encode
from ..model.ir import CellKind, DenseLayer, FloatModel, Head, RecurrentLayer
from ..model.qmodel import DType, QModel, QRecurrent
from ..model.reference import execute, features_to_q16
from ..model.rnn_compile import compile_recurrent
from ..registry import ModelRegistry
from .runner import _CONSUMED, MAX_TX_CU, fast_chain

SEED = 11


@dataclass(frozen=True)
class RnnRow:
    name: str
    cell: str
    dtype: str
    steps: int
    features: int
    hidden: int
    macs: int  # of the recurrent op, all steps
    op_cu: int | None  # the recurrent op (LOG_CU profile, worst window); None: out of CU
    cu_per_mac: float | None
    cu_per_step: float | None
    instruction_cu: int | None  # the whole infer instruction, worst window
    fits_one_tx: bool  # instruction CU <= 1.4M
    estimate: int  # feasibility.estimate_cu
    bit_exact: bool | None  # None: did not run (out of CU)


def rnn_model(
    cell: CellKind, steps: int, feats: int, hid: int, dtype: DType, prefer: str = "size"
) -> QModel:
    rng = np.random.default_rng(SEED + hid + steps)
    g = 3 if cell is CellKind.GRU else 4
    scale = 1.0 / np.sqrt(hid)
    rec = RecurrentLayer(
        cell,
        steps,
        rng.uniform(-scale, scale, (g * hid, feats)),
        rng.uniform(-scale, scale, (g * hid, hid)),
        rng.uniform(-scale, scale, g * hid),
        rng.uniform(-scale, scale, g * hid),
    )
    head = DenseLayer(rng.normal(0, 1.0, (3, hid)), np.zeros(3))
    fm = FloatModel(steps * feats, (rec, head), Head.SOFTMAX, labels=(0, 1, 2))
    x = rng.normal(0, 1.0, (256, steps * feats))
    qm = compile_recurrent(fm, x, (dtype,), prefer=prefer)
    mode = "_speed" if prefer == "speed" else ""
    qm.name = f"{cell.value}{hid}_{steps}x{feats}_{dtype.name.lower()}{mode}"
    return qm


CASES: tuple[tuple[CellKind, int, int, int, DType, str], ...] = (
    (CellKind.GRU, 8, 5, 32, DType.I8, "size"),
    (CellKind.GRU, 8, 5, 32, DType.I8, "speed"),
    (CellKind.GRU, 8, 5, 32, DType.I16, "size"),
    (CellKind.LSTM, 8, 5, 64, DType.I8, "size"),
    (CellKind.LSTM, 8, 5, 64, DType.I8, "speed"),
    (CellKind.LSTM, 8, 5, 64, DType.I16, "size"),
    (CellKind.GRU, 120, 5, 24, DType.I8, "size"),
    (CellKind.GRU, 96, 5, 32, DType.I8, "size"),
    (CellKind.GRU, 120, 5, 32, DType.I8, "size"),
    (CellKind.GRU, 120, 5, 32, DType.I8, "speed"),
)


async def measure_rnn(chain: LiteSvmChain, payer: Keypair, qm: QModel, windows: int = 4) -> RnnRow:
    op = qm.ops[0]
    assert isinstance(op, QRecurrent)
    data = encode(qm)
    deployed = await ModelRegistry(chain, payer).deploy(data, check_runnable=False)
    client = InferenceClient(chain, payer, log_limit=None)
    handle = await client.model(deployed.model)
    rng = np.random.default_rng(SEED)
    lo, hi = handle.lo_fx, handle.hi_fx
    rows = rng.integers(lo, hi + 1, size=(windows, lo.size), dtype=np.int64)
    rows[0] = features_to_q16(np.zeros(lo.size)).clip(lo, hi)
    want = execute(qm, rows)
    op_cu, ix_cu, exact = 0, 0, True
    try:
        for r, row in enumerate(rows):
            ix = infer_instruction(handle.address, handle.weights, row.tolist(), log_cu=True)
            res = await chain.send([set_compute_unit_limit(MAX_TX_CU), ix], payer)
            prof = CuProfile.from_logs(res.logs)
            assert prof is not None, res.logs
            op_cu = max(op_cu, prof.ops[0])
            plain = infer_instruction(handle.address, handle.weights, row.tolist())
            res = await chain.send([set_compute_unit_limit(MAX_TX_CU), plain], payer)
            cu = [int(m.group(1)) for line in res.logs if (m := _CONSUMED.match(line))]
            ix_cu = max(ix_cu, cu[0])
            assert res.return_data is not None, res.logs
            rd = ReturnData.decode(res.return_data)
            exact &= list(rd.outputs) == want.outputs[r].tolist()
            exact &= rd.class_id == int(want.classes[r])
    except TransactionFailed as e:
        if not any("exceeded CUs meter" in line for line in e.result.logs):
            raise
        return _row(qm, op, None, None, None)
    return _row(qm, op, op_cu, ix_cu, exact)


def _row(
    qm: QModel, op: QRecurrent, op_cu: int | None, ix_cu: int | None, exact: bool | None
) -> RnnRow:
    from ..model.feasibility import estimate_cu

    macs = op.steps * op.rows * (op.features + op.hidden)
    return RnnRow(
        name=qm.name,
        cell=op.kind.name,
        dtype=op.dtype.name,
        steps=op.steps,
        features=op.features,
        hidden=op.hidden,
        macs=macs,
        op_cu=op_cu,
        cu_per_mac=None if op_cu is None else round(op_cu / macs, 3),
        cu_per_step=None if op_cu is None else round(op_cu / op.steps, 1),
        instruction_cu=ix_cu,
        fits_one_tx=ix_cu is not None and ix_cu <= MAX_TX_CU,
        estimate=estimate_cu(qm),
        bit_exact=exact,
    )


async def run_rnn_bench() -> list[RnnRow]:
    chain = fast_chain()
    payer = Keypair()
    await chain.airdrop(payer.pubkey(), 1_000 * 10**9)
    out = []
    for cell, steps, feats, hid, dtype, prefer in CASES:
        qm = rnn_model(cell, steps, feats, hid, dtype, prefer)
        out.append(await measure_rnn(chain, payer, qm))
    return out


def format_rnn(rows: list[RnnRow]) -> str:
    head = (
        f"{'model':<30} {'MACs':>9} {'op CU':>10} {'CU/MAC':>7} {'CU/step':>9} "
        f"{'infer CU':>10} {'estimate':>10} {'1 tx':>5}"
    )
    lines = ["GRU / LSTM kernels on LiteSVM (SBPF v0), dense 3-class head", head]
    for r in rows:
        if r.op_cu is None or r.cu_per_mac is None or r.cu_per_step is None:
            cells = f"{'> 1.4M':>10} {'':>7} {'':>9} {'> 1.4M':>10}"
        else:
            cells = (
                f"{r.op_cu:>10,} {r.cu_per_mac:>7.3f} {r.cu_per_step:>9,.0f} "
                f"{r.instruction_cu or 0:>10,}"
            )
        lines.append(
            f"{r.name:<30} {r.macs:>9,} {cells} {r.estimate:>10,} "
            f"{'yes' if r.fits_one_tx else 'NO':>5}"
        )
    return "\n".join(lines)


def main() -> None:
    rows = asyncio.run(run_rnn_bench())
    print(format_rnn(rows))
    print(json.dumps([asdict(r) for r in rows]))


if __name__ == "__main__":
    main()
