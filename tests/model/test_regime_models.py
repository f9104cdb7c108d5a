"""The numpy sequence models, their torch-shaped ONNX export and the committed regime fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from client.agent.features import FeatureSpec, training_rows
from client.model.sequence_data import (
    REGIME_SPEC,
    WINDOW,
    RegimeRows,
    WindowConfig,
    WindowSet,
    concat,
    path_rows,
    rows_to_windows,
)
from client.model.sequence_nets import ConvNet, GRUNet, LSTMNet, SequenceNet, numeric_grad
from client.model.sequence_onnx import (
    GRU_ORDER,
    LSTM_ORDER,
    onnxruntime_logits,
    reorder_gates,
    to_onnx,
)
from client.model.sequence_train import (
    FIXTURE_DIR,
    HELDOUT_FILE,
    MODEL_FILES,
    SUMMARY_FILE,
    ModelSpec,
    Standardizer,
    adam_train,
)


def small_nets() -> list[SequenceNet]:
    return [
        GRUNet.init(5, 6, 3, 12, seed=1),
        LSTMNet.init(5, 6, 3, 12, seed=1),
        ConvNet.init(5, 4, 3, 2, 3, 12, seed=1),
    ]


@pytest.mark.parametrize("net", small_nets(), ids=lambda n: n.kind)
def test_backprop_matches_finite_differences(net: SequenceNet) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 12, 5))
    y = np.array([0, 1, 2, 1])
    net.params = {k: v.astype(np.float64) for k, v in net.params.items()}  # type: ignore[misc]
    _, grads = net.loss_grads(x, y)
    for name, p in net.params.items():
        for _ in range(4):
            idx = tuple(int(rng.integers(s)) for s in p.shape)
            num = numeric_grad(lambda: net.loss_grads(x, y)[0], p, idx, eps=1e-6)
            assert abs(num - float(grads[name][idx])) < 1e-6, (name, idx)


@pytest.mark.parametrize("net", small_nets(), ids=lambda n: n.kind)
def test_folding_the_standardisation_keeps_the_function(net: SequenceNet) -> None:
    rng = np.random.default_rng(1)
    raw = rng.normal([0.0, 0.01, -0.02, 0.0, 0.007], [0.008, 0.04, 0.1, 0.03, 0.002], (7, 12, 5))
    mean, std = raw.reshape(-1, 5).mean(0), raw.reshape(-1, 5).std(0)
    folded = net.fold_input_affine(mean, std)
    assert np.allclose(folded.forward(raw), net.forward((raw - mean) / std), atol=1e-4)


@pytest.mark.parametrize("net", small_nets(), ids=lambda n: n.kind)
def test_onnx_export_runs_like_the_numpy_forward(net: SequenceNet) -> None:
    x = np.random.default_rng(2).standard_normal((5, 12, 5))
    got = onnxruntime_logits(to_onnx(net).SerializeToString(), x)
    assert np.max(np.abs(got - net.forward(x))) < 1e-5


def test_gate_reordering_is_the_exporters() -> None:
    w = np.arange(12, dtype=np.float32).reshape(6, 2)  # 3 gates of 2 rows
    # PyTorch GRU (r, z, n) -> ONNX (z, r, h).
    assert reorder_gates(w, GRU_ORDER).tolist() == w[[2, 3, 0, 1, 4, 5]].tolist()
    w4 = np.arange(8, dtype=np.float32)[:, None]
    # PyTorch LSTM (i, f, g, o) -> ONNX (i, o, f, c).
    assert reorder_gates(w4, LSTM_ORDER)[:, 0].tolist() == [0, 1, 6, 7, 2, 3, 4, 5]


def _ops(path: Path) -> list[str]:
    return [n.op_type for n in onnx.load(str(path)).graph.node]


def test_fixture_graphs_have_the_torch_export_shape() -> None:
    assert _ops(FIXTURE_DIR / "gru32.onnx") == [
        "Transpose",
        "GRU",
        "Constant",
        "Squeeze",
        "Transpose",
        "Constant",
        "Gather",
        "Gemm",
    ]
    assert _ops(FIXTURE_DIR / "lstm64.onnx")[1] == "LSTM"
    assert _ops(FIXTURE_DIR / "conv.onnx") == [
        "Transpose",
        "Conv",
        "Relu",
        "MaxPool",
        "Flatten",
        "Gemm",
    ]
    for name, hidden, gates in (("gru32.onnx", 32, 3), ("lstm64.onnx", 64, 4)):
        m = onnx.load(str(FIXTURE_DIR / name))
        assert m.opset_import[0].version == 17
        dims = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
        assert dims == [1, WINDOW, 5]
        rnn = m.graph.node[1]
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in rnn.attribute}
        assert attrs["hidden_size"] == hidden
        assert attrs.get("linear_before_reset", 1 if gates == 3 else 0) == (gates == 3)
        assert rnn.input[4] == ""  # sequence_lens unused
        inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
        assert inits[rnn.input[1]].shape == (1, gates * hidden, 5)
        assert inits[rnn.input[2]].shape == (1, gates * hidden, hidden)
        assert inits[rnn.input[3]].shape == (1, 2 * gates * hidden)
        assert not np.any(inits[rnn.input[5]])  # zero initial state
        gemm = m.graph.node[-1]
        assert inits[gemm.input[1]].shape == (3, hidden)
        assert {a.name: a.i for a in gemm.attribute if a.name == "transB"} == {"transB": 1}


def heldout() -> WindowSet:
    """Every 4th window of the committed held-out rows."""
    data = np.load(FIXTURE_DIR / HELDOUT_FILE)
    assert str(data["spec"]) == REGIME_SPEC and int(data["window"]) == WINDOW
    cfg = WindowConfig()
    parts = [
        rows_to_windows(RegimeRows(r.astype(np.int64), lab.astype(np.int64)), cfg, stride=4)
        for r, lab in zip(data["rows"], data["labels"], strict=True)
    ]
    return concat(parts)


def test_heldout_fixture_rows_are_the_twin_of_its_prices() -> None:
    """The committed held-out rows are the on-chain feature twin over the committed Q32 prices
    (integers only, so this holds on any machine), labelled by the regime of each row's step."""
    data = np.load(FIXTURE_DIR / HELDOUT_FILE)
    spec = FeatureSpec.parse(str(data["spec"]))
    for prices, rows in zip(data["prices"], data["rows"], strict=True):
        assert np.array_equal(np.asarray(training_rows(prices.tolist(), spec)), rows)
    # The labels hold all three regimes in runs (a regime's run spans many rows).
    labels = data["labels"].astype(np.int64)
    assert set(np.unique(labels)) == {0, 1, 2}
    assert np.mean(labels[:, 1:] != labels[:, :-1]) < 0.03


@pytest.mark.parametrize("kind", sorted(MODEL_FILES))
def test_fixture_models_beat_chance_clearly(kind: str) -> None:
    """Held-out windows (paths the training never saw), run by onnxruntime: well above the
    majority-class rate."""
    w = heldout()
    logits = onnxruntime_logits(FIXTURE_DIR / MODEL_FILES[kind], w.as_sequences())
    acc = float(np.mean(np.argmax(logits, axis=1) == w.y))
    majority = max(np.mean(w.y == k) for k in range(3))
    assert majority < 0.45
    assert acc > 0.7, acc
    summary = json.loads((FIXTURE_DIR / SUMMARY_FILE).read_text())["models"][kind]
    assert summary["heldout_accuracy"] > 0.7
    assert summary["onnx_max_abs_diff"] < 1e-4


def test_fixture_onnx_equals_a_numpy_forward_of_its_weights() -> None:
    """Rebuild the numpy model from the GRU file's initializers (undoing the gate reorder) and
    compare with onnxruntime on held-out windows: the file holds the model it claims."""
    m = onnx.load(str(FIXTURE_DIR / "gru32.onnx"))
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    rnn = m.graph.node[1]
    back = (1, 0, 2)  # (z, r, h) -> (r, z, n): the permutation is its own inverse
    b = inits[rnn.input[3]][0]
    params = {
        "gru.weight_ih_l0": reorder_gates(inits[rnn.input[1]][0], back),
        "gru.weight_hh_l0": reorder_gates(inits[rnn.input[2]][0], back),
        "gru.bias_ih_l0": reorder_gates(b[:96], back),
        "gru.bias_hh_l0": reorder_gates(b[96:], back),
        "fc.weight": inits["fc.weight"],
        "fc.bias": inits["fc.bias"],
    }
    net = GRUNet(params, WINDOW, 5)
    w = heldout().as_sequences()[:40]
    diff = np.max(np.abs(onnxruntime_logits(FIXTURE_DIR / "gru32.onnx", w) - net.forward(w)))
    assert diff < 1e-4


def test_training_is_deterministic_and_learns() -> None:
    cfg = WindowConfig()
    parts = [rows_to_windows(path_rows(cfg, 700 + i), cfg) for i in range(4)]
    w = concat(parts)
    std = Standardizer.fit(w)
    x = std.apply(w.as_sequences()).astype(np.float32)
    spec = ModelSpec("conv", hidden=4, steps=150, batch=32, lr=1e-2, seed=3)
    runs = []
    for _ in range(2):
        net = spec.build(5, WINDOW)
        loss = adam_train(net, x, w.y, spec)
        runs.append((net, loss))
    (a, la), (b, lb) = runs
    assert la == lb
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert la < 0.9  # below the ~1.08 of guessing the class frequencies
