"""`python -m client bot run` on the embedded SVM, and its refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from solders.keypair import Keypair

from client.agent import FeatureSpec
from client.bot.world import create_world, default_risk
from client.chain.litesvm import LiteSvmChain
from client.cli import build_parser, main
from client.cli.bot import default_ws_url, run_bot
from client.cli.context import CliContext
from client.config import resolve_url
from tests.agent.world import constant_model

SPEC = FeatureSpec.parse("return:1,sma_ratio:4,volatility:3,position")


@pytest.fixture
def keypair_file(tmp_path: Path) -> str:
    path = tmp_path / "id.json"
    path.write_text(json.dumps(list(bytes(Keypair()))))
    return str(path)


def test_bot_run_embedded_json(keypair_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bot", "run", "--url", "embedded", "-k", keypair_file, "--steps", "5", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["start_step"], report["end_step"], report["steps_landed"]) == (0, 5, 5)
    assert report["metrics"]["latency"]["count"] == 5


def test_bot_run_agent_refuses_a_non_agent(
    keypair_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["bot", "run", "--url", "embedded", "-k", keypair_file, "--agent", "x"])
    assert code == 2
    assert "not a base58 account address" in capsys.readouterr().err
    other = str(Keypair().pubkey())
    code = main(["bot", "run", "--url", "embedded", "-k", keypair_file, "--agent", other])
    assert code == 1
    assert "is not an agent of this program" in capsys.readouterr().err


async def test_bot_run_agent_cranks_agent_step(
    svm: LiteSvmChain, payer: Keypair, capsys: pytest.CaptureFixture[str]
) -> None:
    """`bot run --agent ADDR --json` on a chain holding an agent (the CLI's embedded chain is
    fresh per invocation, so the handler gets the test's chain through its context)."""
    world = await create_world(svm, payer, constant_model(2), SPEC, default_risk())
    parser = build_parser()
    args = parser.parse_args(["bot", "run", "--agent", str(world.agent), "--steps", "8", "--json"])
    ctx = CliContext(resolve_url("embedded"), None, True, _chain=svm, _keypair=payer)
    assert await run_bot(args, ctx) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["agent"] == str(world.agent)
    assert (out["bot"]["start_step"], out["bot"]["end_step"]) == (0, 8)
    # The constant BUY model trades every step after its 4 warm-up steps (lookback 4, and a
    # first step that opens the TWAP window); the embedded chain moves one slot per step.
    assert out["bot"]["metrics"]["trades"] == 4 and out["bot"]["metrics"]["decisions"] == 8
    assert out["audit"]["steps_counted"] == 8 and out["audit"]["trades_counted"] == 4
    assert out["audit"]["base_actual"] == out["audit"]["base_expected"] > 100 * 10**6


def test_default_ws_url_is_rpc_port_plus_one() -> None:
    assert default_ws_url("http://127.0.0.1:8899") == "ws://127.0.0.1:8900"
    assert default_ws_url("https://api.devnet.solana.com") == "wss://api.devnet.solana.com"
