"""ONNX importer: torch-shaped float graphs, onnxruntime QDQ/QOperator int8 graphs,
skl2onnx tree ensembles, and errors naming the offending op and node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from client.model import UnsupportedModelError, compile_model, execute, features_to_q16, import_onnx
from client.model.ir import Activation, ActivationLayer, Head
from tests.model.helpers import dataset, fit

onnx = pytest.importorskip("onnx", reason="the ONNX importer tests need the onnx package")
ort = pytest.importorskip("onnxruntime", reason="reference outputs come from onnxruntime")

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TORCH_FIXTURES = ["torch_mlp_relu", "torch_mlp_tanh", "torch_mlp_sigmoid"]


def _iris_std() -> np.ndarray:
    x, _ = dataset("iris")
    return ((x - x.mean(axis=0)) / x.std(axis=0)).astype(np.float32)


def _run(model: Any, x: np.ndarray) -> list[np.ndarray]:
    """onnxruntime's plain execution of every node as written.  Graph optimizations stay off:
    they replace nodes by fused kernels chosen for the host CPU (a fused QLinearSigmoid without
    AVX-512 agrees with the float model on only 75 % of iris), and a test oracle must give the
    same answer on every machine."""
    data = model if isinstance(model, bytes) else Path(model).read_bytes()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    return list(sess.run(None, {sess.get_inputs()[0].name: x}))


@pytest.mark.parametrize("name", TORCH_FIXTURES)
def test_torch_exported_graphs_import_exactly(name: str) -> None:
    path = FIXTURES / f"{name}.onnx"
    x = _iris_std()
    fm = import_onnx(path, task="classification")
    assert fm.head is Head.SOFTMAX and fm.n_features == 4
    want = _run(path, x)[0]
    np.testing.assert_allclose(fm.forward(x).outputs, want, atol=1e-4)
    qm = compile_model(fm, x, 8)
    got = execute(qm, features_to_q16(x)).classes
    assert (got == want.argmax(axis=1)).mean() >= 0.99


def _quantize(path: Path, tmp_path: Path, fmt: str) -> Path:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    x = _iris_std()

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"input": x[i : i + 30]} for i in range(0, 150, 30)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    out = tmp_path / f"{path.stem}_{fmt}.onnx"
    qdq = fmt == "qdq"
    quantize_static(
        str(path),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ if qdq else QuantFormat.QOperator,
        per_channel=True,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QInt8 if qdq else QuantType.QUInt8,
    )
    return out


@pytest.mark.parametrize("fmt", ["qdq", "qoperator"])
@pytest.mark.parametrize("name", ["torch_mlp_relu", "torch_mlp_sigmoid"])
def test_onnxruntime_int8_graphs(name: str, fmt: str, tmp_path: Path) -> None:
    qpath = _quantize(FIXTURES / f"{name}.onnx", tmp_path, fmt)
    ops = {n.op_type for n in onnx.load(qpath).graph.node}
    assert ops & {"QuantizeLinear", "QGemm", "QLinearMatMul"}
    x = _iris_std()
    fm = import_onnx(qpath, task="classification")
    if name == "torch_mlp_relu":
        # onnxruntime deleted the Relu node; the importer restores it from the zero point.
        assert any(
            isinstance(layer, ActivationLayer) and layer.kind is Activation.RELU
            for layer in fm.layers
        )
    # The oracle is the float model the graph was quantized from: onnxruntime's own int8
    # kernels (QLinearSigmoid, QGemm) are CPU-specific approximations, not a reference.
    want = _run(FIXTURES / f"{name}.onnx", x)[0].argmax(axis=1)
    assert (fm.forward(x).classes == want).mean() >= 0.99
    got = execute(compile_model(fm, x, 8), features_to_q16(x)).classes
    assert (got == want).mean() >= 0.99
    if fmt == "qdq":
        # Unfused, a QDQ graph is float Gemm/Sigmoid between exact (de)quantize steps: the
        # importer must read the same scales and zero points onnxruntime executes.
        ort_q = _run(qpath, x)[0].argmax(axis=1)
        assert (fm.forward(x).classes == ort_q).mean() >= 0.99


def _graph(nodes: list[Any], inits: list[Any], n_in: int, n_out: int) -> bytes:
    from onnx import TensorProto, helper

    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", n_out])],
        inits,
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def test_matmul_add_hardsigmoid_softmax_graph() -> None:
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(0)
    w1, b1 = rng.normal(size=(4, 6)).astype(np.float32), rng.normal(size=6).astype(np.float32)
    w2 = rng.normal(size=(6, 3)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="mm1"),
        helper.make_node("Add", ["h", "b1"], ["hb"], name="add1"),
        helper.make_node("HardSigmoid", ["hb"], ["a"], name="hs", alpha=0.25, beta=0.4),
        helper.make_node("MatMul", ["a", "w2"], ["z"], name="mm2"),
        helper.make_node("Softmax", ["z"], ["y"], name="sm", axis=1),
    ]
    inits = [
        numpy_helper.from_array(w1, "w1"),
        numpy_helper.from_array(b1, "b1"),
        numpy_helper.from_array(w2, "w2"),
    ]
    data = _graph(nodes, inits, 4, 3)
    fm = import_onnx(data)
    assert fm.head is Head.SOFTMAX
    x = rng.normal(size=(64, 4)).astype(np.float32)
    want = _run(data, x)[0]
    z = fm.forward(x).outputs
    p = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(p / p.sum(axis=1, keepdims=True), want, atol=1e-5)
    got = execute(compile_model(fm, x, 16), features_to_q16(x)).classes
    assert (got == want.argmax(axis=1)).mean() >= 0.99


def test_unsupported_op_names_the_op_and_node() -> None:
    from onnx import helper, numpy_helper

    nodes = [
        helper.make_node("Gemm", ["x", "w", "b"], ["h"], name="fc", transB=1),
        helper.make_node("LeakyRelu", ["h"], ["y"], name="my_leaky"),
    ]
    inits = [
        numpy_helper.from_array(np.ones((2, 3), np.float32), "w"),
        numpy_helper.from_array(np.zeros(2, np.float32), "b"),
    ]
    with pytest.raises(UnsupportedModelError, match=r"unsupported op LeakyRelu .*'my_leaky'"):
        import_onnx(_graph(nodes, inits, 3, 2))


def test_unsupported_attribute_names_the_node() -> None:
    from onnx import helper, numpy_helper

    nodes = [helper.make_node("Gemm", ["x", "w"], ["y"], name="fc_t", transA=1)]
    inits = [numpy_helper.from_array(np.ones((3, 2), np.float32), "w")]
    with pytest.raises(UnsupportedModelError, match="Gemm node 'fc_t': transA=1"):
        import_onnx(_graph(nodes, inits, 3, 2))


def _skl2onnx(est: Any, x: np.ndarray) -> bytes:
    from skl2onnx import to_onnx

    options = {id(est): {"zipmap": False}} if hasattr(est, "classes_") else None
    return bytes(to_onnx(est, x[:1], options=options).SerializeToString())


@pytest.mark.parametrize(
    ("kind", "data", "head"),
    [
        ("rf", "iris", Head.VOTE),
        ("rf", "breast_cancer", Head.VOTE),
        ("gb", "iris", Head.SOFTMAX),
        ("gb", "breast_cancer", Head.LOGISTIC),
    ],
)
def test_skl2onnx_tree_ensemble_classifiers(kind: str, data: str, head: Head) -> None:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

    x, y = dataset(data)
    x = x.astype(np.float32)
    est = (
        RandomForestClassifier(8, max_depth=4, random_state=0)
        if kind == "rf"
        else GradientBoostingClassifier(n_estimators=8, max_depth=2, random_state=0)
    )
    blob = _skl2onnx(fit(est, x, y), x)
    fm = import_onnx(blob)
    assert fm.head is head
    want = _run(blob, x)[0]
    assert (np.asarray(fm.labels)[fm.forward(x).classes] == want).mean() >= 0.99
    got = execute(compile_model(fm, x), features_to_q16(x)).classes
    assert (np.asarray(fm.labels)[got] == want).mean() >= 0.99


@pytest.mark.parametrize("kind", ["rf", "gb"])
def test_skl2onnx_tree_ensemble_regressors(kind: str) -> None:
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor

    x, y = dataset("diabetes")
    x = x.astype(np.float32)
    est = (
        RandomForestRegressor(5, max_depth=4, random_state=0)
        if kind == "rf"
        else GradientBoostingRegressor(n_estimators=10, random_state=0)
    )
    blob = _skl2onnx(fit(est, x, y), x)
    fm = import_onnx(blob)
    want = _run(blob, x)[0][:, 0]
    np.testing.assert_allclose(fm.forward(x).outputs[:, 0], want, rtol=1e-4, atol=1e-3)
    qm = compile_model(fm, x)
    got = execute(qm, features_to_q16(x)).outputs[:, 0] * 2.0**-qm.out_frac_bits
    assert np.median(np.abs(got - want)) <= 1e-3


def test_qlinear_matmul_and_add_graph(tmp_path: Path) -> None:
    from onnx import helper, numpy_helper
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    rng = np.random.default_rng(0)
    arrays = {
        "w1": rng.normal(size=(4, 6)),
        "b1": rng.normal(size=6),
        "w2": rng.normal(size=(6, 3)),
        "b2": rng.normal(size=3),
    }
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="mm1"),
        helper.make_node("Add", ["h", "b1"], ["hb"], name="add1"),
        helper.make_node("Relu", ["hb"], ["r"], name="relu1"),
        helper.make_node("MatMul", ["r", "w2"], ["z"], name="mm2"),
        helper.make_node("Add", ["z", "b2"], ["y"], name="add2"),
    ]
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for n, a in arrays.items()]
    src = tmp_path / "mm.onnx"
    src.write_bytes(_graph(nodes, inits, 4, 3))
    x = rng.normal(size=(200, 4)).astype(np.float32)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"x": x[i : i + 50]} for i in range(0, 200, 50)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    dst = tmp_path / "mm_q.onnx"
    quantize_static(
        str(src),
        str(dst),
        Reader(),
        quant_format=QuantFormat.QOperator,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    assert {"QLinearMatMul", "QLinearAdd"} <= {n.op_type for n in onnx.load(dst).graph.node}
    fm = import_onnx(dst, labels=["a", "b", "c"])
    assert fm.head is Head.SOFTMAX and fm.labels == ("a", "b", "c")
    want = _run(dst, x)[0].argmax(axis=1)
    # onnxruntime's own uint8 activations flip a near-tie or two against any float replay.
    assert (fm.forward(x).classes == want).mean() >= 0.99
    got = execute(compile_model(fm, x, 8), features_to_q16(x)).classes
    assert (got == want).mean() >= 0.99
