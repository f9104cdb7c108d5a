"""Conv1D bench rows: kernel CU per MAC of CONV1D and the CU of a conv model over a regime
window, measured on LiteSVM with the `infer` LOG_CU profile.

The models are seeded random quantized conv models (`client.model.conv_models`): CU depends
on shapes, not on trained values. Their inputs exceed one transaction's features (the packet
limit, `feasibility`), so they are sent as raw `infer` instructions to LiteSVM, which does not
enforce the packet size; on a real cluster such windows come from a features account.

    python -m client.bench.conv [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from dataclasses import asdict, dataclass

from solders.compute_budget import set_compute_unit_limit
from solders.keypair import Keypair

from ..inference import CuProfile, InferenceClient, ReturnData, infer_instruction
from ..model.conv_models import ConvSpec, random_conv_model, random_features
from ..model.feasibility import estimate_cu
from ..model.format import encode
from ..model.qmodel import DType, PoolMode, QConv1d, QModel
from ..model.reference import execute
from ..registry import ModelRegistry

MAX_TX_CU = 1_400_000
_CONSUMED = re.compile(r"Program \w+ consumed (\d+) of \d+ compute units")


@dataclass(frozen=True)
class ConvRow:
    name: str
    description: str
    macs: int  # CONV1D MACs (output positions x K x C_in x C_out)
    conv_cu: int  # the CONV1D op's kernel CU (worst of the measured inputs)
    conv_cu_per_mac: float
    instruction_cu: int  # the whole `infer`
    estimate_cu: int  # feasibility.estimate_cu
    bit_exact: bool  # outputs equal the numpy reference on every measured input


def conv_macs(qm: QModel) -> int:
    return sum(op.t_out * op.k * op.c_in * op.c_out for op in qm.ops if isinstance(op, QConv1d))


BENCH_SPECS: list[tuple[str, str, ConvSpec]] = [
    (
        "conv60x8_k5_i8",
        "CONV1D INT8 PACKED 60x8 -> 16 channels, K=5, no padding; global max pool; dense 3",
        ConvSpec(t=60, f=8, c_out=16, k=5, pool=PoolMode.MAX, packed=True),
    ),
    (
        "conv60x8_k5_i8_compact",
        "the same with COMPACT (offset-binary byte) weights",
        ConvSpec(t=60, f=8, c_out=16, k=5, pool=PoolMode.MAX),
    ),
    (
        "conv60x8_k5_i16",
        "the same at INT16 (COMPACT)",
        ConvSpec(t=60, f=8, c_out=16, k=5, dtype=DType.I16, pool=PoolMode.MAX),
    ),
    (
        "conv60x8_k5_same_i8",
        "INT8 PACKED, 'same' padding 2/2 (4 edge positions take the per-tap path)",
        ConvSpec(t=60, f=8, c_out=16, k=5, pad_left=2, pad_right=2, pool=PoolMode.MAX, packed=True),
    ),
    (
        "conv60x8_k5_dil2_i8",
        "INT8 PACKED, dilation 2 (every position takes the per-tap path)",
        ConvSpec(t=60, f=8, c_out=16, k=5, dilation=2, pool=PoolMode.MAX, packed=True),
    ),
    (
        "conv_regime_120x5",
        "regime window 120x5: CONV1D INT8 PACKED 5 -> 16, K=5, stride 2; global average pool; "
        "dense 3",
        ConvSpec(t=120, f=5, c_out=16, k=5, stride=2, pool=PoolMode.AVG, packed=True),
    ),
]


async def measure_row(
    client: InferenceClient, registry: ModelRegistry, name: str, desc: str, spec: ConvSpec
) -> ConvRow:
    qm = random_conv_model(spec, seed=0)
    data = encode(qm)
    deployed = await registry.deploy(data, check_runnable=False)
    handle = await client.model(deployed.model)
    rows = random_features(qm, 4, seed=1)
    want = execute(qm, rows)
    worst_conv, worst_ix, exact = 0, 0, True
    for r, x in enumerate(rows):
        ix = infer_instruction(handle.address, handle.weights, x.tolist(), log_cu=True)
        res = await client.chain.send([set_compute_unit_limit(MAX_TX_CU), ix], client.payer)
        prof = CuProfile.from_logs(res.logs)
        assert prof is not None, res.logs
        worst_conv = max(worst_conv, prof.ops[0])
        consumed = [int(m.group(1)) for line in res.logs if (m := _CONSUMED.match(line))]
        worst_ix = max(worst_ix, consumed[-1])
        assert res.return_data is not None
        got = ReturnData.decode(res.return_data)
        exact &= list(got.outputs) == want.outputs[r].tolist() and got.class_id == int(
            want.classes[r]
        )
    macs = conv_macs(qm)
    return ConvRow(
        name=name,
        description=desc,
        macs=macs,
        conv_cu=worst_conv,
        conv_cu_per_mac=round(worst_conv / macs, 3),
        instruction_cu=worst_ix,
        estimate_cu=estimate_cu(qm),
        bit_exact=exact,
    )


async def run_conv_bench(chain: object, payer: Keypair) -> list[ConvRow]:
    client = InferenceClient(chain, payer, log_limit=None)  # type: ignore[arg-type]
    registry = ModelRegistry(chain, payer)  # type: ignore[arg-type]
    return [await measure_row(client, registry, n, d, s) for n, d, s in BENCH_SPECS]


def format_conv_report(rows: list[ConvRow]) -> str:
    head = (
        f"{'conv model':<22} {'conv MACs':>9} {'conv CU':>9} {'CU/MAC':>7} {'instr CU':>9} "
        f"{'estimate':>9} exact"
    )
    lines = ["Conv1D (LiteSVM, SBPF v0 build, kernel CU of the CONV1D op):", head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.name:<22} {r.macs:>9,} {r.conv_cu:>9,} {r.conv_cu_per_mac:>7.2f} "
            f"{r.instruction_cu:>9,} {r.estimate_cu:>9,} {'yes' if r.bit_exact else 'NO'}"
        )
    lines += [f"  {r.name}: {r.description}" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from .runner import fast_chain

    p = argparse.ArgumentParser(description="Conv1D CU bench on LiteSVM")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    async def go() -> list[ConvRow]:
        chain = fast_chain()
        payer = Keypair()
        await chain.airdrop(payer.pubkey(), 10_000 * 10**9)
        return await run_conv_bench(chain, payer)

    rows = asyncio.run(go())
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=1))
    else:
        print(format_conv_report(rows))


if __name__ == "__main__":
    main()
