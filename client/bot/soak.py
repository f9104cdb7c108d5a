"""Crank soak under injected faults: N steps through a ``FaultProxy``, then an audit.

``target="agent"`` cranks the on-chain agent (``agent_step``) while the simulator trades its
pool from another wallet (directly, not through the proxy); ``"ping"`` the stand-in crank.

The audit compares independent records: the steps the bot confirmed, the on-chain step
counter, and the payer's lamports (each landed transaction costs exactly one signature fee, so
an extra landed transaction, even a failed one, shows up as a fee the bot cannot account for);
for the agent also the Trade events the bot saw against the agent's trade counter, and the
vault balances against their start plus the sum of those trades (``VaultAudit``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from solders.keypair import Keypair

from ..agent import FeatureSpec
from ..chain.connect import ensure_program
from ..chain.rpc import RpcChain
from ..faults import FaultPlan, FaultProxy, FaultStats
from ..sim.market import MarketSimulator
from ..sim.onchain import OnChainPool
from ..sim.paths import shipped_series
from .agent import AgentStepProgram, VaultAudit
from .feed import FeedConfig
from .metrics import MetricsSnapshot
from .runtime import Bot, BotConfig, StepRecord
from .schedule import Schedule
from .steps import PingCrank, StepProgram
from .world import World, create_world, default_risk

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
    target: str = "ping"  # or "agent"
    # Agent target: seconds between simulator swaps.
    sim_interval: float = 0.25


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
    target: str = "ping"
    vaults: VaultAudit | None = None
    simulator_swaps: int = 0

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.duplicated == 0
            and self.fees_paid == self.fees_expected
            and (self.vaults is None or self.vaults.ok)
        )


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
        world: World | None = None
        sim: MarketSimulator | None = None
        pool: OnChainPool | None = None
        if config.target == "agent":
            world = await agent_world(direct, payer)
            pool = OnChainPool(direct, world.pool, world.sim)
            path = shipped_series().prices.tolist()
            # From tick 100: a stretch where the trained model buys and sells early on.
            sim = MarketSimulator(pool, path[100:] * 10, interval=config.sim_interval)
        elif config.target != "ping":
            raise ValueError(f"soak target must be 'ping' or 'agent', not {config.target!r}")
        before = await direct.get_balance(payer.pubkey())
        rent = await direct.minimum_balance_for_rent_exemption(PING_RECORD_SIZE)
        async with FaultProxy(rpc_url, ws_url, config.faults) as proxy:
            chain = RpcChain(proxy.rpc_url, timeout=config.client_timeout, max_retries=3)
            crank: StepProgram
            if world is not None:
                # Set up directly; then crank (reads, plans, sends) through the proxy.
                agent_program = await AgentStepProgram.load(direct, payer, world.agent)
                agent_program.client.chain = chain
                crank = agent_program
                rent = 0
            else:
                crank = PingCrank(payer)
            if sim is not None:
                sim_task = asyncio.create_task(sim.run(), name="simulator")
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
                if sim is not None:
                    sim.stop()
                    await asyncio.gather(sim_task, return_exceptions=True)
                await chain.close()
            stats = proxy.stats
        if world is not None:
            agent_program.client.chain = direct  # the proxy's chain is closed
        end_step = await crank.read_step(direct)
        after = await direct.get_balance(payer.pubkey())
        vaults = await agent_program.audit(direct) if world is not None else None
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
        target=config.target,
        vaults=vaults,
        simulator_swaps=pool.swaps if pool is not None else 0,
    )


async def agent_world(chain: RpcChain, payer: Keypair) -> World:
    """A market and an agent whose model trades both ways on the shipped series."""
    from .train import train

    path = shipped_series().prices.tolist()
    trained = train(path)
    return await create_world(
        chain, payer, trained.model, FeatureSpec.parse(trained.spec), default_risk()
    )
