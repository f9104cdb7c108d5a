"""Numpy reference vs pure-Python walker, layout equivalence, golden consistency."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from client.model import InputRangeError, compile_model, decode, encode, execute
from client.model.ir import Activation, Head, TreeMode
from client.model.pure import PureModel
from client.model.qmodel import DType, Layout, QDense
from client.model.reference import dense_acc
from tests.model.helpers import random_dense_model, random_tree_model

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def _pure_matches_numpy(data: bytes, x: np.ndarray) -> None:
    model = decode(data)
    trace = execute(model, x)
    walker = PureModel(data)
    for i in range(x.shape[0]):
        res = walker.infer([int(v) for v in x[i]])
        assert res.layers == [layer[i].tolist() for layer in trace.layers]
        assert res.outputs == trace.outputs[i].tolist()
        assert (res.cls, res.confidence) == (int(trace.classes[i]), int(trace.confidence[i]))
        if trace.input_q is not None:
            assert res.input_q == trace.input_q[i].tolist()


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    sizes=st.lists(st.integers(1, 8), min_size=2, max_size=4),
    act=st.sampled_from([None, *Activation]),
    precision=st.sampled_from([8, 16]),
    layout=st.sampled_from([Layout.COMPACT, Layout.PACKED, Layout.SPARSE]),
)
def test_pure_python_agrees_with_numpy_on_networks(
    seed: int, sizes: list[int], act: Activation | None, precision: int, layout: Layout
) -> None:
    sizes = [*sizes[:-1], max(sizes[-1], 2)]
    fm = random_dense_model(seed, sizes, act, Head.SOFTMAX)
    rng = np.random.default_rng(seed)
    model = compile_model(
        fm,
        rng.normal(0, 1, (32, sizes[0])),
        precision,
        layout=None if precision == 16 and layout is Layout.PACKED else layout,
    )
    # Inputs across the whole declared range, including both ends (saturation).
    x = rng.integers(model.input.lo, model.input.hi + 1, (12, model.n_features))
    x[0], x[1] = model.input.lo, model.input.hi
    _pure_matches_numpy(encode(model), x)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), mode=st.sampled_from(list(TreeMode)), n_out=st.integers(1, 3))
def test_pure_python_agrees_with_numpy_on_trees(seed: int, mode: TreeMode, n_out: int) -> None:
    n_out = max(n_out, 2) if mode is TreeMode.PROBA else n_out
    fm = random_tree_model(seed, 4, 3 * n_out, mode, n_out)
    rng = np.random.default_rng(seed)
    model = compile_model(fm, rng.normal(0, 1, (16, 4)))
    x = rng.integers(model.input.lo, model.input.hi + 1, (12, 4))
    _pure_matches_numpy(encode(model), x)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), n_in=st.integers(1, 20), n_out=st.integers(1, 9))
def test_all_int8_layouts_compute_the_same_accumulators(seed: int, n_in: int, n_out: int) -> None:
    rng = np.random.default_rng(seed)
    w = rng.integers(-127, 128, (n_out, n_in))
    w[rng.random(w.shape) < 0.5] = 0
    q = rng.integers(-128, 128, (10, n_in))
    q[0] = -128
    q[1] = 127
    bias = rng.integers(-(2**20), 2**20, n_out)
    want = q @ w.T + bias
    for layout in Layout.COMPACT, Layout.PACKED, Layout.SPARSE:
        op = QDense(DType.I8, layout, w, bias, np.ones(n_out, dtype=np.int64), 1, 0, -128, 127)
        np.testing.assert_array_equal(dense_acc(op, q), want, err_msg=layout.name)


def test_inputs_outside_the_declared_range_are_rejected() -> None:
    fm = random_dense_model(0, [3, 4, 2], None, Head.SOFTMAX)
    model = compile_model(fm, np.random.default_rng(0).normal(0, 1, (10, 3)))
    x = np.stack([model.input.lo, model.input.hi])
    execute(model, x)  # both ends are inclusive
    x[1, 2] = model.input.hi[2] + 1
    with pytest.raises(InputRangeError, match=r"row 1: feature 2") as info:
        execute(model, x)
    assert info.value.feature == 2 and info.value.value_fx == int(model.input.hi[2]) + 1
    with pytest.raises(ValueError, match="outside"):
        PureModel(encode(model)).infer(x[1].tolist())


def _golden_docs() -> list[Path]:
    return sorted(GOLDEN.glob("*.json"))


@pytest.mark.parametrize(
    "doc_path", [p for p in _golden_docs() if p.name != "index.json"], ids=lambda p: p.stem
)
def test_golden_vectors_match_both_executors(doc_path: Path) -> None:
    doc = json.loads(doc_path.read_text())
    data = (GOLDEN / doc["file"]).read_bytes()
    assert doc["bytes"] == len(data)
    model = decode(data)
    walker = PureModel(data)
    for case in doc["cases"]:
        x = np.array([case["features_fx"]], dtype=np.int64)
        trace = execute(model, x)
        assert [layer[0].tolist() for layer in trace.layers] == case["layers"], case["name"]
        assert trace.outputs[0].tolist() == case["outputs"]
        assert int(trace.classes[0]) == case["class"]
        assert int(trace.confidence[0]) == case["confidence_q16"]
        res = walker.infer(case["features_fx"])
        assert res.layers == case["layers"] and res.cls == case["class"]
    for case in doc["reject_cases"]:
        with pytest.raises(InputRangeError) as info:
            execute(model, np.array([case["features_fx"]], dtype=np.int64))
        assert info.value.feature == case["feature"]


def test_golden_set_covers_every_op_kind_and_layout() -> None:
    ops = {
        op
        for p in _golden_docs()
        if p.name != "index.json"
        for op in json.loads(p.read_text())["ops"]
    }
    required = {
        "DENSE/COMPACT/I8",
        "DENSE/PACKED/I8",
        "DENSE/COMPACT/I16",
        "DENSE/SPARSE/I8",
        "DENSE/SPARSE/I16",
        "LUT/SIGMOID/I8",
        "LUT/SIGMOID/I16",
        "LUT/TANH/I8",
        "LUT/TANH/I16",
        "LUT/HARD_SIGMOID/I8",
        "LUT/HARD_SIGMOID/I16",
        "SOFTMAX",
        "SOFTMAX/BINARY",
        "ARGMAX/PROB",
        "ARGMAX/DIV",
        "TREES/PROBA",
        "TREES/VALUE",
    }
    assert required <= ops
    total = sum(p.stat().st_size for p in GOLDEN.iterdir())
    assert total < 1_000_000


def test_features_outside_q16_are_a_client_error() -> None:
    from client.model import features_to_q16

    assert features_to_q16(np.array([[1.5, -2.0]])).tolist() == [[98304, -131072]]
    with pytest.raises(ValueError, match=r"index \(0, 1\) = .*40000"):
        features_to_q16(np.array([[1.0, 40000.0]]))
