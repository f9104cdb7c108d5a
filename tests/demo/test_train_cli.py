"""`python -m client train` and `backtest`: model file, sidecar, report, equity PNG."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from client.cli import main
from client.model.format import decode

pytest.importorskip("sklearn")


def test_train_then_backtest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "agent.mla"
    assert main(["train", "--out", str(model), "--json"]) == 0
    trained = json.loads(capsys.readouterr().out)
    qm = decode(model.read_bytes())
    assert len(qm.input.lo) == 4 == len(trained["spec"].split(","))
    assert set(trained["label_counts"]) == {"sell", "hold", "buy"}
    assert trained["quantized_accuracy_test"] > 0.34  # better than a 3-class coin
    assert json.loads((tmp_path / "agent.mla.json").read_text())["spec"] == trained["spec"]

    png = tmp_path / "equity.png"
    args = ["backtest", "--model", str(model), "--start", "100", "--steps", "300"]
    assert main([*args, "--png", str(png), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["steps"] == 300 and report["trades"] == report["buys"] + report["sells"] > 0
    assert report["judged"] > 0 and 0 <= report["hit_rate"] <= 1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_backtest_without_matplotlib_says_how_to_get_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "m.mla"
    assert main(["train", "--out", str(model), "--json"]) == 0
    capsys.readouterr()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code = main(["backtest", "--model", str(model), "--steps", "50", "--png", str(tmp_path / "x")])
    assert code == 1
    assert "pip install 'ml-agent[plot]'" in capsys.readouterr().err


def test_backtest_needs_a_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "bare.mla"
    model.write_bytes(b"")
    assert main(["backtest", "--model", str(model)]) == 2
    assert "pass the model's feature spec" in capsys.readouterr().err
