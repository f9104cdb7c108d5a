"""Inference commands: `infer` (one on-chain inference) and `bench` (CU and wall-time report).

python -m client infer ADDRESS --features 5.1,3.5,1.4,0.2 [--json]
python -m client infer ADDRESS --features-account PUBKEY      (input from a features account)
python -m client infer ADDRESS --features ... --large [--keep-job] [--max-units N]
    (an inference job over as many transactions as the model needs; also `infer-large`)
python -m client bench [--json] [--sbpf]
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from solders.pubkey import Pubkey

from ..inference import InferenceClient, InferenceError
from ..model.errors import InputRangeError
from .context import CliContext, add_common_options, fail


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("infer", help="run a registered model on chain and print its prediction")
    _infer_options(p, large_flag=True)
    p.set_defaults(handler=infer)
    p = sub.add_parser(
        "infer-large",
        help="run a model too large for one transaction as an inference job (infer --large)",
    )
    _infer_options(p, large_flag=False)
    p.set_defaults(handler=infer, large=True)

    p = sub.add_parser(
        "bench",
        help="benchmark models on LiteSVM: CU per instruction, per kernel, per MAC; wall time",
    )
    p.add_argument("--no-timing", action="store_true", help="skip the four-path wall-time table")
    p.add_argument(
        "--no-largest", action="store_true", help="skip the largest-MLP-in-one-transaction search"
    )
    p.add_argument(
        "--no-surfpool",
        action="store_true",
        help="skip the Surfpool CU column (same infer instructions on Agave 4.1.2)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable JSON output")
    p.add_argument(
        "--sbpf",
        action="store_true",
        help="instead: every CU row on both builds, SBPF v0 on LiteSVM vs v3 on Surfpool",
    )
    p.add_argument(
        "--jobs",
        action="store_true",
        help="instead: a model over one transaction run as an inference job (transactions, "
        "CU, wall time on LiteSVM and Surfpool) and a job step's overhead over infer",
    )
    p.add_argument(
        "--regime",
        action="store_true",
        help="instead: the regime models (GRU-32, LSTM-64 over 120x5 windows) end to end on "
        "LiteSVM and Surfpool: route, transactions, total CU, wall time, bit-exact",
    )
    p.add_argument(
        "--rnn",
        action="store_true",
        help="instead: CU of the GRU/LSTM kernels on LiteSVM (per MAC, per step, one transaction)",
    )
    p.set_defaults(handler=bench, url=None, keypair=None)


def _infer_options(p: argparse.ArgumentParser, *, large_flag: bool) -> None:
    p.add_argument("address", metavar="ADDRESS", help="model (header) address")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--features",
        help="comma-separated raw feature values (floats; sent as Q16.16)",
    )
    src.add_argument(
        "--features-account",
        metavar="PUBKEY",
        help="read the input from this features account (see `features create`)",
    )
    p.add_argument(
        "--priority-fee",
        type=int,
        default=None,
        help="priority fee in micro-lamports per compute unit",
    )
    p.add_argument(
        "--cross-check",
        action="store_true",
        help="also run the local bit-exact reference and fail on any difference",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="ask the program to log compute units around the forward pass and each op",
    )
    if large_flag:
        p.add_argument(
            "--large",
            action="store_true",
            help="run as an inference job over as many transactions as the model needs",
        )
    p.add_argument(
        "--keep-job", action="store_true", help="with --large: keep the job account (rent)"
    )
    p.add_argument(
        "--max-units",
        type=int,
        default=0,
        help="with --large: at most this many units of work per step (0: as the budget allows)",
    )
    add_common_options(p)


def _parse_features(text: str) -> list[float]:
    try:
        return [float(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise ValueError(f"--features must be comma-separated numbers, got {text!r}") from None


async def infer(args: argparse.Namespace, ctx: CliContext) -> int:
    try:
        address = Pubkey.from_string(args.address)
    except ValueError:
        return fail(f"{args.address!r} is not a base58 address", 2)
    account: Pubkey | None = None
    features: list[float] | None = None
    if args.features_account is not None:
        try:
            account = Pubkey.from_string(args.features_account)
        except ValueError:
            return fail(f"--features-account {args.features_account!r} is not a base58 address", 2)
    else:
        features = _parse_features(args.features)
    large = bool(getattr(args, "large", False))
    if not large and (args.keep_job or args.max_units):
        return fail("--keep-job and --max-units apply to --large (inference jobs)", 2)
    if large and (args.profile or args.priority_fee is not None):
        return fail("--profile and --priority-fee apply to single-transaction infer", 2)
    if args.max_units < 0:
        return fail("--max-units must be >= 0", 2)
    client = InferenceClient(await ctx.chain(), ctx.keypair)
    job: dict[str, Any] | None = None
    try:
        if large:
            r, run = await client.run_job(
                address,
                features,
                features_account=account,
                keep_job=args.keep_job,
                max_units=args.max_units,
                cross_check=args.cross_check,
            )
            job = {
                "job": str(run.job),
                "kept": args.keep_job,
                "transactions": run.transactions,
                "steps": len(run.step_cus),
                "step_cu": run.step_cus,
                "total_cu": run.total_cu,
                "wall_s": round(run.wall_s, 3),
            }
        else:
            r = await client.infer(
                address,
                features,
                priority_fee=args.priority_fee,
                cross_check=args.cross_check,
                log_cu=args.profile,
                features_account=account,
            )
    except InputRangeError as e:
        return fail(str(e))
    except InferenceError as e:
        logs = e.result.logs if e.result is not None else []
        detail = "".join(f"\n  {line}" for line in logs if "ml_agent:" in line)
        return fail(f"{e}{detail}")
    result: dict[str, Any] = {
        "model": str(r.model),
        "weights": str(r.weights),
        "version": r.version,
        "class": r.class_id,
        "label": r.label,
        "confidence": round(r.confidence, 6),
        "confidence_q16": r.confidence_q16,
        "outputs": list(r.outputs),
        "values": [round(v, 9) for v in r.values],
        "compute_units": r.compute_units,
        "signature": r.signature,
    }
    if job is not None:
        result["job"] = job
    if r.cu_profile is not None:
        result["kernel_cu"] = {
            "forward": r.cu_profile.forward,
            "inputs": r.cu_profile.inputs,
            "ops": list(r.cu_profile.ops),
        }
    if r.is_classifier:
        head = f"class {r.class_id}" + (f" ({r.label})" if r.label is not None else "")
        head += f"  confidence {r.confidence:.4f} ({r.confidence_q16}/65536)"
    else:
        head = "regression " + ", ".join(f"{v:.6g}" for v in r.values)
    human = [
        head,
        f"outputs   {list(r.outputs)}" + ("" if r.is_classifier else f"  (x 2^-{r.out_frac_bits})"),
        f"CU        {r.compute_units:,}"
        + (f"  (forward pass {r.cu_profile.forward:,})" if r.cu_profile else ""),
        f"model     {r.model} v{r.version}",
        f"signature {r.signature}",
    ]
    if job is not None:
        human.insert(
            2,
            f"job       {job['job']}{' (kept)' if job['kept'] else ' (closed)'}: "
            f"{job['steps']} steps, {job['transactions']} transactions, "
            f"{job['total_cu']:,} CU, {job['wall_s']} s",
        )
    ctx.emit(result, "\n".join(human))
    return 0


async def bench(args: argparse.Namespace, ctx: CliContext) -> int:
    from ..bench.runner import format_report, run_bench

    if args.jobs:
        from ..bench.jobs import format_job_report, run_job_bench

        jobs = await run_job_bench(surfpool=not args.no_surfpool)
        ctx.emit(jobs.to_json(), format_job_report(jobs))
        return 0
    if args.regime:
        from ..bench.regime import format_regime_report, run_regime_bench

        regime = await run_regime_bench(precisions=(8, 16), surfpool=not args.no_surfpool)
        ctx.emit(regime.to_json(), format_regime_report(regime))
        return 0
    if args.rnn:
        from dataclasses import asdict

        from ..bench.rnn import format_rnn, run_rnn_bench

        rows = await run_rnn_bench()
        ctx.emit([asdict(r) for r in rows], format_rnn(rows))
        return 0
    if args.sbpf:
        from ..bench.sbpf import format_sbpf_report, run_sbpf_comparison

        comparison = await run_sbpf_comparison(largest_search=not args.no_largest)
        ctx.emit(comparison.to_json(), format_sbpf_report(comparison))
        return 0

    tty = sys.stderr.isatty()
    started = time.monotonic()

    def progress(message: str) -> None:
        if tty:
            elapsed = time.monotonic() - started
            print(
                f"\r\x1b[2Kbench {elapsed:5.0f} s  {message}", end="", file=sys.stderr, flush=True
            )

    report = await run_bench(
        timing=not args.no_timing,
        largest_search=not args.no_largest,
        surfpool=not args.no_surfpool,
        progress=progress,
    )
    if tty:
        print("\r\x1b[2K", end="", file=sys.stderr, flush=True)
    ctx.emit(report, format_report(report))
    # A missed target is a finding to report, not a failure of the command.
    return 0
