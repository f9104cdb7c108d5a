"""`python -m client train-regime|regime-accuracy`: the regime sequence models of issue 15.

    python -m client train-regime                     # regenerate tests/fixtures/regime/*
    python -m client train-regime --only gru --out /tmp/regime
    python -m client regime-accuracy --windows 10000  # float vs quantized on held-out windows
    python -m client regime-windows --out calib.npy   # 2,048 training windows for compile
    python -m client compile tests/fixtures/regime/gru32.onnx --calibration calib.npy

``train-regime`` trains the GRU-32, LSTM-64 and Conv1D regime classifiers in numpy (deterministic,
one BLAS thread) and writes them as ONNX in ``torch.onnx.export``'s shape, plus the held-out rows
and a summary (``client.model.sequence_train``). ``regime-accuracy`` runs the accuracy harness
(``client.model.sequence_accuracy``) on those files.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..model.sequence_accuracy import (
    CALIBRATION_WINDOWS,
    DEFAULT_WINDOWS,
    REGIME_FILES,
    calibration_windows,
    heldout_windows,
    regime_accuracy_report,
)
from ..model.sequence_data import class_counts
from ..model.sequence_train import FIXTURE_DIR, MODEL_FILES, RegimeTrainConfig, train_regime_models
from .context import CliContext, fail


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser(
        "train-regime",
        help="train the GRU/LSTM/Conv1D regime models in numpy and write their ONNX files",
    )
    t.add_argument(
        "--out", type=Path, default=FIXTURE_DIR, help=f"directory (default {FIXTURE_DIR})"
    )
    t.add_argument(
        "--only", action="append", choices=sorted(MODEL_FILES), help="train only this model"
    )
    t.add_argument("--json", action="store_true")
    t.set_defaults(handler=run_train_regime, url="embedded", keypair=None)

    w = sub.add_parser(
        "regime-windows",
        help="write regime windows (n x 600 floats, time-major) as .npy, e.g. for compile "
        "--calibration",
    )
    w.add_argument("--out", type=Path, required=True, help=".npy file for the windows")
    w.add_argument("--n", type=int, default=CALIBRATION_WINDOWS, help="number of windows")
    w.add_argument(
        "--split",
        choices=("train", "heldout"),
        default="train",
        help="training paths (calibration) or held-out paths (evaluation)",
    )
    w.add_argument("--labels", type=Path, default=None, help="also write the labels (.npy)")
    w.add_argument("--json", action="store_true")
    w.set_defaults(handler=run_regime_windows, url="embedded", keypair=None)

    a = sub.add_parser(
        "regime-accuracy",
        help="float vs quantized accuracy of the regime models on held-out windows",
    )
    a.add_argument("--dir", type=Path, default=FIXTURE_DIR, help="where the ONNX files are")
    a.add_argument("--windows", type=int, default=DEFAULT_WINDOWS, help="held-out windows")
    a.add_argument(
        "--precision",
        choices=("8", "16", "auto", "speed", "all"),
        default="8",
        help="INT8, INT16, auto (per-layer, compile --precision auto) or all three",
    )
    a.add_argument(
        "--only",
        action="append",
        choices=sorted(REGIME_FILES),
        help="evaluate only this model (default: gru, lstm, conv)",
    )
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=run_regime_accuracy, url="embedded", keypair=None)

    q = sub.add_parser(
        "regime-parity",
        help="run the quantized regime models on LiteSVM (features account; a job when over "
        "one transaction) on held-out windows and compare with the numpy reference bit for bit",
    )
    q.add_argument("--windows", type=int, default=100, help="held-out windows per model")
    q.add_argument("--start", type=int, default=0, help="first held-out window")
    q.add_argument("--precision", choices=("8", "16", "auto", "speed"), default="8")
    q.add_argument(
        "--only",
        action="append",
        choices=sorted(REGIME_FILES),
        help="run only this model (default: gru, lstm, conv11)",
    )
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=run_regime_parity, url="embedded", keypair=None)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def run_train_regime(args: argparse.Namespace, ctx: CliContext) -> int:
    trained = train_regime_models(
        RegimeTrainConfig(), args.out, only=tuple(args.only or ()), log=_progress
    )
    rows = [asdict(t.result) for t in trained]
    lines = [
        f"{r['file']:<12} held-out accuracy {r['heldout_accuracy']:.4f} on "
        f"{r['heldout_windows']} windows, {r['n_params']} params, {r['onnx_bytes']} bytes, "
        f"onnxruntime vs numpy {r['onnx_max_abs_diff']:.1e}"
        for r in rows
    ]
    ctx.emit({"out": str(args.out), "models": rows}, "\n".join(lines))
    return 0


async def run_regime_windows(args: argparse.Namespace, ctx: CliContext) -> int:
    if args.n < 1:
        return fail("--n must be >= 1", 2)
    if args.out.suffix != ".npy":
        return fail("--out must name a .npy file", 2)
    w = calibration_windows(args.n) if args.split == "train" else heldout_windows(args.n)
    np.save(args.out, w.x)
    if args.labels is not None:
        np.save(args.labels, w.y)
    counts = class_counts(w.y)
    ctx.emit(
        {"out": str(args.out), "shape": list(w.x.shape), "split": args.split, "labels": counts},
        f"{args.out}: {len(w)} {args.split} windows x {w.x.shape[1]} features "
        f"(time-major, Q16.16 / 65536), labels {counts}",
    )
    return 0


async def run_regime_accuracy(args: argparse.Namespace, ctx: CliContext) -> int:
    if args.windows < 1:
        return fail("--windows must be >= 1", 2)
    precisions: list[int | str] = (
        [8, 16, "auto", "speed"]
        if args.precision == "all"
        else [args.precision if args.precision in ("auto", "speed") else int(args.precision)]
    )
    rows = []
    for p in precisions:
        rows += regime_accuracy_report(
            args.dir,
            n_windows=args.windows,
            precision=p,
            only=tuple(args.only or ()),
            log=_progress,
        )
    lines = [
        f"{r.model:<12} {r.precision!s:<5} float {r.float_accuracy:.4f}  quantized "
        f"{r.quant_accuracy:.4f}  agreement {r.agreement:.4f}  ({r.n_windows} windows, "
        f"{r.model_bytes} bytes)"
        for r in rows
    ]
    ctx.emit({"rows": [asdict(r) for r in rows]}, "\n".join(lines))
    return 0


async def run_regime_parity(args: argparse.Namespace, ctx: CliContext) -> int:
    from solders.keypair import Keypair

    from ..bench.regime import REGIME_KINDS, run_parity
    from ..bench.runner import fast_chain

    if args.windows < 1 or args.start < 0:
        return fail("--windows must be >= 1 and --start >= 0", 2)
    precision: int | str = (
        args.precision if args.precision in ("auto", "speed") else int(args.precision)
    )
    chain = fast_chain()
    payer = Keypair()
    await chain.airdrop(payer.pubkey(), 10**13)
    rows = []
    for kind in args.only or list(REGIME_KINDS):
        run = await run_parity(
            chain, payer, kind, precision, args.windows, start=args.start, log=_progress
        )
        rows.append(run.summary())
    lines = [
        f"{r['model']:<10} {r['precision']:<5} {r['route']:<6} {r['windows']} windows: "
        f"{'bit-exact' if r['bit_exact'] else str(r['mismatches']) + ' MISMATCHES'}; "
        f"CU per inference {r['cu_mean']:,} (max {r['cu_max']:,}), infer_step "
        f"{r['steps_min']}-{r['steps_max']}, {r['transactions']:,} transactions, "
        f"{r['wall_s']:.1f} s on LiteSVM ({r['wall_per_window_s']:.3f} s per window)"
        for r in rows
    ]
    ctx.emit({"rows": rows}, "\n".join(lines))
    return 0 if all(r["bit_exact"] for r in rows) else 1
