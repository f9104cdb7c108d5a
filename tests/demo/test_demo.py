"""The demo on LiteSVM with a small N: the whole story runs and reports what it did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from solders.keypair import Keypair

from client.chain.litesvm import LiteSvmChain
from client.cli import main
from client.cli.demo import demo, render

pytest.importorskip("sklearn")


async def test_demo_function_reports_the_run(svm: LiteSvmChain, payer: Keypair) -> None:
    report = await demo(svm, payer, steps=60)
    assert len(report.program_sha256) == 64 and report.program_bytes > 0
    assert report.steps == 60 == sum(report.decisions.values()) == len(report.records)
    # The spec's lookback is 20; a pool agent's first step only opens its first TWAP window.
    assert report.decisions.get("hold/warmup") == 20
    assert report.trades > 0 and report.trades == report.buys + report.sells
    assert report.backtest_matches and report.audit.ok and report.audit.steps_counted == 60
    assert report.pnl == pytest.approx(report.backtest_pnl)
    assert report.compute_units_mean > 0 and report.compute_units_max > 0
    assert report.simulator_swaps > 0
    assert {"train", "deploy_model", "create_market", "create_agent", "bot"} <= set(report.timings)
    text = render(report)
    assert f"program sha256 {report.program_sha256}" in text.splitlines()[3]
    assert "same decisions as the chain" in text and "/traded" in text


def test_demo_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "id.json"
    key.write_text(json.dumps(list(bytes(Keypair()))))
    assert main(["demo", "-k", str(key), "--steps", "30", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cluster"] == "embedded" and out["steps"] == 30
    assert len(out["program_sha256"]) == 64 and out["audit"]["steps_counted"] == 30
