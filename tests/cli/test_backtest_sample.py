"""`backtest` knows the model's training window: out of sample by default, overlap said."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client.cli import main

pytest.importorskip("sklearn")


def test_backtest_defaults_to_out_of_sample_and_flags_overlap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "agent.mla"
    assert main(["train", "--out", str(model), "--json"]) == 0
    trained = json.loads(capsys.readouterr().out)
    first, last = trained["train_ticks"]
    assert first == 0 and 0 < last < 2000

    assert main(["backtest", "--model", str(model), "--json"]) == 0
    oos = json.loads(capsys.readouterr().out)
    assert oos["start"] == last + 1 and oos["out_of_sample"] and oos["in_sample_ticks"] == 0

    args = ["backtest", "--model", str(model), "--start", str(last - 49), "--steps", "100"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "IN SAMPLE for 50 of 100 ticks" in text

    # Another series: the window is unknown, and said so.
    other = tmp_path / "other.csv"
    other.write_text("step,price\n" + "".join(f"{i},{100 + (i % 7)}\n" for i in range(300)))
    assert main(["backtest", "--model", str(model), "--csv", str(other), "--json"]) == 0
    unknown = json.loads(capsys.readouterr().out)
    assert unknown["start"] == 0 and unknown["out_of_sample"] is None
