"""`python -m client demo`: the main job, end to end, on the embedded SVM by default."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

from ..artifacts import program_so_path, read_program_so, sha256_hex
from ..program import PROGRAM_ID, build_ix, decode_account, parse_events, ping_record_address
from .context import CliContext, add_common_options


@dataclass
class DemoReport:
    cluster: str
    program_id: str
    program_sha256: str
    program_bytes: int
    ping_count: int
    ping_compute_units: int
    seconds: float


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the end-to-end demo (default: embedded LiteSVM)")
    add_common_options(p)
    p.set_defaults(handler=run, url="embedded")


async def run(args: argparse.Namespace, ctx: CliContext) -> int:
    t0 = time.perf_counter()
    elf = read_program_so()
    chain = await ctx.chain()
    payer = ctx.keypair
    record = ping_record_address(payer.pubkey())
    ix = build_ix(
        "ping", {"payload": b"ml_agent demo"}, {"authority": payer.pubkey(), "ping_record": record}
    )
    res = await chain.send([ix], payer)
    acc = await chain.get_account(record)
    assert acc is not None, "ping record missing after a successful ping"
    _, fields = decode_account(bytes(acc.data))
    events = parse_events(res.logs)
    report = DemoReport(
        cluster=ctx.cluster.name,
        program_id=str(PROGRAM_ID),
        program_sha256=sha256_hex(elf),
        program_bytes=len(elf),
        ping_count=int(fields.count),
        ping_compute_units=res.compute_units,
        seconds=round(time.perf_counter() - t0, 3),
    )
    ctx.emit(
        report,
        "\n".join(
            [
                f"cluster        {report.cluster}",
                f"program        {report.program_id}",
                f"program ELF    {program_so_path()} ({report.program_bytes} bytes)",
                f"program sha256 {report.program_sha256}",
                f"ping           count={report.ping_count} CU={report.ping_compute_units} "
                f"events={[e.name for e in events]}",
                f"done in {report.seconds}s",
            ]
        ),
    )
    return 0
