"""Instruction-level CU profile of one `infer` on a benchmark model.

    python scripts/profile_infer.py --model iris_mlp_4_8_3 [--annotate] [--full] [--json]

Builds the benchmark model exactly as `python -m client bench` does (client/bench/models.py),
deploys it on LiteSVM through the SDK, picks the worst-case input the way the bench's `measure`
does (the highest CU over the first 32 data samples and 32 boundary inputs), sends that `infer`
once more to read LiteSVM's own `consumed` CU, then writes the instruction's accounts and data
as the profiler's input JSON and runs scripts/sbpf-profile (the Anza SBPF interpreter with
register tracing) on target/deploy/ml_agent-sbpf-v0.so (the SBPF v0 build LiteSVM runs). Prints
the profile and the two totals side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from solders.compute_budget import set_compute_unit_limit  # noqa: E402
from solders.instruction import Instruction  # noqa: E402
from solders.keypair import Keypair  # noqa: E402

from client.artifacts import embedded_so_path  # noqa: E402
from client.bench.models import BUILDERS, BenchModel, measured_rows  # noqa: E402
from client.bench.runner import MAX_TX_CU, fast_chain  # noqa: E402
from client.chain.base import TxResult  # noqa: E402
from client.chain.litesvm import LiteSvmChain  # noqa: E402
from client.inference import InferenceClient, infer_instruction  # noqa: E402
from client.program import PROGRAM_ID  # noqa: E402
from client.registry import ModelRegistry  # noqa: E402

PROFILER_DIR = ROOT / "scripts" / "sbpf-profile"
PROFILER_BIN = PROFILER_DIR / "target" / "release" / "sbpf-profile"
SAMPLES = 32  # as client.bench.runner.measure
_CONSUMED = re.compile(rf"^Program {PROGRAM_ID} consumed (\d+) of (\d+) compute units$")


# Benchmark model name -> the builder in client.bench.models that makes it (the names are only
# known once a model is built, and building trains scikit-learn models).
_BUILDER_OF = {
    "dense128_int8": "dense_128",
    "iris_mlp_4_8_3": "iris_mlp",
    "mlp_12_8_1": "mlp_12_8_1",
    "tree_100": "decision_tree_100",
    "gb_100x6": "gb_100x6",
}


def build_model(name: str) -> BenchModel:
    by_fn = {b.__name__: b for b in BUILDERS}
    fn = by_fn.get(_BUILDER_OF.get(name, ""))
    if fn is not None:
        model = fn()
        if model.name == name:
            return model
    for b in BUILDERS:  # the table above is stale: build them all
        model = b()
        if model.name == name:
            return model
    raise SystemExit(f"no benchmark model named {name!r}")


def build_profiler() -> Path:
    """Build (or find up to date) the profiler with the system toolchain scripts/env.sh names."""
    env = dict(os.environ)
    cargo = env.get("ML_AGENT_CARGO", "/usr/bin/cargo")
    rustc = env.get("ML_AGENT_RUSTC", "/usr/bin/rustc")
    if not Path(cargo).is_file():
        cargo = "cargo"
    if Path(rustc).is_file():
        env["RUSTC"] = rustc
    subprocess.run(
        [cargo, "build", "-q", "--release", "--locked", "--manifest-path", "Cargo.toml"],
        cwd=PROFILER_DIR,
        env=env,
        check=True,
    )
    return PROFILER_BIN


def _consumed(logs: list[str]) -> list[tuple[int, int]]:
    """(consumed, available) of each `infer` in a transaction's logs."""
    return [(int(m.group(1)), int(m.group(2))) for line in logs if (m := _CONSUMED.match(line))]


def program_logs(logs: list[str]) -> list[str]:
    """What the program itself logged (the lines the profiler reproduces)."""
    keep = ("Program log: ", "Program data: ", "Program consumption: ")
    return [line for line in logs if line.startswith(keep)]


async def _send(chain: LiteSvmChain, payer: Keypair, ix: Instruction) -> tuple[int, int, TxResult]:
    res = await chain.send([set_compute_unit_limit(MAX_TX_CU), ix], payer)
    cus = _consumed(res.logs)
    assert len(cus) == 1, res.logs
    return cus[0][0], cus[0][1], res


async def prepare(model: BenchModel, *, log_cu: bool = False) -> dict[str, Any]:
    """Deploy `model`, find its worst-case input, and gather what the profiler needs."""
    chain = fast_chain()
    payer = Keypair()
    await chain.airdrop(payer.pubkey(), 10_000 * 10**9)
    deployed = await ModelRegistry(chain, payer).deploy(model.data)
    client = InferenceClient(chain, payer, log_limit=None)
    handle = await client.model(deployed.model)
    rows = measured_rows(model, SAMPLES)
    cus = []
    for r in rows:
        ix = infer_instruction(handle.address, handle.weights, r.tolist())
        cu, _, _ = await _send(chain, payer, ix)
        cus.append(cu)
    worst = max(range(len(cus)), key=lambda i: cus[i])
    row = [int(v) for v in rows[worst]]
    ix = infer_instruction(handle.address, handle.weights, row, log_cu=log_cu)
    consumed, available, res = await _send(chain, payer, ix)
    accounts = []
    for meta in ix.accounts:
        acc = chain.svm.get_account(meta.pubkey)
        if acc is None:
            raise SystemExit(f"account {meta.pubkey} not found on the LiteSVM chain")
        accounts.append(
            {
                "key": str(meta.pubkey),
                "owner": str(acc.owner),
                "lamports": int(acc.lamports),
                "data": bytes(acc.data).hex(),
                "data_encoding": "hex",
                "is_signer": bool(meta.is_signer),
                "is_writable": bool(meta.is_writable),
                "executable": bool(acc.executable),
                "rent_epoch": int(acc.rent_epoch),
            }
        )
    return {
        "input": {
            "program_id": str(ix.program_id),
            "instruction_data": bytes(ix.data).hex(),
            "accounts": accounts,
            # The instruction's budget as LiteSVM gave it, so `Program consumption` lines match.
            "compute_unit_limit": available,
        },
        "row": worst,
        "features": row,
        "sample_cus": cus,
        "litesvm_consumed": consumed,
        "litesvm_logs": program_logs(list(res.logs)),
        "litesvm_return_data": (res.return_data or b"").hex(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default="iris_mlp_4_8_3", help=f"one of {', '.join(_BUILDER_OF)}")
    ap.add_argument("--annotate", action="store_true", help="annotated disassembly")
    ap.add_argument("--full", action="store_true", help="with --annotate: no folding")
    ap.add_argument("--top", type=int, default=25, help="functions listed (default 25)")
    ap.add_argument("--json", action="store_true", help="the profiler's JSON instead of text")
    ap.add_argument(
        "--log-cu",
        action="store_true",
        help="profile `infer` with the LOG_CU flag (kernel CU logs)",
    )
    ap.add_argument("--keep-input", type=Path, help="also write the profiler input JSON here")
    ap.add_argument("--program", type=Path, default=embedded_so_path(), help="program ELF")
    args = ap.parse_args(argv)

    if not args.program.is_file():
        raise SystemExit(f"{args.program} not found: bash scripts/build-program.sh")
    exe = build_profiler()
    model = build_model(args.model)
    info = asyncio.run(prepare(model, log_cu=args.log_cu))

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input.json"
        path.write_text(json.dumps(info["input"], indent=1))
        if args.keep_input:
            args.keep_input.write_text(json.dumps(info["input"], indent=1))
        base = [str(exe), "--program", str(args.program), "--quiet", str(path)]
        summary = json.loads(
            subprocess.run([*base, "--json"], check=True, capture_output=True, text=True).stdout
        )
        extra = ["--top", str(args.top)]
        extra += ["--annotate"] if args.annotate else []
        extra += ["--full"] if args.full else []
        extra += ["--json"] if args.json else []
        report = subprocess.run([*base, *extra], check=True, capture_output=True, text=True).stdout

    litesvm = info["litesvm_consumed"]
    total = int(summary["total_cu"])
    same_rd = summary["return_data_hex"] == info["litesvm_return_data"]
    same_logs = summary["logs"] == info["litesvm_logs"]
    if args.json:
        print(report)
    else:
        lo, hi = min(info["sample_cus"]), max(info["sample_cus"])
        print(
            f"model {args.model}: worst-case input {info['row']} of {SAMPLES} data samples and "
            f"{SAMPLES} boundary inputs "
            f"(LiteSVM CU {lo}..{hi}), features {info['features']}"
        )
        print()
        print(report, end="")
        print()
    diff = total - litesvm
    verdict = "exact" if diff == 0 else f"differs by {diff:+d} CU"
    print(
        f"profiler total {total} CU ({summary['instructions']} instructions + "
        f"{summary['syscall_cu']} syscall CU)  vs  LiteSVM consumed {litesvm} CU: {verdict}; "
        f"return data {'identical' if same_rd else 'DIFFERS'}, "
        f"program logs {'identical' if same_logs else 'DIFFER'}",
        file=sys.stderr if args.json else sys.stdout,
    )
    if not same_logs:
        for a, b in zip(info["litesvm_logs"], summary["logs"], strict=False):
            if a != b:
                print(f"  LiteSVM : {a}\n  profiler: {b}", file=sys.stderr)
    return 0 if diff == 0 and same_rd and same_logs else 1


if __name__ == "__main__":
    raise SystemExit(main())
