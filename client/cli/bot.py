"""`python -m client bot run|soak`: run a crank bot, or soak it under injected faults."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from solders.pubkey import Pubkey

from ..bot import (
    Bot,
    BotConfig,
    BotReport,
    FixedFee,
    MetricsSnapshot,
    PingCrank,
    RecentFeePercentile,
    Schedule,
    StepRecord,
    configure_logging,
)
from ..bot.agent import AgentStepProgram, VaultAudit
from ..bot.sender import FeePolicy
from ..bot.steps import StepProgram
from ..chain.base import next_slot
from .context import CliContext, add_common_options, fail


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bot", help="run trading/crank bots (bot run, bot soak)")
    bot_sub = p.add_subparsers(dest="bot_command", metavar="SUBCOMMAND")

    run = bot_sub.add_parser("run", help="crank an agent (or the ping stand-in) for N steps")
    add_common_options(run)
    run.add_argument(
        "--agent", default=None, help="crank this agent (agent_step); default: the ping stand-in"
    )
    run.add_argument(
        "--price-account", default=None, help="the Pyth price update account (Pyth agents)"
    )
    run.add_argument("--steps", type=int, default=None, help="stop after N steps (default: ∞)")
    run.add_argument("--every-slots", type=int, default=None, help="step every N slots")
    run.add_argument("--on-price-change", action="store_true", help="step on a price change")
    run.add_argument("--ws-url", default=None, help="websocket URL (default: RPC port + 1)")
    run.add_argument("--priority-fee", type=int, default=0, help="micro-lamports per CU")
    run.add_argument(
        "--fee-percentile",
        type=float,
        default=None,
        help="use this percentile of getRecentPrioritizationFees instead of a fixed fee",
    )
    run.add_argument("--log-json", action="store_true", help="structured JSON logs on stderr")
    run.set_defaults(handler=run_bot)

    soak = bot_sub.add_parser(
        "soak", help="N crank steps on a fresh Surfpool through a fault-injecting proxy"
    )
    soak.add_argument("--steps", type=int, default=1000)
    soak.add_argument("--seed", type=int, default=7)
    soak.add_argument("--outage-every", type=int, default=250)
    soak.add_argument("--expiry-every", type=int, default=400)
    soak.add_argument(
        "--agent",
        action="store_true",
        help="crank an on-chain agent (agent_step) on a simulated market, not the ping stand-in",
    )
    soak.add_argument("--json", action="store_true")
    soak.add_argument("--log-json", action="store_true")
    soak.set_defaults(handler=run_soak_cmd, url="embedded", keypair=None)


def default_ws_url(rpc_url: str) -> str:
    """Solana's convention: the websocket listens on the RPC port + 1."""
    parts = urlsplit(rpc_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    netloc = parts.netloc
    if parts.port is not None:
        netloc = f"{parts.hostname}:{parts.port + 1}"
    return urlunsplit((scheme, netloc, parts.path, "", ""))


class Progress:
    """One self-rewriting status line on a terminal; nothing when not a TTY."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self.enabled = sys.stderr.isatty()

    def __call__(self, record: StepRecord, m: MetricsSnapshot) -> None:
        if not self.enabled:
            return
        of = f"/{self.total}" if self.total else ""
        p50 = f"{m.latency.p50 * 1000:.0f}" if m.latency.p50 is not None else "-"
        p95 = f"{m.latency.p95 * 1000:.0f}" if m.latency.p95 is not None else "-"
        sys.stderr.write(
            f"\rstep {m.steps}{of}  decisions {m.decisions}  trades {m.trades}  "
            f"pnl {m.pnl:+.4f}  cu {record.compute_units}  p50 {p50}ms p95 {p95}ms  "
            f"resigns {m.resigns} retries {m.send_retries} ws {m.ws_connects}/{m.ws_drops}   "
        )
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def summary(report: BotReport) -> str:
    m = report.metrics
    lat = m.latency

    def ms(v: float | None) -> str:
        return f"{v * 1000:.0f} ms" if v is not None else "-"

    return "\n".join(
        [
            f"bot            {report.program} (stopped by {report.stopped_by})",
            f"steps          {report.steps_landed} landed, counter {report.start_step} → "
            f"{report.end_step}",
            f"decisions      {m.decisions}   trades {m.trades}   pnl {m.pnl:+.6f}",
            f"compute units  total {m.compute_units_total}, mean {m.compute_units_mean or 0:.0f}",
            f"send→confirmed p50 {ms(lat.p50)}, p95 {ms(lat.p95)}, max {ms(lat.max)}",
            f"faults handled resigns {m.resigns}, resends {m.send_retries}, "
            f"ws connects {m.ws_connects} / drops {m.ws_drops}, polls {m.polls}",
            f"took           {report.seconds:.1f} s",
        ]
    )


async def run_bot(args: argparse.Namespace, ctx: CliContext) -> int:
    if args.log_json:
        configure_logging(json_lines=True)
    chain = await ctx.chain()
    program: StepProgram = PingCrank(ctx.keypair)
    agent: AgentStepProgram | None = None
    if args.agent is not None:
        try:
            address = Pubkey.from_string(args.agent)
        except ValueError:
            return fail(f"--agent {args.agent!r} is not a base58 account address", 2)
        price = Pubkey.from_string(args.price_account) if args.price_account else None
        agent = await AgentStepProgram.load(chain, ctx.keypair, address, price_account=price)
        program = agent
    embedded = ctx.cluster.embedded
    every = args.every_slots
    if every is None and not args.on_price_change:
        # The embedded SVM's clock only moves when told to, so step back to back there.
        every = 0 if embedded else 1
    if embedded and agent is not None:
        # ...one slot apart: an agent takes at most one price sample per slot.
        agent.before_plan = lambda: next_slot(chain)
    schedule = Schedule(every_slots=every, on_price_change=args.on_price_change)
    fee: FeePolicy = (
        RecentFeePercentile(args.fee_percentile)
        if args.fee_percentile is not None
        else FixedFee(args.priority_fee)
    )
    ws_url = None
    if not embedded:
        assert ctx.cluster.url is not None
        ws_url = args.ws_url or default_ws_url(ctx.cluster.url)
    progress = Progress(args.steps) if not ctx.json else None
    bot = Bot(
        chain,
        ctx.keypair,
        program,
        ws_url=ws_url,
        config=BotConfig(schedule=schedule, fee_policy=fee),
        on_step=progress,
    )
    report = await bot.run(steps=args.steps, handle_signals=True)
    if progress is not None:
        progress.done()
    if agent is None:
        ctx.emit(report, summary(report))
        return 0
    audit = await agent.audit(chain)
    result = AgentRunReport(str(agent.agent), report, audit)
    ctx.emit(result, summary(report) + "\n" + audit_line(audit))
    return 0 if audit.ok and audit.steps_counted == report.steps_landed else 1


@dataclass(frozen=True)
class AgentRunReport:
    agent: str
    bot: BotReport
    audit: VaultAudit


def audit_line(a: VaultAudit) -> str:
    verdict = "OK" if a.ok else "MISMATCH"
    return (
        f"audit          {verdict}: counter +{a.steps_counted}, trades seen {a.trades_seen} / "
        f"counted {a.trades_counted}, vault A {a.base_actual} (expected {a.base_expected}), "
        f"vault B {a.quote_actual} (expected {a.quote_expected})"
    )


async def run_soak_cmd(args: argparse.Namespace, ctx: CliContext) -> int:
    from ..bot.soak import SoakConfig, run_soak
    from ..chain.surfpool import Surfpool
    from ..faults import FaultPlan

    configure_logging(json_lines=args.log_json, level=logging.WARNING)
    defaults = SoakConfig()
    plan = FaultPlan(**{**vars(defaults.faults), "seed": args.seed})
    config = SoakConfig(
        steps=args.steps,
        faults=plan,
        outage_every=args.outage_every or None,
        expiry_every=args.expiry_every or None,
        target="agent" if args.agent else "ping",
    )
    progress = Progress(args.steps) if not args.json else None
    async with Surfpool.start() as sp:
        report = await run_soak(sp.rpc_url, sp.ws_url, config, on_step=progress)
    if progress is not None:
        progress.done()
    m, f = report.metrics, report.faults
    lat = m.latency
    human = "\n".join(
        [
            f"soak           {report.steps} steps in {report.seconds:.1f} s "
            f"({'OK' if report.ok else 'FAILED'})",
            f"counter        {report.start_step} → {report.end_step}: lost {report.lost}, "
            f"duplicated {report.duplicated}",
            f"fees           paid {report.fees_paid} lamports, expected {report.fees_expected}",
            f"send→confirmed p50 {(lat.p50 or 0) * 1000:.0f} ms, p95 {(lat.p95 or 0) * 1000:.0f} "
            f"ms, max {(lat.max or 0) * 1000:.0f} ms",
            f"injected       {f.errors} 5xx, {f.rate_limited} 429, {f.timeouts} held, "
            f"{f.drops} dropped, {f.lost_responses} lost responses, {f.blackholed} swallowed "
            f"sends, {f.ws_drops} ws drops, {report.outages} outages",
            f"recovered by   {m.send_retries} same-signature resends/retries, {m.resigns} "
            f"re-signs after expiry ({report.forced_expiries} forced), {m.ws_connects} ws "
            f"connects, {m.polls} polls",
        ]
        + (
            [
                f"agent          {m.decisions} decisions, {m.trades} trades, pnl {m.pnl:+.4f}; "
                f"simulator swaps {report.simulator_swaps}",
                audit_line(report.vaults),
            ]
            if report.vaults is not None
            else []
        )
    )
    ctx.json = bool(args.json)
    ctx.emit(report, human)
    return 0 if report.ok else 1
