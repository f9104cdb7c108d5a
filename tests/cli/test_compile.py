"""`python -m client compile` / `model-info`: real scikit-learn and ONNX inputs, and every bad
input answered with a specific message and a non-zero exit."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from client.cli import main
from client.model import execute, features_to_q16, load

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    return x, y


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main([*argv, "--json"]) == 0
    out: dict[str, object] = json.loads(capsys.readouterr().out)
    return out


def test_compile_sklearn_pickle_then_inspect(
    tmp_path: Path, iris: tuple[np.ndarray, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    x, y = iris
    clf = LogisticRegression(max_iter=500).fit(x, y)
    src = tmp_path / "clf.pkl"
    src.write_bytes(pickle.dumps(clf))
    np.save(tmp_path / "calib.npy", x)

    s = run_json(["compile", str(src), "--calibration", str(tmp_path / "calib.npy")], capsys)
    out = tmp_path / "clf.mlag"
    assert s["path"] == str(out) and out.is_file()
    assert s["file_bytes"] == out.stat().st_size
    assert s["n_features"] == 4 and s["n_classes"] == 3
    qm = load(out)
    pred = execute(qm, features_to_q16(x)).classes
    assert np.mean(pred == clf.predict(x)) >= 0.97

    info = run_json(["model-info", str(out)], capsys)
    assert info["sha256"] == s["sha256"]
    ops = info["ops"]
    assert isinstance(ops, list) and ops[0]["kind"] == "DENSE"


def test_compile_onnx_tree_from_csv_calibration(
    tmp_path: Path, iris: tuple[np.ndarray, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType

    x, y = iris
    tree = DecisionTreeClassifier(max_depth=4, random_state=0).fit(x, y)
    onx = skl2onnx.convert_sklearn(
        tree, initial_types=[("x", FloatTensorType([None, 4]))], options={"zipmap": False}
    )
    src = tmp_path / "tree.onnx"
    src.write_bytes(onx.SerializeToString())
    np.savetxt(tmp_path / "calib.csv", x, delimiter=",")
    out = tmp_path / "custom.mlag"
    s = run_json(
        ["compile", str(src), "--calibration", str(tmp_path / "calib.csv"), "-o", str(out)],
        capsys,
    )
    assert s["arch"] == "TREES" and out.is_file()
    pred = execute(load(out), features_to_q16(x)).classes
    assert np.mean(pred == tree.predict(x)) >= 0.99


def test_bad_inputs_fail_with_specific_messages(
    tmp_path: Path, iris: tuple[np.ndarray, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    x, y = iris
    calib = tmp_path / "calib.npy"
    np.save(calib, x)

    assert main(["compile", str(tmp_path / "missing.pkl"), "--calibration", str(calib)]) == 1
    assert "missing.pkl does not exist" in capsys.readouterr().err

    src = tmp_path / "clf.pkl"
    src.write_bytes(pickle.dumps(LogisticRegression(max_iter=500).fit(x, y)))
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3,nan\n")
    assert main(["compile", str(src), "--calibration", str(bad)]) == 1
    assert "has nan at row 0, column 3" in capsys.readouterr().err

    wrong = tmp_path / "wrong.npy"
    np.save(wrong, x[:, :3])
    assert main(["compile", str(src), "--calibration", str(wrong)]) == 1
    assert "calibration data must have shape (n>0, 4)" in capsys.readouterr().err

    corrupt = tmp_path / "corrupt.mlag"
    corrupt.write_bytes(b"MLAG" + bytes(20))
    assert main(["model-info", str(corrupt)]) == 1
    err = capsys.readouterr().err
    assert "is not a valid model file" in err and "byte 24 (header): truncated" in err


def test_model_info_prints_the_feasibility_estimate(
    tmp_path: Path, iris: tuple[np.ndarray, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    x, y = iris
    src = tmp_path / "clf.pkl"
    src.write_bytes(pickle.dumps(LogisticRegression(max_iter=500).fit(x, y)))
    np.save(tmp_path / "calib.npy", x)
    s = run_json(
        ["compile", str(src), "--calibration", str(tmp_path / "calib.npy"), "--precision", "auto"],
        capsys,
    )
    auto = s["auto"]
    assert isinstance(auto, dict) and auto["precisions"] in (["int8"], ["int16"])
    assert auto["agreement"] >= 0.99 and 0 <= auto["at_risk"] <= 0.001 and auto["error_bound"] > 0
    assert [t["precisions"] for t in auto["trials"]][-1] == auto["precisions"]
    sat = s["saturation"]
    assert isinstance(sat, list) and sat[0]["layer"].startswith("dense 0")
    info = run_json(["model-info", str(tmp_path / "clf.mlag")], capsys)
    f = info["feasibility"]
    assert isinstance(f, dict)
    assert f["tx_bytes"] == 305 and f["max_features"] == 235 and f["n_outputs"] == 3
    assert 1_000 < f["cu_estimate"] < 5_000 and f["problems"] == [] == f["routes"]
    assert main(["model-info", str(tmp_path / "clf.mlag")]) == 0
    text = capsys.readouterr().out
    assert "infer tx     305 of 1232 bytes" in text and "compute      ~" in text
