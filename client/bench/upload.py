"""Registry upload benchmark: packet use, compute per byte, and 1 MiB upload times.

    python -m client.bench.upload [--no-surfpool] [--json]

`run_upload_bench(chain, payer)` is what `python -m client bench` calls (with its LiteSVM
chain); it measures:

* payload bytes per write transaction and that transaction's size (the packet is 1,232 bytes);
* compute units of a full-chunk write, and the marginal CU per byte of a write (SHA-256 of the
  chunk plus its copy: a full chunk against a short one);
* compute units of `finalize_version` alone on a 1 MiB model (whole-file SHA-256 and the chunk
  root, both with `sol_sha256` over account data) per model byte;
* a 1 MiB deploy (upload, commit, finalize, activate, download-and-verify) on LiteSVM and, when
  the Surfpool addon is installed, on a fresh Surfpool over JSON-RPC.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import asdict, dataclass

from solders.compute_budget import set_compute_unit_limit
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from ..chain.base import Chain
from ..chain.errors import ValidatorNotInstalled
from ..registry import ArchSummary, ModelRegistry, WeightsLayout
from ..registry import instructions as ix
from ..registry.layout import MAX_CHUNK_SIZE, ModelHashes, default_model_id, model_address
from ..registry.upload import TxStats, Uploader

MIB = 1 << 20


@dataclass
class UploadBench:
    payload_bytes_per_write_tx: int
    write_tx_bytes: int
    write_cu_full_chunk: int
    write_cu_per_byte: float
    finalize_cu_1mib: int
    finalize_cu_per_byte: float
    litesvm_1mib_seconds: float
    transactions_1mib: int
    rent_sol_1mib: float
    surfpool_1mib_seconds: float | None
    surfpool_tx_per_second: float | None
    surfpool_note: str = ""

    def __str__(self) -> str:
        surf = (
            f"{self.surfpool_1mib_seconds} s ({self.surfpool_tx_per_second} tx/s)"
            if self.surfpool_1mib_seconds is not None
            else f"not run ({self.surfpool_note})"
        )
        return "\n".join(
            [
                f"  payload per write tx   {self.payload_bytes_per_write_tx} B "
                f"(tx {self.write_tx_bytes} / 1232 B)",
                f"  write CU (full chunk)  {self.write_cu_full_chunk} "
                f"(marginal {self.write_cu_per_byte} CU/B: SHA-256 + copy)",
                f"  finalize 1 MiB         {self.finalize_cu_1mib} CU = "
                f"{self.finalize_cu_per_byte} CU/B (file SHA-256 + chunk root)",
                f"  1 MiB deploy LiteSVM   {self.litesvm_1mib_seconds} s, "
                f"{self.transactions_1mib} tx, rent {self.rent_sol_1mib} SOL",
                f"  1 MiB deploy Surfpool  {surf}",
            ]
        )


def _model(size: int, seed: int) -> bytes:
    return (seed.to_bytes(4, "little") + os.urandom(size))[:size]


async def _finalize_cu(chain: Chain, payer: Keypair, data: bytes) -> tuple[int, list[int]]:
    """Upload `data` without finalizing, then finalize alone; returns (finalize CU, write CUs)."""
    registry = ModelRegistry(chain, payer)
    hashes = ModelHashes.of(data)
    layout = WeightsLayout.for_model(len(data))
    model_id = default_model_id(hashes.sha256)
    address = model_address(payer.pubkey(), model_id)
    stats = TxStats()
    weights, _ = await registry._create(
        address, None, model_id, layout, hashes, ArchSummary(), 0, stats
    )
    await Uploader(chain, payer, weights, data, layout, hashes, stats).run()
    result = await chain.send(
        [set_compute_unit_limit(1_400_000), ix.finalize_version(payer.pubkey(), address, weights)],
        payer,
    )
    return result.compute_units, stats.compute_units.get("write", [])


async def run_upload_bench(
    chain: Chain, payer: Keypair, *, surfpool: bool | None = None
) -> UploadBench:
    """Measure on `chain` (an in-process SVM) and, if `surfpool` (default: when installed), on
    a fresh Surfpool."""
    # Packet use of a full write.
    page = Pubkey.new_unique()
    write = ix.write_chunk(payer.pubkey(), page, 0, bytes(MAX_CHUNK_SIZE))
    tx = Transaction.new_signed_with_payer([write], payer.pubkey(), [payer], Hash.default())

    # Compute: writes of a full and of a short last chunk; finalize alone on 1 MiB.
    finalize_cu, write_cus = await _finalize_cu(chain, payer, _model(MIB, 1))
    short = MIB % MAX_CHUNK_SIZE
    full_cu, short_cu = max(write_cus), min(write_cus)

    # End-to-end 1 MiB deploy on this chain.
    started = time.perf_counter()
    deployed = await ModelRegistry(chain, payer).deploy(_model(MIB, 2))
    litesvm_seconds = time.perf_counter() - started

    surf_seconds: float | None = None
    surf_rate: float | None = None
    note = "skipped"
    if surfpool is not False:
        try:
            surf_seconds, transactions = await surfpool_1mib()
            surf_rate = round(transactions / surf_seconds, 1)
            note = ""
        except ValidatorNotInstalled as e:
            if surfpool:
                raise
            note = str(e)
    return UploadBench(
        payload_bytes_per_write_tx=MAX_CHUNK_SIZE,
        write_tx_bytes=len(bytes(tx)),
        write_cu_full_chunk=full_cu,
        write_cu_per_byte=round((full_cu - short_cu) / (MAX_CHUNK_SIZE - short), 3),
        finalize_cu_1mib=finalize_cu,
        finalize_cu_per_byte=round(finalize_cu / MIB, 3),
        litesvm_1mib_seconds=round(litesvm_seconds, 2),
        transactions_1mib=deployed.transactions,
        rent_sol_1mib=round(deployed.rent_lamports / 1e9, 4),
        surfpool_1mib_seconds=None if surf_seconds is None else round(surf_seconds, 2),
        surfpool_tx_per_second=surf_rate,
        surfpool_note=note,
    )


async def surfpool_1mib() -> tuple[float, int]:
    """Start Surfpool, deploy the program, time a 1 MiB deploy (upload to verified)."""
    from ..artifacts import program_keypair, read_program_so
    from ..chain.rpc import RpcChain
    from ..chain.surfpool import Surfpool

    async with Surfpool.start() as sp, RpcChain(sp.rpc_url) as rpc:
        payer = Keypair()
        await rpc.airdrop(payer.pubkey(), 100 * 10**9)
        await rpc.deploy_program(program_keypair(), read_program_so(), payer)
        started = time.perf_counter()
        deployed = await ModelRegistry(rpc, payer).deploy(_model(MIB, 3))
        seconds = time.perf_counter() - started
        assert deployed.verified
        return seconds, deployed.transactions


async def _main(args: argparse.Namespace) -> int:
    from ..artifacts import read_embedded_so
    from ..chain.litesvm import LiteSvmChain
    from ..program import PROGRAM_ID

    chain = LiteSvmChain()
    chain.add_program(PROGRAM_ID, read_embedded_so())
    payer = Keypair()
    await chain.airdrop(payer.pubkey(), 1_000 * 10**9)
    report = await run_upload_bench(chain, payer, surfpool=False if args.no_surfpool else None)
    print(
        json.dumps(asdict(report), indent=2) if args.json else f"registry upload bench:\n{report}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m client.bench.upload", description=__doc__)
    parser.add_argument("--no-surfpool", action="store_true", help="LiteSVM measurements only")
    parser.add_argument("--json", action="store_true")
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
