"""`train-regime` regenerates a regime model in one command; `regime-accuracy` checks its input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from client.cli import main
from client.model.sequence_train import FIXTURE_DIR


def test_train_regime_writes_a_checked_onnx_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train-regime", "--only", "conv", "--out", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (row,) = out["models"]
    assert row["kind"] == "conv" and row["file"] == "conv.onnx"
    assert row["heldout_accuracy"] > 0.7 and row["onnx_max_abs_diff"] < 1e-4
    model = onnx.load(str(tmp_path / "conv.onnx"))
    committed = onnx.load(str(FIXTURE_DIR / "conv.onnx"))
    # Same graph as the committed file (weights may differ in the last bits on another CPU).
    assert [n.op_type for n in model.graph.node] == [n.op_type for n in committed.graph.node]
    assert [i.dims for i in model.graph.initializer] == [
        i.dims for i in committed.graph.initializer
    ]
    summary = json.loads((tmp_path / "regime.json").read_text())
    assert summary["command"] == "python -m client train-regime"
    assert set(np.load(tmp_path / "heldout.npz").files) >= {"prices", "rows", "labels"}


def test_regime_accuracy_refuses_a_bad_window_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["regime-accuracy", "--windows", "0"]) == 2
    assert "--windows" in capsys.readouterr().err
