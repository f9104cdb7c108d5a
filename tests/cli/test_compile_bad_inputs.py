"""Every malformed input to `compile` / `model-info` is answered with a specific message and exit
status 1, never a traceback: broken pickles and ONNX files, models with NaN/inf parameters
(named by layer and index), unusable calibration tables, impossible ranges, unwritable output."""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from client.cli import main

sklearn = pytest.importorskip("sklearn")
onnx = pytest.importorskip("onnx")
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402

X, Y = load_iris(return_X_y=True)
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _fit(est: object) -> object:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, Y)  # type: ignore[attr-defined]


def _mlp() -> MLPClassifier:
    m: MLPClassifier = _fit(MLPClassifier((6,), max_iter=200, random_state=0))  # type: ignore[assignment]
    return m


def _pickled(obj: object) -> bytes:
    return pickle.dumps(obj)


def _mlp_with(change: Callable[[MLPClassifier], None]) -> bytes:
    m = _mlp()
    change(m)
    return _pickled(m)


def _set_nan_weight(m: MLPClassifier) -> None:
    m.coefs_[1][4, 2] = np.nan


def _set_inf_bias(m: MLPClassifier) -> None:
    m.intercepts_[0][3] = np.inf


def _logreg_nan(m: LogisticRegression) -> bytes:
    m.coef_[2, 1] = np.nan
    return _pickled(m)


def _missing_module_pickle() -> bytes:
    return b"cno_such_mod\nX\n."  # protocol 0: GLOBAL no_such_mod.X


def _onnx_bytes(mutate: Callable[[onnx.ModelProto], None] | None = None) -> bytes:
    m = onnx.load(str(FIXTURES / "torch_mlp_relu.onnx"))
    if mutate is not None:
        mutate(m)
    return bytes(m.SerializeToString())


def _onnx_nan(m: onnx.ModelProto) -> None:
    from onnx import numpy_helper

    init = m.graph.initializer[0]
    arr = numpy_helper.to_array(init).copy()
    arr.flat[5] = np.nan
    init.CopyFrom(numpy_helper.from_array(arr, init.name))


def _onnx_leaky(m: onnx.ModelProto) -> None:
    for n in m.graph.node:
        if n.op_type == "Relu":
            n.op_type = "LeakyRelu"


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


GOOD_PKL = _pickled(_fit(LogisticRegression(max_iter=500)))
GOOD_CALIB = _npy(X)
RNG = np.random.default_rng(0)
RANDOM = RNG.bytes(512)

# (id, model file name, model bytes or None (missing), calibration name, calibration bytes,
#  extra args, substring the error must contain)
CASES: list[tuple[str, str, bytes | None, str, bytes | None, list[str], str]] = [
    # --- model files
    ("missing model", "m.pkl", None, "c.npy", GOOD_CALIB, [], "does not exist"),
    ("empty pickle", "m.pkl", b"", "c.npy", GOOD_CALIB, [], "is empty"),
    ("truncated pickle", "m.pkl", GOOD_PKL[:40], "c.npy", GOOD_CALIB, [], "as a sklearn model"),
    ("random-bytes pickle", "m.pkl", RANDOM, "c.npy", GOOD_CALIB, [], "as a sklearn model"),
    ("pickle of a dict", "m.pkl", _pickled({"a": 1}), "c.npy", GOOD_CALIB, [], "dict"),
    ("pickle of an int", "m.pkl", _pickled(5), "c.npy", GOOD_CALIB, [], "int"),
    (
        "unfitted estimator",
        "m.pkl",
        _pickled(LogisticRegression()),
        "c.npy",
        GOOD_CALIB,
        [],
        "LogisticRegression",
    ),
    (
        "unsupported estimator",
        "m.pkl",
        _pickled(_fit(__import__("sklearn.svm", fromlist=["SVC"]).SVC())),
        "c.npy",
        GOOD_CALIB,
        [],
        "SVC",
    ),
    (
        "pickle naming a missing module",
        "m.pkl",
        _missing_module_pickle(),
        "c.npy",
        GOOD_CALIB,
        [],
        "no_such_mod",
    ),
    ("random-bytes joblib", "m.joblib", RANDOM, "c.npy", GOOD_CALIB, [], "as a sklearn model"),
    ("empty onnx", "m.onnx", b"", "c.npy", GOOD_CALIB, [], "is empty"),
    ("random-bytes onnx", "m.onnx", RANDOM, "c.npy", GOOD_CALIB, [], "as a onnx model"),
    ("truncated onnx", "m.onnx", _onnx_bytes()[:100], "c.npy", GOOD_CALIB, [], "onnx"),
    (
        "onnx with an unsupported op",
        "m.onnx",
        _onnx_bytes(_onnx_leaky),
        "c.npy",
        GOOD_CALIB,
        [],
        "LeakyRelu",
    ),
    (
        "onnx with a NaN weight",
        "m.onnx",
        _onnx_bytes(_onnx_nan),
        "c.npy",
        GOOD_CALIB,
        [],
        "dense layer 0 weight[1, 1] is nan",
    ),
    ("pickle read as onnx", "m.pkl", GOOD_PKL, "c.npy", GOOD_CALIB, ["--format", "onnx"], "onnx"),
    (
        "mlp with a NaN weight",
        "m.pkl",
        _mlp_with(_set_nan_weight),
        "c.npy",
        GOOD_CALIB,
        [],
        "dense layer 1 weight[2, 4] is nan",
    ),
    (
        "mlp with an infinite bias",
        "m.pkl",
        _mlp_with(_set_inf_bias),
        "c.npy",
        GOOD_CALIB,
        [],
        "dense layer 0 bias[3] is inf",
    ),
    (
        "logistic regression with NaN",
        "m.pkl",
        _logreg_nan(_fit(LogisticRegression(max_iter=500))),
        "c.npy",
        GOOD_CALIB,
        [],
        "dense layer 0 weight[2, 1] is nan",
    ),
    # --- calibration
    ("missing calibration", "m.pkl", GOOD_PKL, "c.npy", None, [], "does not exist"),
    ("empty calibration file", "m.pkl", GOOD_PKL, "c.npy", b"", [], "is empty"),
    ("empty .npy array", "m.pkl", GOOD_PKL, "c.npy", _npy(np.zeros((0,))), [], "non-empty 2-D"),
    ("zero-row .npy", "m.pkl", GOOD_PKL, "c.npy", _npy(np.zeros((0, 4))), [], "non-empty 2-D"),
    ("random-bytes .npy", "m.pkl", GOOD_PKL, "c.npy", RANDOM, [], "not a readable .npy"),
    ("truncated .npy", "m.pkl", GOOD_PKL, "c.npy", GOOD_CALIB[:200], [], "not a readable .npy"),
    (
        "object .npy",
        "m.pkl",
        GOOD_PKL,
        "c.npy",
        _npy(np.array([{"a": 1}], dtype=object)),
        [],
        "not a readable .npy",
    ),
    ("1-D .npy", "m.pkl", GOOD_PKL, "c.npy", _npy(X[:, 0]), [], "non-empty 2-D"),
    ("3-D .npy", "m.pkl", GOOD_PKL, "c.npy", _npy(X.reshape(15, 10, 4)), [], "non-empty 2-D"),
    ("wrong column count", "m.pkl", GOOD_PKL, "c.npy", _npy(X[:, :3]), [], "shape (n>0, 4)"),
    (
        "string .npy",
        "m.pkl",
        GOOD_PKL,
        "c.npy",
        _npy(np.array([["a", "b"]])),
        [],
        "not a readable .npy",
    ),
    (
        "infinite calibration value",
        "m.pkl",
        GOOD_PKL,
        "c.csv",
        b"1,2,3,inf\n4,5,6,7\n",
        [],
        "has inf at row 0, column 3",
    ),
    ("non-numeric csv", "m.pkl", GOOD_PKL, "c.csv", b"a,b,c,d\n", [], "not a readable CSV"),
    ("ragged csv", "m.pkl", GOOD_PKL, "c.csv", b"1,2,3,4\n1,2\n", [], "not a readable CSV"),
    ("one calibration row", "m.pkl", GOOD_PKL, "c.npy", _npy(X[:1]), [], "1 row(s)"),
    (
        "constant column",
        "m.pkl",
        GOOD_PKL,
        "c.npy",
        _npy(np.c_[X[:, :3], np.ones(150)]),
        [],
        "feature(s) 3 are constant",
    ),
    (
        "value beyond Q16.16",
        "m.pkl",
        GOOD_PKL,
        "c.npy",
        _npy(np.c_[X[:, :3], X[:, 3] * 1e5]),
        [],
        "feature 3 reaches",
    ),
    # --- options
    (
        "input range with 3 values",
        "m.pkl",
        GOOD_PKL,
        "c.npy",
        GOOD_CALIB,
        ["--input-range", "1,2,3"],
        "LO,HI",
    ),
    (
        "non-numeric input range",
        "m.pkl",
        GOOD_PKL,
        "c.npy",
        GOOD_CALIB,
        ["--input-range", "a,b"],
        "must be numbers",
    ),
    (
        "empty input range",
        "m.pkl",
        GOOD_PKL,
        "c.npy",
        GOOD_CALIB,
        ["--input-range", "5,1"],
        "is empty",
    ),
    (
        "input range beyond Q16.16",
        "m.pkl",
        GOOD_PKL,
        "c.npy",
        GOOD_CALIB,
        ["--input-range", "0,1e6"],
        "declared range of feature 0",
    ),
    (
        "NaN input range",
        "m.pkl",
        GOOD_PKL,
        "c.npy",
        GOOD_CALIB,
        ["--input-range", "nan,1"],
        "must be finite",
    ),
    (
        "missing input range file",
        "m.pkl",
        GOOD_PKL,
        "c.npy",
        GOOD_CALIB,
        ["--input-range", "nope.csv"],
        "does not exist",
    ),
    (
        "NaN range margin",
        "m.pkl",
        GOOD_PKL,
        "c.npy",
        GOOD_CALIB,
        ["--range-margin", "nan"],
        "range margin",
    ),
    (
        "negative range margin",
        "m.pkl",
        GOOD_PKL,
        "c.npy",
        GOOD_CALIB,
        ["--range-margin", "-1"],
        "range margin",
    ),
    (
        "unwritable output",
        "m.pkl",
        GOOD_PKL,
        "c.npy",
        GOOD_CALIB,
        ["--out", "/nonexistent-dir/x.mlag"],
        "cannot write",
    ),
]


@pytest.mark.parametrize(
    ("model_name", "model", "calib_name", "calib", "extra", "want"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_bad_compile_input_is_a_message(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    model_name: str,
    model: bytes | None,
    calib_name: str,
    calib: bytes | None,
    extra: list[str],
    want: str,
) -> None:
    src = tmp_path / model_name
    if model is not None:
        src.write_bytes(model)
    cal = tmp_path / calib_name
    if calib is not None:
        cal.write_bytes(calib)
    rc = main(["compile", str(src), "--calibration", str(cal), *extra])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert err.startswith("error: ") and "Traceback" not in err
    assert want in err, err
    assert err.count("\n") == 1, err  # one line


def test_case_count() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize(
    ("data", "want"),
    [(None, "does not exist"), (b"", "truncated"), (RANDOM, "bad magic"), (b"MLAG", "truncated")],
    ids=["missing", "empty", "random", "magic only"],
)
def test_bad_model_info_input_is_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes | None, want: str
) -> None:
    path = tmp_path / "m.mlag"
    if data is not None:
        path.write_bytes(data)
    assert main(["model-info", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and want in err, err


def test_tree_with_nan_threshold_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from client.model import compile_model, import_sklearn
    from client.model.errors import UnsupportedModelError

    fm = import_sklearn(_fit(DecisionTreeClassifier(max_depth=3, random_state=0)))
    tree = fm.layers[0].trees[0]  # type: ignore[union-attr]
    tree.threshold[0] = np.nan
    with pytest.raises(UnsupportedModelError, match=r"tree 0 threshold\[0\] is nan"):
        compile_model(fm, X)
