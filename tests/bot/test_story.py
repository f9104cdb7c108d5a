"""run_story on the embedded SVM: train, deploy, simulate the on-chain market, crank
``ping`` + ``infer`` + ``swap`` from the bot's wallet."""

from __future__ import annotations

import pytest
from solders.keypair import Keypair

from client.bot.story import run_story
from client.chain.litesvm import LiteSvmChain

pytest.importorskip("sklearn")


async def test_story_on_litesvm(svm: LiteSvmChain, payer: Keypair) -> None:
    report = await run_story(svm, payer, steps=20)
    bot = report.bot
    assert bot.steps_landed == 20 and (bot.start_step, bot.end_step) == (0, 20)
    # Every step decided (and the chain agreed with the reference, else StepMismatch).
    assert bot.metrics.decisions == 20
    assert [r.decision for r in bot.records].count("buy") + [r.decision for r in bot.records].count(
        "sell"
    ) == 20
    trades = [r.trade for r in bot.records if r.trade is not None]
    assert bot.metrics.trades == len(trades)
    # Trades alternate: a buy opens a position, a sell closes it.
    assert all(t.side == ("buy" if i % 2 == 0 else "sell") for i, t in enumerate(trades))
    assert 0.4 < report.train_accuracy < 0.7 and report.model_bytes > 0
    assert set(report.timings) == {"train", "deploy", "market", "bot"}
    # The trades were real swaps on the pool: the wallet moved by exactly their sum.
    assert report.audit.ok and report.audit.steps_counted == 20, report.audit
    assert report.audit.swaps == len(trades) > 0
    assert report.simulator_swaps > 0
