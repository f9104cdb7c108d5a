"""The bot runtime on the in-process SVM: polling feed, ping crank, counter checks, stop."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from solders.keypair import Keypair

from client.bot import Bot, BotConfig, PingCrank, Schedule, StepMismatch
from client.bot.logs import EventLogger, JsonFormatter
from client.bot.steps import StepOutcome, StepPlan
from client.chain.base import Chain, TxResult
from client.chain.litesvm import LiteSvmChain

BACK_TO_BACK = BotConfig(schedule=Schedule(every_slots=0))


async def test_bot_lands_every_step_once(svm: LiteSvmChain, payer: Keypair) -> None:
    crank = PingCrank(payer)
    seen: list[int] = []
    bot = Bot(svm, payer, crank, config=BACK_TO_BACK, on_step=lambda r, _m: seen.append(r.step))
    report = await bot.run(steps=25)
    assert (report.start_step, report.end_step, report.steps_landed) == (0, 25, 25)
    assert seen == list(range(25))
    assert await crank.read_step(svm) == 25
    m = report.metrics
    assert m.steps == 25 and m.latency.count == 25 and m.compute_units_total > 0
    assert m.decisions == 0 and m.trades == 0  # a ping is neither
    assert all(r.events == ("Pinged",) for r in report.records)
    # Limit = simulated units + 10 %.
    assert all(r.compute_unit_limit >= r.compute_units for r in report.records)
    assert m.polls >= 1 and m.ws_connects == 0

    # A second run continues from the chain's counter, not from zero.
    again = await Bot(svm, payer, crank, config=BACK_TO_BACK).run(steps=3)
    assert (again.start_step, again.end_step) == (25, 28)


async def test_stop_ends_between_steps(svm: LiteSvmChain, payer: Keypair) -> None:
    crank = PingCrank(payer)
    bot = Bot(svm, payer, crank, config=BACK_TO_BACK)
    bot.on_step = lambda record, _m: bot.stop("test") if record.step == 4 else None
    report = await bot.run(steps=None)
    assert report.stopped_by == "test"
    assert report.steps_landed == 5 == report.end_step == await crank.read_step(svm)


class DoublingCrank(PingCrank):
    """Lands two pings per step: the counter check must catch the double."""

    async def plan(self, chain: Chain, step: int) -> StepPlan:
        return StepPlan(
            step, [self.instruction(step), self.instruction(step + 1)], [self.authority]
        )

    async def outcome(self, chain: Chain, plan: StepPlan, result: TxResult) -> StepOutcome:
        return StepOutcome(step=plan.step)


async def test_doubled_step_is_detected(svm: LiteSvmChain, payer: Keypair) -> None:
    bot = Bot(svm, payer, DoublingCrank(payer), config=BACK_TO_BACK)
    with pytest.raises(StepMismatch, match="counter is 2, not 1"):
        await bot.run(steps=1)


async def test_price_change_schedule_waits_for_a_move(svm: LiteSvmChain, payer: Keypair) -> None:
    """on_price_change only: no step while the watched account is unchanged."""

    class PricedCrank(PingCrank):
        def price_of(self, address: object, data: bytes) -> float | None:
            return float(data[40])  # low byte of PingRecord.count: changes on every ping

    config = BotConfig(schedule=Schedule(every_slots=None, on_price_change=True))
    crank = PricedCrank(payer)
    await svm.send([crank.instruction(0)], payer)  # the record must exist to show a price
    bot = Bot(svm, payer, crank, config=config)
    report = await asyncio.wait_for(bot.run(steps=3), 30)
    # Each step changes the record, which the poller reports as the next price move.
    assert report.steps_landed == 3 and report.end_step == 4


def test_json_log_records_carry_event_and_fields(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("client.bot.test")
    with caplog.at_level(logging.INFO, logger="client.bot.test"):
        EventLogger(logger, bot="b").info("step_confirmed", step=3, signature="abc")
    line = JsonFormatter().format(caplog.records[0])
    assert json.loads(line) | {"ts": 0} == {
        "ts": 0,
        "level": "info",
        "logger": "client.bot.test",
        "event": "step_confirmed",
        "bot": "b",
        "step": 3,
        "signature": "abc",
    }
