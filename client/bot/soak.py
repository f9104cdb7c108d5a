"""Crank soak under injected faults: N ping steps through a ``FaultProxy``, then an audit.

The audit compares three independent records: the steps the bot confirmed, the on-chain step
counter, and the payer's lamports (each landed transaction costs exactly one signature fee, so
an extra landed transaction, even a failed one, shows up as a fee the bot cannot account for).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from solders.keypair import Keypair

from ..artifacts import program_keypair, read_program_so
from ..chain.rpc import RpcChain
from ..faults import FaultPlan, FaultProxy, FaultStats
from ..program import PROGRAM_ID
from .feed import FeedConfig
from .metrics import MetricsSnapshot
from .runtime import Bot, BotConfig, StepRecord
from .schedule import Schedule
from .steps import PingCrank

LAMPORTS_PER_SIGNATURE = 5000
PING_RECORD_SIZE = 64


@dataclass(frozen=True)
class SoakConfig:
    steps: int = 1000
    faults: FaultPlan = field(
        default_factory=lambda: FaultPlan(
            error_rate=0.04,
            rate_limit_rate=0.02,
            timeout_rate=0.02,
            drop_rate=0.02,
            lost_response_rate=0.04,
            hold_seconds=1.0,
            ws_drop_after=5.0,
            seed=7,
        )
    )
    # Every this many steps: take the endpoints down (a node restart as clients see it).
    outage_every: int | None = 250
    outage_seconds: float = 2.0
    # Every this many steps: swallow sends until the blockhash expires and the bot re-signs.
    expiry_every: int | None = 400
    every_slots: int = 1
    client_timeout: float = 0.5


@dataclass(frozen=True)
class SoakReport:
    steps: int
    start_step: int
    end_step: int
    lost: int
    duplicated: int
    fees_expected: int
    fees_paid: int
    forced_expiries: int
    outages: int
    seconds: float
    metrics: MetricsSnapshot
    faults: FaultStats

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.fees_paid == self.fees_expected


async def ensure_program(chain: RpcChain, payer: Keypair) -> None:
    account = await chain.get_account(PROGRAM_ID)
    if account is None or not account.executable:
        await chain.deploy_program(program_keypair(), read_program_so(), payer)


async def run_soak(
    rpc_url: str,
    ws_url: str,
    config: SoakConfig,
    *,
    on_step: Callable[[StepRecord, MetricsSnapshot], None] | None = None,
) -> SoakReport:
    """Run ``config.steps`` ping steps through a fault proxy in front of ``rpc_url``/``ws_url``."""
    direct = RpcChain(rpc_url)
    payer = Keypair()
    try:
        await direct.airdrop(payer.pubkey(), 100 * 10**9)
        await ensure_program(direct, payer)
        before = await direct.get_balance(payer.pubkey())
        rent = await direct.minimum_balance_for_rent_exemption(PING_RECORD_SIZE)
        async with FaultProxy(rpc_url, ws_url, config.faults) as proxy:
            chain = RpcChain(proxy.rpc_url, timeout=config.client_timeout, max_retries=3)
            crank = PingCrank(payer)
            bot_config = BotConfig(
                schedule=Schedule(every_slots=config.every_slots),
                feed=FeedConfig(idle_timeout=2.0, poll_interval=0.2),
                max_retry_seconds=120.0,
            )
            forced = 0
            chaos: set[asyncio.Task[None]] = set()

            async def force_expiry(bot: Bot) -> None:
                nonlocal forced
                resigns = bot.metrics.resigns
                proxy.plan.blackhole_sends = True
                try:
                    while bot.metrics.resigns == resigns:
                        await asyncio.sleep(0.1)
                finally:
                    proxy.plan.blackhole_sends = False
                forced += 1

            def step_done(record: StepRecord, snapshot: MetricsSnapshot) -> None:
                n = snapshot.steps
                if config.outage_every and n % config.outage_every == 0 and n < config.steps:
                    task = asyncio.create_task(proxy.outage(config.outage_seconds))
                    chaos.add(task)
                    task.add_done_callback(chaos.discard)
                if config.expiry_every and n % config.expiry_every == 0 and n < config.steps:
                    task = asyncio.create_task(force_expiry(bot))
                    chaos.add(task)
                    task.add_done_callback(chaos.discard)
                if on_step is not None:
                    on_step(record, snapshot)

            bot = Bot(
                chain,
                payer,
                crank,
                ws_url=proxy.ws_url,
                config=bot_config,
                on_step=step_done,
                keep_records=False,
            )
            try:
                report = await bot.run(steps=config.steps)
            finally:
                for task in list(chaos):
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(*chaos, return_exceptions=True)
                proxy.plan.blackhole_sends = False
                await chain.close()
            stats = proxy.stats
        end_step = await crank.read_step(direct)
        after = await direct.get_balance(payer.pubkey())
    finally:
        await direct.close()
    counted = report.end_step - report.start_step
    fees_paid = before - after - (rent if report.start_step == 0 and counted else 0)
    return SoakReport(
        steps=report.steps_landed,
        start_step=report.start_step,
        end_step=end_step,
        lost=max(0, report.steps_landed - counted),
        duplicated=max(0, counted - report.steps_landed),
        fees_expected=report.steps_landed * LAMPORTS_PER_SIGNATURE,
        fees_paid=fees_paid,
        forced_expiries=forced,
        outages=stats.outages,
        seconds=report.seconds,
        metrics=report.metrics,
        faults=stats,
    )
