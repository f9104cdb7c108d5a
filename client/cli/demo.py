"""`python -m client demo`: the whole story on the embedded SVM (default) or a cluster.

1. the program: its ELF's SHA-256 and size;
2. train: the feature twin over the shipped price series, labels from future returns, a
   logistic regression quantized to INT8 (seconds);
3. deploy the model through the registry; create two SPL mints, the pool with liquidity, a
   simulator wallet, and the agent with its vaults funded;
4. run: the bot cranks ``agent_step`` for N steps while the simulator walks the pool along the
   series by swapping from its own wallet (one swap before each step: lockstep);
5. check: the offline backtest over the same prices makes the same decisions; the vaults equal
   their start plus the trades; then print decisions, trades, PnL, CU per step and timings.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

from solders.keypair import Keypair

from ..agent import FeatureSpec
from ..artifacts import sha256_hex, so_path_for
from ..bot.agent import VaultAudit
from ..bot.backtest import backtest
from ..bot.metrics import LatencySummary
from ..bot.story import run_market
from ..bot.train import TrainConfig, train
from ..bot.world import WorldConfig, create_world, default_risk
from ..chain.base import Chain
from ..program import PROGRAM_ID
from ..sim.paths import SHIPPED_CSV, load_csv
from .bot import Progress, audit_line, default_ws_url
from .context import CliContext, add_common_options

DEFAULT_STEPS = 150
DEFAULT_START = 100  # where the shipped series gets going for the default model


@dataclass(frozen=True)
class DemoStep:
    step: int
    slot: int
    price: float
    decision: str
    confidence: float
    amount_in: int
    amount_out: int
    compute_units: int
    latency_ms: float


@dataclass
class DemoReport:
    cluster: str
    program_id: str
    program_sha256: str
    program_bytes: int
    series: str
    start: int
    model: str
    model_bytes: int
    model_accuracy_test: float
    pool: str
    agent: str
    steps: int
    decisions: dict[str, int]
    trades: int
    buys: int
    sells: int
    pnl: float
    backtest_pnl: float
    backtest_matches: bool
    audit: VaultAudit
    compute_units_mean: float
    compute_units_max: int
    latency: LatencySummary
    simulator_swaps: int
    timings: dict[str, float]
    records: list[DemoStep] = field(default_factory=list)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="train, deploy, trade on a simulated market (default: embedded)"
    )
    add_common_options(p)
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="agent steps to crank")
    p.add_argument("--start", type=int, default=DEFAULT_START, help="first tick of the series")
    p.add_argument("--csv", type=Path, default=SHIPPED_CSV, help="price series (step,price)")
    p.add_argument("--all", action="store_true", help="print every step, not only the trades")
    p.set_defaults(handler=run, url="embedded")


async def demo(
    chain: Chain,
    payer: Keypair,
    *,
    cluster: str = "embedded",
    steps: int = DEFAULT_STEPS,
    start: int = DEFAULT_START,
    csv: Path = SHIPPED_CSV,
    ws_url: str | None = None,
    progress: Progress | None = None,
) -> DemoReport:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    elf = so_path_for(embedded=chain.name == "embedded").read_bytes()
    prices = load_csv(csv).prices.tolist()
    window = prices[start : start + steps]
    if len(window) < steps:
        raise ValueError(f"{csv} has {len(prices)} prices; --start {start} --steps {steps}")

    t = time.perf_counter()
    trained = train(prices, TrainConfig())
    timings["train"] = time.perf_counter() - t
    spec, risk, cfg = FeatureSpec.parse(trained.spec), default_risk(), WorldConfig()

    world = await create_world(chain, payer, trained.model, spec, risk, cfg)
    timings.update(world.timings)

    t = time.perf_counter()
    run = await run_market(chain, payer, world, window, steps, ws_url=ws_url, on_step=progress)
    timings["bot"] = time.perf_counter() - t
    if progress is not None:
        progress.done()

    t = time.perf_counter()
    offline = backtest(window, trained.model, spec, risk, cfg)
    timings["backtest"] = time.perf_counter() - t
    decisions = run.program.ledger.decisions
    matches = len(decisions) == len(offline.records) and all(
        (d.action, d.reason, d.confidence_q16, d.amount_in, d.amount_out)
        == (b.action, b.reason, b.confidence_q16, b.amount_in, b.amount_out)
        for d, b in zip(decisions, offline.records, strict=False)
    )
    counts: dict[str, int] = {}
    for d in decisions:
        key = f"{d.action}/{d.reason}"
        counts[key] = counts.get(key, 0) + 1
    records = [
        DemoStep(
            d.step,
            d.slot,
            d.price / (1 << 32),
            f"{d.action}/{d.reason}",
            d.confidence_q16 / 65536,
            d.amount_in,
            d.amount_out,
            r.compute_units,
            round(r.latency * 1000, 1),
        )
        for d, r in zip(decisions, run.bot.records, strict=False)
    ]
    trades = run.program.ledger.trades
    cus = [r.compute_units for r in run.bot.records]
    timings["total"] = time.perf_counter() - t0
    return DemoReport(
        cluster=cluster,
        program_id=str(PROGRAM_ID),
        program_sha256=sha256_hex(elf),
        program_bytes=len(elf),
        series=str(csv),
        start=start,
        model=str(world.model),
        model_bytes=len(trained.model),
        model_accuracy_test=trained.quantized_accuracy_test,
        pool=str(world.pool),
        agent=str(world.agent),
        steps=run.bot.steps_landed,
        decisions=counts,
        trades=len(trades),
        buys=sum(t.side == "buy" for t in trades),
        sells=sum(t.side == "sell" for t in trades),
        pnl=run.bot.metrics.pnl,
        backtest_pnl=offline.pnl,
        backtest_matches=matches,
        audit=run.audit,
        compute_units_mean=sum(cus) / len(cus) if cus else 0.0,
        compute_units_max=max(cus, default=0),
        latency=run.bot.metrics.latency,
        simulator_swaps=run.simulator_swaps,
        timings={k: round(v, 3) for k, v in timings.items()},
        records=records,
    )


def render(r: DemoReport, every_step: bool = False) -> str:
    lines = [
        f"cluster        {r.cluster}",
        f"program        {r.program_id}",
        f"program ELF    {so_path_for(embedded=r.cluster == 'embedded')} ({r.program_bytes} bytes)",
        f"program sha256 {r.program_sha256}",
        f"model          {r.model} ({r.model_bytes} bytes, held-out accuracy "
        f"{r.model_accuracy_test:.1%}, 3 classes)",
        f"market         pool {r.pool}, agent {r.agent}; series {Path(r.series).name} from "
        f"tick {r.start}",
        "",
        f"{'step':>5} {'slot':>6} {'price':>9}  {'decision':<18} {'conf':>5} "
        f"{'in':>12} {'out':>12} {'CU':>6} {'ms':>6}",
    ]
    for s in r.records:
        if every_step or s.decision.endswith("/traded"):
            lines.append(
                f"{s.step:>5} {s.slot:>6} {s.price:>9.4f}  {s.decision:<18} {s.confidence:>5.2f} "
                f"{s.amount_in:>12} {s.amount_out:>12} {s.compute_units:>6} {s.latency_ms:>6.1f}"
            )
    lat = r.latency
    ms = lambda v: f"{v * 1000:.0f} ms" if v is not None else "-"  # noqa: E731
    timing = ", ".join(f"{k} {v:.2f}s" for k, v in r.timings.items())
    lines += [
        "",
        f"decisions      {r.steps} steps: "
        + ", ".join(f"{k} {v}" for k, v in sorted(r.decisions.items())),
        f"trades         {r.trades} ({r.buys} buys, {r.sells} sells), simulator swaps "
        f"{r.simulator_swaps}",
        f"PnL            {r.pnl:+.4f} quote (trading PnL, marked to the pool); backtest "
        f"{r.backtest_pnl:+.4f}",
        f"backtest       {'same decisions as the chain' if r.backtest_matches else 'DIFFERS'}",
        audit_line(r.audit),
        f"compute units  per agent_step mean {r.compute_units_mean:.0f}, max {r.compute_units_max}",
        f"send→confirmed p50 {ms(lat.p50)}, p95 {ms(lat.p95)}, max {ms(lat.max)}",
        f"timings        {timing}",
    ]
    return "\n".join(lines)


async def run(args: argparse.Namespace, ctx: CliContext) -> int:
    chain = await ctx.chain()
    ws_url = None
    if not ctx.cluster.embedded and ctx.cluster.url is not None:
        ws_url = default_ws_url(ctx.cluster.url)
    report = await demo(
        chain,
        ctx.keypair,
        cluster=ctx.cluster.name,
        steps=args.steps,
        start=args.start,
        csv=args.csv,
        ws_url=ws_url,
        progress=None if ctx.json else Progress(args.steps),
    )
    ctx.emit(report, render(report, args.all))
    return 0 if report.backtest_matches and report.audit.ok else 1
