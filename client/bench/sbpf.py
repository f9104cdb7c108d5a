"""`python -m client bench --sbpf`: every CU row of the bench on both builds of the program.

The SBPF v0 build runs on the embedded LiteSVM (solders 0.26 cannot load v3), the deployable
SBPF v3 build on Surfpool (Agave 4.1.2): the same models, the same rows, the same agent steps
on each, so the two columns differ only in the SBPF version (and the runtime executing it; CU
pricing of instructions and syscalls is the same in both runtimes for these programs).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from solders.compute_budget import set_compute_unit_limit
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from ..artifacts import (
    embedded_so_path,
    program_so_path,
    read_embedded_so,
    read_program_so,
    sbpf_version,
    sha256_hex,
)
from ..chain.base import Chain
from ..inference import infer_instruction
from ..inference.client import MAX_TX_CU, PACKET_DATA_SIZE
from .agent import measure_case
from .models import BUILDERS, BenchModel, dense_128, largest_mlp
from .runner import fast_chain, largest, measure

RPC_PAYER_SOL = 500


@dataclass(frozen=True)
class BuildInfo:
    path: str
    sbpf_version: int
    bytes: int
    sha256: str
    runtime: str


@dataclass(frozen=True)
class CuPair:
    row: str
    v0: int
    v3: int | None  # None: the row cannot be sent to a validator (see `note`)
    note: str = ""

    @property
    def delta_pct(self) -> float | None:
        if self.v3 is None or not self.v0:
            return None
        return round(100.0 * (self.v3 - self.v0) / self.v0, 2)


@dataclass
class SbpfReport:
    v0: BuildInfo
    v3: BuildInfo
    rows: list[CuPair] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for row, pair in zip(out["rows"], self.rows, strict=True):
            row["delta_pct"] = pair.delta_pct
        return out


def _build(path: str, elf: bytes, runtime: str) -> BuildInfo:
    return BuildInfo(path, sbpf_version(elf), len(elf), sha256_hex(elf), runtime)


def _one_infer_tx_bytes(model: BenchModel) -> int:
    """Size of a transaction holding one `infer` of `model` (and the CU-limit instruction)."""
    ix = infer_instruction(Pubkey.default(), Pubkey.default(), model.samples[0].tolist())
    payer = Keypair()
    tx = Transaction.new_signed_with_payer(
        [set_compute_unit_limit(MAX_TX_CU), ix], payer.pubkey(), [payer], Hash.default()
    )
    return len(bytes(tx))


async def _rows(
    chain: Chain, payer: Keypair, largest_hidden: int | None, *, packet_limit: bool
) -> dict[str, int | str]:
    """Instruction CU (worst of the bench's measured rows) per model, then agent_step CU. With
    `packet_limit` (a real validator), a model whose `infer` alone exceeds a packet gets the
    reason instead: LiteSVM takes any size, validators only 1,232-byte transactions."""
    models = [build() for build in BUILDERS]
    if largest_hidden is not None:
        models.append(largest_mlp(largest_hidden))
    out: dict[str, int | str] = {}
    for m in models:
        size = _one_infer_tx_bytes(m)
        if packet_limit and size > PACKET_DATA_SIZE:
            out[m.name] = (
                f"one infer is a {size:,}-byte transaction (max {PACKET_DATA_SIZE:,}): LiteSVM only"
            )
            continue
        samples = 4 if m.name.startswith("mlp_256_") else 32
        rep, _ = await measure(chain, payer, m, samples=samples)  # type: ignore[arg-type]
        out[m.name] = rep.instruction_cu
    for i, (name, n_models) in enumerate((("single", 1), ("ensemble4", 4))):
        case = await measure_case(chain, payer, name, n_models, agent_id=i + 1)
        out[f"agent_step {name}"] = case.step_cu
    return out


async def run_sbpf_comparison(*, largest_search: bool = True) -> SbpfReport:
    from ..chain.connect import ensure_program
    from ..chain.rpc import RpcChain
    from ..chain.surfpool import Surfpool

    v0_elf, v3_elf = read_embedded_so(), read_program_so()
    report = SbpfReport(
        _build(os.fspath(embedded_so_path()), v0_elf, "LiteSVM (solders 0.26)"),
        _build(os.fspath(program_so_path()), v3_elf, "Surfpool 1.5.0 (Agave 4.1.2)"),
    )
    lite = fast_chain()
    payer = Keypair()
    await lite.airdrop(payer.pubkey(), 10_000 * 10**9)
    hidden: int | None = None
    if largest_search:
        # The width the LiteSVM bench finds for v0; v3 runs the same model.
        dense, _ = await measure(lite, payer, dense_128())
        per_mac = dense.dense_cu_per_mac or 3.0
        fixed = dense.instruction_cu - per_mac * dense.macs + 128 * 70
        _, model, _ = await largest(lite, payer, per_mac, fixed)
        hidden = model.qmodel.ops[0].n_out  # type: ignore[union-attr]
    v0 = await _rows(lite, payer, hidden, packet_limit=False)

    async with Surfpool.start() as sp, RpcChain(sp.rpc_url, name="surfpool") as rpc:
        rpc_payer = Keypair()
        await rpc.airdrop(rpc_payer.pubkey(), RPC_PAYER_SOL * 10**9)
        await ensure_program(rpc, rpc_payer)
        v3 = await _rows(rpc, rpc_payer, hidden, packet_limit=True)
    for name, c0 in v0.items():
        assert isinstance(c0, int)
        c3 = v3[name]
        report.rows.append(
            CuPair(name, c0, c3, "") if isinstance(c3, int) else CuPair(name, c0, None, c3)
        )
    return report


def format_sbpf_report(r: SbpfReport) -> str:
    lines = []
    for tag, b in (("v0", r.v0), ("v3", r.v3)):
        lines.append(
            f"SBPF {tag}: {b.path}  e_flags={b.sbpf_version}  {b.bytes:,} bytes  "
            f"sha256 {b.sha256}  on {b.runtime}"
        )
    lines += ["", f"{'row':<28} {'v0 CU':>9} {'v3 CU':>9} {'v3-v0':>8}"]
    for p in r.rows:
        if p.v3 is None:
            lines.append(f"{p.row:<28} {p.v0:>9,} {'-':>9} {'':>8}  {p.note}")
        else:
            lines.append(f"{p.row:<28} {p.v0:>9,} {p.v3:>9,} {p.delta_pct or 0.0:>7.2f}%")
    return "\n".join(lines)
