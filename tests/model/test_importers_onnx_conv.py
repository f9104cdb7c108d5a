"""ONNX Conv1D graphs in torch.onnx.export's shape (opset 17, batch 1), built with onnx.helper
(torch is not installed): x (1, T, F) -> Transpose -> Conv -> Relu -> pool -> Flatten/Reshape
-> Gemm. Float ONNX (onnxruntime, optimizations off) vs the imported float model vs the
quantized reference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from client.model import compile_model
from client.model.errors import UnsupportedModelError
from client.model.format import decode, encode
from client.model.importers import import_onnx
from client.model.qmodel import QConv1d, QPool
from client.model.reference import execute, features_to_q16

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _init(name: str, arr: np.ndarray[Any, Any]) -> Any:
    return numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name)


def conv_graph(
    t: int = 24,
    f: int = 5,
    c: int = 8,
    k: int = 5,
    *,
    stride: int = 1,
    pads: tuple[int, int] = (0, 0),
    dilation: int = 1,
    pool: str = "MaxPool",
    pool_k: int = 2,
    flatten: str = "Flatten",
    classes: int = 3,
    seed: int = 0,
    conv_attrs: dict[str, Any] | None = None,
    pool_attrs: dict[str, Any] | None = None,
) -> Any:
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(c, f, k)) * (1.0 / np.sqrt(f * k))
    b = rng.normal(size=c) * 0.1
    t_conv = (t + sum(pads) - dilation * (k - 1) - 1) // stride + 1
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1], name="/Transpose"),
        helper.make_node(
            "Conv",
            ["xt", "conv.weight", "conv.bias"],
            ["c"],
            name="/conv/Conv",
            **(
                conv_attrs
                if conv_attrs is not None
                else {
                    "dilations": [dilation],
                    "group": 1,
                    "kernel_shape": [k],
                    "pads": list(pads),
                    "strides": [stride],
                }
            ),
        ),
        helper.make_node("Relu", ["c"], ["r"], name="/relu/Relu"),
    ]
    inits = [_init("conv.weight", w), _init("conv.bias", b)]
    if pool in ("MaxPool", "AveragePool"):
        attrs = (
            pool_attrs
            if pool_attrs is not None
            else {"ceil_mode": 0, "kernel_shape": [pool_k], "pads": [0, 0], "strides": [pool_k]}
        )
        nodes.append(helper.make_node(pool, ["r"], ["p"], name="/pool/Pool", **attrs))
        t_pool = (t_conv - pool_k) // pool_k + 1
    else:
        nodes.append(helper.make_node(pool, ["r"], ["p"], name="/pool/Global"))
        t_pool = 1
    n_flat = c * t_pool
    if flatten == "Flatten":
        nodes.append(helper.make_node("Flatten", ["p"], ["fl"], axis=1, name="/flatten/Flatten"))
    else:
        nodes.append(
            helper.make_node(
                "Constant",
                [],
                ["shape"],
                value=numpy_helper.from_array(np.array([1, -1], dtype=np.int64)),
            )
        )
        nodes.append(helper.make_node("Reshape", ["p", "shape"], ["fl"], name="/Reshape"))
    wl = rng.normal(size=(classes, n_flat)) * (1.0 / np.sqrt(n_flat))
    bl = rng.normal(size=classes) * 0.1
    inits += [_init("fc.weight", wl), _init("fc.bias", bl)]
    nodes.append(
        helper.make_node(
            "Gemm", ["fl", "fc.weight", "fc.bias"], ["y"], alpha=1.0, beta=1.0, transB=1,
            name="/fc/Gemm",
        )
    )  # fmt: skip
    graph = helper.make_graph(
        nodes,
        "torch_jit",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, t, f])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, classes])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run_onnx(model: Any, x: np.ndarray[Any, Any], t: int, f: int) -> np.ndarray[Any, Any]:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), options)
    rows = [sess.run(None, {"x": r.reshape(1, t, f).astype(np.float32)})[0][0] for r in x]
    return np.asarray(rows, dtype=np.float64)


CASES = {
    "maxpool2_flatten": {},
    "same_pad_avgpool_reshape": {"pads": (2, 2), "pool": "AveragePool", "flatten": "Reshape"},
    "stride2_dil2_global_avg": {"stride": 2, "dilation": 2, "pool": "GlobalAveragePool"},
    "global_max_asym_pad": {"pads": (4, 0), "pool": "GlobalMaxPool", "k": 5},
}


def _window(n: int, t: int, f: int, seed: int) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(seed)
    # Per-feature offsets and scales differ, like prices, returns and volumes do.
    return rng.normal(size=(n, t, f)) * np.linspace(0.5, 2.0, f) + np.linspace(-1, 3, f)


@pytest.mark.parametrize("case", sorted(CASES))
def test_float_onnx_matches_import_and_quantized_agrees(case: str) -> None:
    t, f = 24, 5
    model = conv_graph(t, f, **CASES[case])
    fm = import_onnx(model)
    assert fm.n_features == t * f
    x = _window(1200, t, f, seed=1).reshape(1200, -1)
    want = run_onnx(model, x[:200], t, f)
    got = fm.forward(x[:200]).outputs
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    for bits in (8, 16):
        qm = compile_model(fm, x[:1000], bits)
        assert any(isinstance(op, QConv1d) for op in qm.ops)
        assert any(isinstance(op, QPool) for op in qm.ops)
        qm = decode(encode(qm))
        tr = execute(qm, features_to_q16(x[1000:]))
        agree = float((tr.classes == fm.forward(x[1000:]).classes).mean())
        assert agree >= 0.99, (case, bits, agree)


def test_flatten_of_a_sequence_permutes_the_linear_columns() -> None:
    """Without the channel-major -> time-major permutation the float model differs from ONNX
    (the test above would fail); here directly: the imported Linear reads index t * C + c."""
    t, f = 12, 3
    model = conv_graph(t, f, c=4, k=3, pool="MaxPool", pool_k=2)
    fm = import_onnx(model)
    dense = fm.layers[-1]
    fc = numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == "fc.weight"))
    t_pool, c = 5, 4
    assert np.allclose(dense.weight[:, 1 * c + 2], fc[:, 2 * t_pool + 1])  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"conv_attrs": {"group": 2, "kernel_shape": [5]}}, "groups"),
        ({"conv_attrs": {"auto_pad": "SAME_UPPER", "kernel_shape": [5]}}, "auto_pad"),
        ({"conv_attrs": {"kernel_shape": [5], "pads": [1, 1], "strides": [300]}}, "stride 300"),
        (
            {"pool_attrs": {"kernel_shape": [2], "pads": [1, 1], "strides": [2]}},
            "padded pooling",
        ),
        ({"pool_attrs": {"kernel_shape": [2], "strides": [2], "ceil_mode": 1}}, "ceil_mode"),
    ],
)
def test_unsupported_attributes_are_refused_in_one_line(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(UnsupportedModelError, match=message) as err:
        import_onnx(conv_graph(**kwargs))
    assert "\n" not in str(err.value)


def test_two_d_kernels_are_refused() -> None:
    model = conv_graph()
    w = next(i for i in model.graph.initializer if i.name == "conv.weight")
    w.CopyFrom(_init("conv.weight", np.zeros((8, 5, 5, 1))))
    with pytest.raises(UnsupportedModelError, match="only 1-D convolutions"):
        import_onnx(model)


def test_conv_without_transpose_is_refused() -> None:
    model = conv_graph()
    model.graph.node.remove(model.graph.node[0])
    model.graph.node[0].input[0] = "x"
    with pytest.raises(UnsupportedModelError, match="channels-first"):
        import_onnx(model)


def test_auto_precision_and_per_layer_precision_cover_conv_layers() -> None:
    t, f = 24, 5
    fm = import_onnx(conv_graph(t, f, pads=(2, 2), pool="GlobalMaxPool"))
    x = _window(1500, t, f, seed=2).reshape(1500, -1)
    qm = compile_model(fm, x, "auto")
    assert isinstance(qm.ops[0], QConv1d)
    mixed = decode(encode(compile_model(fm, x, [16, 8])))
    conv = mixed.ops[0]
    assert isinstance(conv, QConv1d) and conv.dtype.name == "I16"
    assert mixed.input.dtype.name == "I16"
    assert [op.dtype.name for op in mixed.ops if hasattr(op, "layout")][-1] == "I8"
    with pytest.raises(ValueError, match="one entry per conv/dense layer"):
        compile_model(fm, x, [8, 8, 8])
