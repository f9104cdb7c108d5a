"""`python -m client bench --sbpf`: every CU row of the bench on both builds of the program.

The SBPF v0 build runs on the embedded LiteSVM (solders 0.26 cannot load v3), the deployable
SBPF v3 build on Surfpool (Agave 4.1.2), and, to tell the SBPF version's effect from the
runtime's, the v0 build on Surfpool as well (Surfpool loads v0; solana-test-validator would not).
The same models, rows and agent steps on each.
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
    program_keypair,
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
class CuRow:
    """One bench row. `v0_surfpool` runs the v0 build on the same validator as v3 (Surfpool
    does not enforce SIMD-0500), so `v3 - v0_surfpool` is the SBPF version's own effect and
    `v0_surfpool - v0` the runtime's (e.g. the token program it ships). None: the row cannot be
    sent to a validator (see `note`)."""

    row: str
    v0: int
    v0_surfpool: int | None
    v3: int | None
    note: str = ""

    @property
    def delta_pct(self) -> float | None:
        """v3 against v0 on the same runtime."""
        if self.v3 is None or not self.v0_surfpool:
            return None
        return round(100.0 * (self.v3 - self.v0_surfpool) / self.v0_surfpool, 2)


@dataclass
class SbpfReport:
    v0: BuildInfo
    v3: BuildInfo
    rows: list[CuRow] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for row, r in zip(out["rows"], self.rows, strict=True):
            row["delta_pct"] = r.delta_pct
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

    on_surfpool: dict[str, dict[str, int | str]] = {}
    for tag, elf in (("v0", v0_elf), ("v3", v3_elf)):
        # A fresh validator per build: the program lives at its one IDL address.
        async with Surfpool.start() as sp, RpcChain(sp.rpc_url, name="surfpool") as rpc:
            rpc_payer = Keypair()
            await rpc.airdrop(rpc_payer.pubkey(), RPC_PAYER_SOL * 10**9)
            await rpc.deploy_program(program_keypair(), elf, rpc_payer)
            on_surfpool[tag] = await _rows(rpc, rpc_payer, hidden, packet_limit=True)
    for name, c0 in v0.items():
        assert isinstance(c0, int)
        s0, s3 = on_surfpool["v0"][name], on_surfpool["v3"][name]
        if isinstance(s0, int) and isinstance(s3, int):
            report.rows.append(CuRow(name, c0, s0, s3))
        else:
            report.rows.append(CuRow(name, c0, None, None, str(s3)))
    return report


def format_sbpf_report(r: SbpfReport) -> str:
    lines = []
    for tag, b in (("v0", r.v0), ("v3", r.v3)):
        lines.append(
            f"SBPF {tag}: {b.path}  e_flags={b.sbpf_version}  {b.bytes:,} bytes  "
            f"sha256 {b.sha256}  on {b.runtime}"
        )
    lines += [
        "",
        f"{'row':<28} {'v0 LiteSVM':>11} {'v0 Surfpool':>12} {'v3 Surfpool':>12} {'v3/v0':>8}",
    ]
    lines += report_rows(r)
    return "\n".join(lines)


def report_rows(r: SbpfReport) -> list[str]:
    out: list[str] = []
    for p in r.rows:
        if p.v3 is None or p.v0_surfpool is None:
            out.append(f"{p.row:<28} {p.v0:>11,} {'-':>12} {'-':>12} {'':>8}  {p.note}")
        else:
            out.append(
                f"{p.row:<28} {p.v0:>11,} {p.v0_surfpool:>12,} {p.v3:>12,} "
                f"{p.delta_pct or 0.0:>+7.2f}%"
            )
    return out
