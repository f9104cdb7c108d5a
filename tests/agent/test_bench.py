"""The agent_step bench: every case trades (so both swap transfers are paid) within target,
the window case (a 600-16-3 MLP over a 120 x 5 history) included."""

from __future__ import annotations

from solders.keypair import Keypair

from client.bench.agent import format_agent_report, run_agent_bench
from client.bench.runner import fast_chain


async def test_agent_bench_measures_trading_steps_within_targets() -> None:
    chain = fast_chain()
    payer = Keypair()
    await chain.airdrop(payer.pubkey(), 10**12)
    report = await run_agent_bench(chain, payer)
    assert [c.name for c in report.cases] == ["single", "ensemble4", "window120x5"]
    single, ens, window = report.cases
    assert single.trades > 0 and ens.trades > 0 and window.trades > 0
    assert 0 < single.warmup_cu < single.step_cu < ens.step_cu < window.step_cu
    # The window case's warm-up column: steps that push a vector while the window fills.
    assert single.warmup_cu < window.warmup_cu < single.step_cu
    assert single.target_met and ens.target_met and window.target_met, report
    assert "window120x5" in format_agent_report(report)
