"""`python -m client bot run` on the embedded SVM, and its refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from solders.keypair import Keypair

from client.cli import main
from client.cli.bot import default_ws_url


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


def test_bot_run_agent_not_available_yet(
    keypair_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["bot", "run", "--url", "embedded", "-k", keypair_file, "--agent", "x"])
    assert code == 1
    assert "needs the on-chain agent" in capsys.readouterr().err


def test_default_ws_url_is_rpc_port_plus_one() -> None:
    assert default_ws_url("http://127.0.0.1:8899") == "ws://127.0.0.1:8900"
    assert default_ws_url("https://api.devnet.solana.com") == "wss://api.devnet.solana.com"
