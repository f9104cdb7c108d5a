"""`train-regime` regenerates a regime model in one command; `regime-accuracy` checks its input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from client.cli import main
from client.model.sequence_accuracy import calibration_windows, heldout_windows
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


def test_regime_windows_writes_calibration_and_heldout_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, labels = tmp_path / "calib.npy", tmp_path / "labels.npy"
    args = ["regime-windows", "--out", str(out), "--n", "300", "--labels", str(labels)]
    assert main([*args, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    x, y = np.load(out), np.load(labels)
    assert x.shape == (300, 600) and info["shape"] == [300, 600] and y.shape == (300,)
    assert sum(info["labels"].values()) == 300
    assert np.array_equal(x, calibration_windows(300).x)
    held = tmp_path / "held.npy"
    assert main(["regime-windows", "--out", str(held), "--n", "50", "--split", "heldout"]) == 0
    assert np.array_equal(np.load(held), heldout_windows(50).x)
    assert main(["regime-windows", "--out", str(tmp_path / "x.csv")]) == 2
    assert main(["regime-windows", "--out", str(out), "--n", "0"]) == 2


def test_regime_parity_runs_held_out_windows_on_chain(capsys: pytest.CaptureFixture[str]) -> None:
    """`regime-parity` (LiteSVM): GRU-32 INT8 from a features account as a job, bit-exact."""
    argv = ["regime-parity", "--windows", "2", "--start", "100", "--only", "gru", "--json"]
    assert main(argv) == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert (row["model"], row["precision"], row["route"], row["windows"]) == (
        "GRU-32",
        "8",
        "job",
        2,
    )
    assert row["bit_exact"] and row["mismatches"] == 0 and row["steps_min"] >= 2
    assert row["cu_mean"] > 1_400_000  # over one transaction: that is why it is a job
    assert main(["regime-parity", "--windows", "0"]) == 2


def test_regime_accuracy_auto_precision(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["regime-accuracy", "--windows", "400", "--precision", "auto", "--only", "gru"]
    assert main([*argv, "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert row["precision"] == "auto" and row["n_windows"] == 400
    assert row["agreement"] >= 0.99
