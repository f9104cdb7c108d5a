"""`python -m client train|backtest`: a model from a price series, and its offline backtest.

    python -m client train --csv data/prices_regime_seed20240601.csv --out agent.mla
    python -m client backtest --model agent.mla --start 100 --steps 500 --png equity.png

``train`` writes the model file and, next to it, ``<out>.json`` with the feature spec and the
training numbers; ``backtest`` reads the spec from there unless ``--spec`` is given.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..agent import FeatureSpec
from ..bot.backtest import backtest, plot_equity
from ..bot.train import DEFAULT_SPEC, TrainConfig, train
from ..bot.world import WorldConfig, default_risk
from ..sim.paths import SHIPPED_CSV, load_csv
from .context import CliContext, fail


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train and quantize a trading model on a price series")
    t.add_argument("--csv", type=Path, default=SHIPPED_CSV, help="price series (step,price)")
    t.add_argument("--spec", default=DEFAULT_SPEC, help=f"features (default {DEFAULT_SPEC})")
    t.add_argument("--horizon", type=int, default=10, help="label: return over N steps ahead")
    t.add_argument("--tail", type=float, default=0.3, help="fraction labelled SELL and BUY each")
    t.add_argument("--precision", type=int, choices=(8, 16), default=8)
    t.add_argument("--out", type=Path, default=Path("agent.mla"), help="model file to write")
    t.add_argument("--json", action="store_true")
    t.set_defaults(handler=run_train, url="embedded", keypair=None)

    b = sub.add_parser("backtest", help="replay a price series through a model and the risk logic")
    b.add_argument("--model", type=Path, required=True, help="model file (from train)")
    b.add_argument("--spec", default=None, help="features (default: from <model>.json)")
    b.add_argument("--csv", type=Path, default=SHIPPED_CSV)
    b.add_argument(
        "--start",
        type=int,
        default=None,
        help="first tick (default: the first tick after the model's training window, so the "
        "result is out of sample; 0 when the window is unknown)",
    )
    b.add_argument("--steps", type=int, default=None, help="ticks (default: to the end)")
    b.add_argument("--horizon", type=int, default=10, help="ticks after which a trade is judged")
    b.add_argument("--threshold", type=float, default=0.0, help="minimum vote confidence 0..1")
    b.add_argument("--png", type=Path, default=None, help="write the equity curve here")
    b.add_argument("--json", action="store_true")
    b.set_defaults(handler=run_backtest, url="embedded", keypair=None)


def sidecar(model: Path) -> Path:
    return model.with_name(model.name + ".json")


async def run_train(args: argparse.Namespace, ctx: CliContext) -> int:
    prices = load_csv(args.csv).prices.tolist()
    cfg = TrainConfig(
        spec=args.spec, horizon=args.horizon, tail=args.tail, precision=args.precision
    )
    result = train(prices, cfg)
    args.out.write_bytes(result.model)
    meta = {k: v for k, v in asdict(result).items() if k != "model"}
    meta |= {"csv": str(args.csv), "horizon": args.horizon, "model_bytes": len(result.model)}
    # Ticks whose prices the fit saw: features look back from the first row's tick, labels look
    # `horizon` ahead of the last training row. A backtest inside them is in-sample.
    first_row_tick = FeatureSpec.parse(result.spec).lookback - 1
    split = int(result.rows * cfg.train_fraction)
    meta["train_ticks"] = [0, first_row_tick + split - 1 + args.horizon]
    sidecar(args.out).write_text(json.dumps(meta, indent=2) + "\n")
    lo, hi = result.thresholds
    ctx.emit(
        meta | {"out": str(args.out)},
        "\n".join(
            [
                f"series         {args.csv} ({len(prices)} prices)",
                f"features       {result.spec} ({result.rows} rows)",
                f"labels         return over {args.horizon} steps: sell < {lo:+.4f} < hold < "
                f"{hi:+.4f} < buy; counts {result.label_counts}",
                f"accuracy       float train {result.float_accuracy_train:.1%}, held-out "
                f"{result.float_accuracy_test:.1%}; quantized held-out "
                f"{result.quantized_accuracy_test:.1%} (agrees with float on "
                f"{result.quantized_agreement:.1%})",
                f"wrote          {args.out} ({len(result.model)} bytes), {sidecar(args.out)}",
            ]
        ),
    )
    return 0


async def run_backtest(args: argparse.Namespace, ctx: CliContext) -> int:
    spec_text = args.spec
    meta: dict[str, Any] = {}
    meta_path = sidecar(args.model)
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
    if spec_text is None:
        if "spec" not in meta:
            return fail(f"no --spec and no {meta_path}: pass the model's feature spec", 2)
        spec_text = meta["spec"]
    # The training window applies only to the series the model was trained on.
    train_ticks: list[int] | None = meta.get("train_ticks")
    if train_ticks is not None and Path(meta.get("csv", "")).resolve() != args.csv.resolve():
        train_ticks = None
    start = args.start
    if start is None:
        start = train_ticks[1] + 1 if train_ticks is not None else 0
    prices = load_csv(args.csv).prices.tolist()
    window = prices[start : None if args.steps is None else start + args.steps]
    if not window:
        return fail(
            f"{args.csv} has no prices from tick {start}"
            + (" (the first tick after the training window)" if args.start is None else "")
            + "; pass --start",
            2,
        )
    end = start + len(window) - 1
    if train_ticks is None:
        sample = "training window unknown (no train_ticks in the sidecar, or another series)"
        overlap = None
    else:
        overlap = max(0, min(end, train_ticks[1]) - max(start, train_ticks[0]) + 1)
        sample = (
            f"out of sample (after the training window {train_ticks[0]}..{train_ticks[1]})"
            if overlap == 0
            else f"IN SAMPLE for {overlap} of {len(window)} ticks (training saw ticks "
            f"{train_ticks[0]}..{train_ticks[1]}): results flatter the model; drop --start "
            "for an out-of-sample run"
        )
    risk = default_risk(threshold_q16=round(args.threshold * 65536))
    report = backtest(
        window,
        args.model.read_bytes(),
        FeatureSpec.parse(spec_text),
        risk,
        WorldConfig(price=window[0]),  # the pool starts where the window does
        horizon=args.horizon,
    )
    png = None
    if args.png is not None:
        try:
            png = plot_equity(report, args.png, title=args.model.name)
        except RuntimeError as e:
            return fail(str(e))
    hit = f"{report.hit_rate:.1%}" if report.hit_rate is not None else "-"
    summary = {k: v for k, v in asdict(report).items() if k != "records"}
    summary |= {"hit_rate": report.hit_rate, "png": str(png) if png else None}
    summary |= {
        "start": start,
        "train_ticks": train_ticks,
        "in_sample_ticks": overlap,
        "out_of_sample": overlap == 0 if overlap is not None else None,
    }
    ctx.emit(
        summary,
        "\n".join(
            [
                f"backtest       {args.model} over {args.csv.name} ticks {start}.."
                f"{start + report.steps - 1} ({report.steps} steps)",
                f"sample         {sample}",
                "decisions      "
                + ", ".join(f"{k} {v}" for k, v in sorted(report.decisions.items())),
                f"trades         {report.trades} ({report.buys} buys, {report.sells} sells)",
                f"hit rate       {hit} ({report.hits}/{report.judged} trades moved their way "
                f"within {args.horizon} ticks)",
                f"PnL            {report.pnl:+.4f} quote (trading PnL, marked to the pool)",
                f"balances       base {report.final_base}, quote {report.final_quote} (atoms)",
                *([f"equity curve   {png}"] if png else []),
            ]
        ),
    )
    return 0
