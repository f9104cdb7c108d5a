"""The bot: market data in, scheduled steps out, each landed exactly once.

    bot = Bot(chain, payer, PingCrank(payer), ws_url=sp.ws_url,
              config=BotConfig(schedule=Schedule(every_slots=2)))
    report = await bot.run(steps=100)

``run`` streams market data (``MarketFeed``), waits until the ``Schedule`` says a step is due,
asks the ``StepProgram`` for the step's instructions, lands them through ``StepSender`` (CU limit
from simulation, priority-fee policy, same-signature rebroadcast, re-sign only after provable
expiry) and then checks that the on-chain counter advanced by exactly one. ``stop()`` (or
SIGINT/SIGTERM with ``handle_signals``) ends the run between steps: a step in flight is always
driven to its outcome first (landed, or provably expired), so a stopped bot leaves no half-sent
step behind. A second signal cancels the wait for new steps but still not an in-flight send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from solders.keypair import Keypair

from ..chain.base import Chain, ChainError
from ..program import parse_events
from .feed import AccountUpdate, FeedConfig, LogsUpdate, MarketFeed, SlotUpdate
from .logs import EventLogger
from .metrics import BotMetrics, MetricsSnapshot
from .schedule import Schedule, StepClock
from .sender import CounterMoved, FeePolicy, FixedFee, SendFailed, SendReceipt, StepSender
from .steps import StepMismatch, StepPlan, StepProgram, TradeFill

_log = EventLogger(logging.getLogger("client.bot"))


@dataclass(frozen=True)
class BotConfig:
    schedule: Schedule = field(default_factory=Schedule)
    feed: FeedConfig = field(default_factory=FeedConfig)
    fee_policy: FeePolicy = field(default_factory=FixedFee)
    cu_margin: float = 0.10
    # Read the on-chain counter after every step and fail on anything but +1.
    verify_counter: bool = True
    # Landed-but-failed steps in a row before the bot gives up.
    max_consecutive_failures: int = 5
    max_resigns: int = 10
    max_retry_seconds: float = 300.0


@dataclass(frozen=True)
class StepRecord:
    step: int
    signature: str | None
    slot: int | None
    compute_units: int
    compute_unit_limit: int
    priority_fee: int
    latency: float
    resigns: int
    retries: int
    decision: str | None
    trade: TradeFill | None
    pnl: float | None
    events: tuple[str, ...]


@dataclass(frozen=True)
class BotReport:
    program: str
    start_step: int
    end_step: int
    steps_landed: int
    stopped_by: str
    seconds: float
    metrics: MetricsSnapshot
    records: list[StepRecord]


class Bot:
    def __init__(
        self,
        chain: Chain,
        payer: Keypair,
        program: StepProgram,
        *,
        ws_url: str | None = None,
        config: BotConfig | None = None,
        log: EventLogger | None = None,
        on_step: Callable[[StepRecord, MetricsSnapshot], None] | None = None,
        keep_records: bool = True,
    ) -> None:
        self.chain = chain
        self.payer = payer
        self.program = program
        self.ws_url = ws_url
        self.config = config or BotConfig()
        self.log = (log or _log).bind(bot=program.name)
        self.on_step = on_step
        self.keep_records = keep_records
        self.metrics = BotMetrics()
        self.clock = StepClock(self.config.schedule)
        self.sender = StepSender(
            chain,
            payer,
            fee_policy=self.config.fee_policy,
            cu_margin=self.config.cu_margin,
            max_resigns=self.config.max_resigns,
            max_retry_seconds=self.config.max_retry_seconds,
            metrics=self.metrics,
            log=self.log,
        )
        self.records: list[StepRecord] = []
        self._stop = asyncio.Event()
        self._stopped_by = "steps"
        self._signals = 0

    # ------------------------------------------------------------------ control

    def stop(self, reason: str = "stop") -> None:
        """End the run after the step in flight (if any) reaches its outcome."""
        if not self._stop.is_set():
            self._stopped_by = reason
            self.log.info("stop_requested", reason=reason)
            self._stop.set()

    @contextlib.contextmanager
    def signals_handled(self, task: asyncio.Task[Any] | None = None) -> Iterator[None]:
        """SIGINT/SIGTERM → ``stop()``; a second one cancels ``task`` (the run) as well."""
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []

        def handler(sig: signal.Signals) -> None:
            self._signals += 1
            self.stop(sig.name)
            if self._signals > 1 and task is not None:
                task.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, handler, sig)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):  # not the main thread / platform
                pass
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    # ------------------------------------------------------------------ run

    async def run(self, steps: int | None = None, *, handle_signals: bool = False) -> BotReport:
        """Take ``steps`` steps (None: until stopped) and report."""
        if handle_signals:
            with self.signals_handled(asyncio.current_task()):
                return await self._run(steps)
        return await self._run(steps)

    async def _run(self, steps: int | None) -> BotReport:
        started = time.perf_counter()
        feed = MarketFeed(
            self.chain,
            ws_url=self.ws_url,
            accounts=self.program.watched_accounts(),
            program_id=self.program.program_id,
            config=self.config.feed,
            metrics=self.metrics,
            log=self.log,
        )
        tasks = [
            asyncio.create_task(feed.run(), name="bot-feed"),
            asyncio.create_task(self._consume(feed), name="bot-feed-consumer"),
        ]
        start_step = await self.sender.retrying("read step counter", self._read_step)
        expected = start_step
        failures = 0
        self.log.info("bot_started", step=start_step, ws=self.ws_url or "none (polling)")
        try:
            while steps is None or self.metrics.steps < steps:
                if not await self.clock.wait_due(self._stop):
                    break
                self.clock.stepped()
                record = await self._finish(self._step(expected))
                if record is None:
                    failures += 1
                    expected = await self.sender.retrying("read step counter", self._read_step)
                    if failures >= self.config.max_consecutive_failures:
                        raise ChainError(f"{failures} steps in a row failed; see the logs")
                    continue
                failures = 0
                expected = record.step + 1
                if self.on_step is not None:
                    self.on_step(record, self.metrics.snapshot())
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        end_step = await self.sender.retrying("read step counter", self._read_step)
        report = BotReport(
            program=self.program.name,
            start_step=start_step,
            end_step=end_step,
            steps_landed=self.metrics.steps,
            stopped_by=self._stopped_by,
            seconds=time.perf_counter() - started,
            metrics=self.metrics.snapshot(),
            records=list(self.records),
        )
        self.log.info(
            "bot_stopped",
            reason=report.stopped_by,
            steps=report.steps_landed,
            start_step=start_step,
            end_step=end_step,
        )
        return report

    async def _finish(self, step: Awaitable[StepRecord | None]) -> StepRecord | None:
        """Run a step to its outcome even if the run is cancelled meanwhile."""
        task = asyncio.ensure_future(step)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                self.log.warning("finishing_inflight_step_before_exit")
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(task), None)
            raise

    async def _read_step(self) -> int:
        return await self.program.read_step(self.chain)

    async def _step(self, expected: int) -> StepRecord | None:
        plan: StepPlan = await self.program.plan(self.chain, expected)
        try:
            receipt: SendReceipt = await self.sender.send(plan, counter=self._read_step)
        except CounterMoved as exc:
            self.metrics.errors["counter_moved"] += 1
            self.log.warning("counter_moved", step=expected, detail=str(exc))
            return None
        except SendFailed as exc:
            if exc.result is None:
                raise
            # The simulation failed (a trade's min_out bound against a pool that moved, say):
            # nothing was sent. Plan the step again, bounded by max_consecutive_failures.
            self.metrics.errors["simulation_failed"] += 1
            self.log.warning("simulation_failed", step=expected, error=exc.result.error)
            return None
        result = receipt.result
        if not result.ok:
            self.metrics.errors["step_failed"] += 1
            self.log.warning(
                "step_failed", step=expected, error=result.error, signature=result.signature
            )
            return None
        outcome = await self.program.outcome(self.chain, plan, result)
        if self.config.verify_counter:
            now = await self.sender.retrying("read step counter", self._read_step)
            if now != expected + 1:
                raise StepMismatch(
                    f"after step {expected} landed ({result.signature}) the on-chain counter is "
                    f"{now}, not {expected + 1}: a step was lost or doubled"
                )
        self.metrics.record_step(compute_units=result.compute_units, latency=receipt.latency)
        if outcome.decision is not None:
            self.metrics.decisions += 1
        if outcome.trade is not None:
            self.metrics.trades += 1
        if outcome.pnl is not None:
            self.metrics.pnl = outcome.pnl
        record = StepRecord(
            step=expected,
            signature=str(result.signature) if result.signature is not None else None,
            slot=result.slot,
            compute_units=result.compute_units,
            compute_unit_limit=receipt.compute_unit_limit,
            priority_fee=receipt.priority_fee,
            latency=receipt.latency,
            resigns=receipt.resigns,
            retries=receipt.retries,
            decision=outcome.decision,
            trade=outcome.trade,
            pnl=outcome.pnl,
            events=outcome.events,
        )
        if self.keep_records:
            self.records.append(record)
        self.log.info(
            "step_confirmed",
            step=expected,
            signature=record.signature,
            slot=record.slot,
            cu=record.compute_units,
            latency_ms=round(record.latency * 1000, 1),
            resigns=record.resigns,
            retries=record.retries,
            decision=record.decision,
        )
        return record

    async def _consume(self, feed: MarketFeed) -> None:
        while True:
            update = await feed.updates.get()
            if isinstance(update, SlotUpdate):
                self.clock.observe_slot(update.slot)
            elif isinstance(update, AccountUpdate):
                price = self.program.price_of(update.address, update.data)
                if price is not None:
                    self.clock.observe_price(price)
            elif isinstance(update, LogsUpdate):
                try:
                    events = parse_events(list(update.logs), self.program.program_id)
                except Exception:  # foreign or truncated logs are not ours to fail on
                    self.metrics.errors["unparsed_logs"] += 1
                    continue
                for event in events:
                    self.metrics.events_seen[event.name] += 1
