"""The on-chain run over a price path makes the backtest's decisions, step for step.

The bot cranks ``agent_step`` on LiteSVM while the simulator walks the real pool (SPL swaps as
its own wallet) along the shipped series; ``backtest`` replays the same path offline through
the pool twin, the feature twin, the reference executor and the decision/risk twin.
"""

from __future__ import annotations

import pytest
from solders.keypair import Keypair

from client.agent import FeatureSpec
from client.bot.backtest import backtest
from client.bot.story import run_market
from client.bot.train import TrainConfig, train
from client.bot.world import WorldConfig, create_world, default_risk
from client.chain.litesvm import LiteSvmChain
from client.sim.paths import shipped_series

pytest.importorskip("sklearn")

STEPS = 70
START = 100  # a stretch of the shipped series where this model buys and sells


async def test_chain_decisions_equal_the_backtest(svm: LiteSvmChain, payer: Keypair) -> None:
    path = shipped_series().prices.tolist()
    trained = train(path, TrainConfig())
    spec = FeatureSpec.parse(trained.spec)
    risk = default_risk()
    world = await create_world(svm, payer, trained.model, spec, risk, WorldConfig())
    window = path[START : START + STEPS]
    run = await run_market(svm, payer, world, window, STEPS)

    offline = backtest(window, trained.model, spec, risk, WorldConfig())
    chain = run.program.ledger.decisions
    assert len(chain) == len(offline.records) == STEPS
    for d, b in zip(chain, offline.records, strict=True):
        got = (d.action, d.reason, d.class_id, d.confidence_q16, d.amount_in, d.amount_out)
        want = (b.action, b.reason, b.class_id, b.confidence_q16, b.amount_in, b.amount_out)
        assert got == want, (d.step, got, want)
        assert d.features == b.features or d.reason == "warmup"
        assert d.price == b.price * (1 << 32)
    # The run traded both ways, and every trade is in the vaults and the agent's counters.
    assert offline.buys > 0 and offline.sells > 0
    assert len(run.program.ledger.trades) == offline.trades
    assert run.audit.ok and run.audit.steps_counted == STEPS, run.audit
    assert run.audit.base_actual == offline.final_base
    assert run.audit.quote_actual == offline.final_quote
    assert run.simulator_swaps > 0
