"""The agent_step bench: both cases trade (so both swap transfers are paid) within target."""

from __future__ import annotations

from solders.keypair import Keypair

from client.bench.agent import format_agent_report, run_agent_bench
from client.bench.runner import fast_chain


async def test_agent_bench_measures_trading_steps_within_targets() -> None:
    chain = fast_chain()
    payer = Keypair()
    await chain.airdrop(payer.pubkey(), 10**12)
    report = await run_agent_bench(chain, payer)
    assert [c.name for c in report.cases] == ["single", "ensemble4"]
    single, ens = report.cases
    assert single.trades > 0 and ens.trades > 0
    assert 0 < single.warmup_cu < single.step_cu < ens.step_cu
    assert single.target_met and ens.target_met, report
    assert "ensemble4" in format_agent_report(report)
