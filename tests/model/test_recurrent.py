"""GRU and LSTM: the integer reference against the pure-Python walker (which reads the file
bytes) and the float model, the strict loader, feasibility, and the ONNX importer on graphs in
the shape `torch.onnx.export` writes for `nn.GRU` / `nn.LSTM(batch_first=True)` + `nn.Linear`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from client.model.compiler import compile_model
from client.model.errors import ModelFormatError, UnsupportedModelError
from client.model.feasibility import assess, cu_terms, job_sizes
from client.model.format import decode, encode, encode_with_spans
from client.model.importers.onnx import import_onnx
from client.model.ir import CellKind, DenseLayer, FloatModel, Head, RecurrentLayer
from client.model.pure import infer as pure_infer
from client.model.qmodel import DType, QRecurrent
from client.model.recurrent import gate_table, group_decode, group_encode, lut16
from client.model.reference import execute, features_to_q16
from client.model.rnn_compile import compile_recurrent

F64 = NDArray[np.float64]


def float_model(
    cell: CellKind, steps: int, feats: int, hid: int, *, seq: bool = False, seed: int = 0
) -> FloatModel:
    rng = np.random.default_rng(seed)
    g = 3 if cell is CellKind.GRU else 4
    rec = RecurrentLayer(
        cell,
        steps,
        rng.normal(0, 0.5, (g * hid, feats)),
        rng.normal(0, 0.5, (g * hid, hid)),
        rng.normal(0, 0.2, g * hid),
        rng.normal(0, 0.2, g * hid),
        seq,
    )
    head = DenseLayer(rng.normal(0, 1.0, (3, rec.n_out)), rng.normal(0, 0.1, 3))
    return FloatModel(steps * feats, (rec, head), Head.SOFTMAX, labels=(0, 1, 2))


CASES = [
    (cell, dtype, seq)
    for cell in (CellKind.GRU, CellKind.LSTM)
    for dtype in (DType.I8, DType.I16)
    for seq in (False, True)
]


@pytest.mark.parametrize(("cell", "dtype", "seq"), CASES)
def test_reference_pure_and_loader_agree(cell: CellKind, dtype: DType, seq: bool) -> None:
    fm = float_model(cell, 7, 3, 5, seq=seq, seed=int(dtype) + 2 * seq)
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1.0, (300, fm.n_features))
    qm = compile_recurrent(fm, x, (dtype,))
    op = qm.ops[0]
    assert isinstance(op, QRecurrent) and op.dtype is dtype and op.sequence is seq
    data = encode(qm)
    back = decode(data)
    assert encode(back) == data
    xf = features_to_q16(x[:40])
    tr = execute(qm, xf)
    assert (execute(back, xf).outputs == tr.outputs).all()
    for i in range(6):
        p = pure_infer(data, xf[i].tolist())
        assert p.layers[0] == tr.layers[0][i].tolist()
        assert p.outputs == tr.outputs[i].tolist() and p.cls == int(tr.classes[i])
    # h is Q15 inside INT16, as the next op's dtype check assumes.
    assert tr.layers[0].min() >= -32768 and tr.layers[0].max() <= 32767


@pytest.mark.parametrize(("cell", "dtype", "seq"), CASES)
def test_quantized_tracks_the_float_model(cell: CellKind, dtype: DType, seq: bool) -> None:
    fm = float_model(cell, 10, 4, 8, seq=seq, seed=3)
    rng = np.random.default_rng(2)
    calib = rng.normal(0, 1.0, (500, fm.n_features))
    qm = compile_recurrent(fm, calib, (dtype,))
    x = rng.normal(0, 1.0, (400, fm.n_features))
    tr = execute(qm, features_to_q16(x))
    rec = fm.layers[0]
    assert isinstance(rec, RecurrentLayer)
    h_err = np.abs(tr.layers[0] / 32768.0 - rec.forward(x)).max()
    agree = (tr.classes == fm.forward(x).classes).mean()
    # INT16 weights: h within a few 1e-4; INT8: within a few 1e-2 (8-bit weights, 8-bit input).
    assert h_err < (2e-3 if dtype is DType.I16 else 6e-2), h_err
    assert agree >= (0.99 if dtype is DType.I16 else 0.95), agree


def test_gate_tables_and_lut() -> None:
    sig, tanh = gate_table("sigmoid", 12), gate_table("tanh", 12)
    assert 0 <= sig.min() and sig.max() <= 32767 and -32767 <= tanh.min() and tanh.max() <= 32767
    assert (np.diff(sig) >= 0).all() and (np.diff(tanh) >= 0).all()
    q = np.arange(-32768, 32768, 97, dtype=np.int64)
    real = q / 4096.0
    assert np.abs(lut16(sig, q) / 32768.0 - 1 / (1 + np.exp(-real))).max() < 2e-4
    assert np.abs(lut16(tanh, q) / 32768.0 - np.tanh(real)).max() < 4e-4


def test_grouped_pairs_round_trip_and_padding() -> None:
    rng = np.random.default_rng(0)
    for rows in (1, 7, 8, 9, 24):
        w = rng.integers(-128, 128, (rows, 5))
        words = group_encode(w)
        assert words.size == -(-rows // 8) * 4 * 5
        back, ok = group_decode(words, rows, 5)
        assert ok and (back == w).all()
    bad = group_encode(rng.integers(-128, 128, (9, 3)))
    bad[-1] = 1  # a padding row's lane
    assert not group_decode(bad, 9, 3)[1]


def _field_offset(data: bytes, model_op: int, what: str) -> int:
    enc = encode_with_spans(decode(data))
    return next(s for s, _e, n in enc.spans if n == f"op[{model_op}].{what}")


def test_loader_refuses_bad_recurrent_records() -> None:
    fm = float_model(CellKind.GRU, 4, 3, 3, seed=5)
    x = np.random.default_rng(0).normal(0, 1, (100, fm.n_features))
    data = bytearray(encode(compile_recurrent(fm, x, (DType.I8,))))

    def refused(off: int, raw: bytes, field: str) -> None:
        bad = bytearray(data)
        bad[off : off + len(raw)] = raw
        with pytest.raises(ModelFormatError) as e:
            decode(bytes(bad))
        assert field in e.value.args[0] or field in str(e.value), str(e.value)

    base = _field_offset(bytes(data), 0, "kind")
    refused(base + 2, b"\x01", "layout")  # INT8 weights need PACKED
    refused(base + 3, b"\x02", "mode")
    refused(base + 12, (5).to_bytes(4, "little"), "n_in")  # steps * features != n_in
    refused(base + 24, b"\x00", "shift")
    refused(base + 26, (15).to_bytes(2, "little"), "p3")
    refused(base + 28, (1).to_bytes(4, "little"), "zp")
    wx = _field_offset(bytes(data), 0, "wx")
    refused(wx + 4, (1000).to_bytes(4, "little", signed=True), "wx")  # not an int8 lane
    mult = _field_offset(bytes(data), 0, "multiplier")
    refused(mult, (0).to_bytes(4, "little"), "multiplier")


def test_feasibility_counts_steps_and_state() -> None:
    fm = float_model(CellKind.LSTM, 120, 5, 64, seed=1)
    x = np.random.default_rng(0).normal(0, 1, (64, fm.n_features))
    qm = compile_recurrent(fm, x, (DType.I8,))
    terms = cu_terms(qm)
    assert terms["rnn_step"] == 120 and terms["rnn_unit_lstm"] == 120 * 64
    assert terms["rnn_i8_word"] == 120 * (256 // 2) * (5 + 64)
    f = assess(qm)
    # 600 features do not fit an infer transaction, and 2.1M MACs not one transaction's CU:
    # routes (a features account, a job), not refusals. The job persists h and c only (the
    # gate buffers are a step's working words), so the memo's LSTM fits a 10 KiB job account.
    assert f.ok and f.needs_features_account and f.needs_job
    assert job_sizes(qm).state_words == 128 and job_sizes(qm).tmp_words == 128 + 2 * 256
    assert f.job_bytes == 312 + 2400 + 8 * (601 + 65 + 128) <= 10 * 1024
    seq = compile_model(
        float_model(CellKind.LSTM, 120, 5, 64, seq=True, seed=1), x, 8, check_feasible=False
    )
    assert isinstance(seq.ops[0], QRecurrent) and seq.ops[0].dtype is DType.I8
    msgs = [p.message for p in assess(seq).problems if p.limit == "scratch arena"]
    assert msgs and "state words" in msgs[0] and "sequence-to-last" in msgs[0]


# ---------------------------------------------------------------- ONNX (torch export shape)


def _onnx_graph(
    cell: str,
    steps: int,
    feats: int,
    hid: int,
    *,
    seq: bool = False,
    zero_state: str = "none",
    attrs: dict[str, Any] | None = None,
    seed: int = 0,
) -> tuple[Any, FloatModel | None]:
    """The graph `torch.onnx.export` writes for `out, _ = rnn(x); fc(out[:, -1, :])` (or
    `fc(out.reshape(1, -1))` with ``seq``), opset 17, batch 1."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    g = 3 if cell == "GRU" else 4
    w = rng.normal(0, 0.5, (1, g * hid, feats)).astype(np.float32)
    r = rng.normal(0, 0.5, (1, g * hid, hid)).astype(np.float32)
    b = rng.normal(0, 0.2, (1, 2 * g * hid)).astype(np.float32)
    n_head_in = steps * hid if seq else hid
    fc_w = rng.normal(0, 1.0, (3, n_head_in)).astype(np.float32)
    fc_b = rng.normal(0, 0.1, 3).astype(np.float32)
    inits = [
        numpy_helper.from_array(w, "W"),
        numpy_helper.from_array(r, "R"),
        numpy_helper.from_array(b, "B"),
        numpy_helper.from_array(fc_w, "fc.weight"),
        numpy_helper.from_array(fc_b, "fc.bias"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axes1"),
        numpy_helper.from_array(np.array(-1, dtype=np.int64), "last"),
        numpy_helper.from_array(np.array([1, -1], dtype=np.int64), "flat"),
    ]
    nodes = [helper.make_node("Transpose", ["x"], ["x_t"], perm=[1, 0, 2])]
    rnn_inputs = ["x_t", "W", "R", "B"]
    if zero_state == "const":
        inits.append(numpy_helper.from_array(np.zeros((1, 1, hid), np.float32), "h0"))
        rnn_inputs += ["", "h0"]
    elif zero_state == "shape":
        inits += [
            numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
            numpy_helper.from_array(np.array([hid], dtype=np.int64), "hid"),
            numpy_helper.from_array(np.array(0, dtype=np.int64), "zero_idx"),
        ]
        nodes += [
            helper.make_node("Shape", ["x"], ["x_shape"]),
            helper.make_node("Gather", ["x_shape", "zero_idx"], ["batch"], axis=0),
            helper.make_node("Unsqueeze", ["batch", "zero_axes"], ["batch1"]),
            helper.make_node("Concat", ["one", "batch1", "hid"], ["h0_shape"], axis=0),
            helper.make_node(
                "ConstantOfShape",
                ["h0_shape"],
                ["h0"],
                value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.0]),
            ),
        ]
        inits.append(numpy_helper.from_array(np.array([0], dtype=np.int64), "zero_axes"))
        rnn_inputs += ["", "h0"]
    rnn_attrs: dict[str, Any] = {"hidden_size": hid}
    if cell == "GRU":
        rnn_attrs["linear_before_reset"] = 1
    rnn_attrs.update(attrs or {})
    outs = ["Y", "Y_h"] + (["Y_c"] if cell == "LSTM" else [])
    nodes.append(helper.make_node(cell, rnn_inputs, outs, **rnn_attrs))
    nodes += [
        helper.make_node("Squeeze", ["Y", "axes1"], ["Y_s"]),
        helper.make_node("Transpose", ["Y_s"], ["Y_b"], perm=[1, 0, 2]),
    ]
    if seq:
        nodes.append(helper.make_node("Reshape", ["Y_b", "flat"], ["feat"]))
    else:
        nodes.append(helper.make_node("Gather", ["Y_b", "last"], ["feat"], axis=1))
    nodes.append(helper.make_node("Gemm", ["feat", "fc.weight", "fc.bias"], ["logits"], transB=1))
    graph = helper.make_graph(
        nodes,
        f"{cell.lower()}_window",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, steps, feats])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model, None


def _ort(model: Any, x: F64) -> F64:
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    steps, feats = sess.get_inputs()[0].shape[1:]
    out = [
        sess.run(None, {"x": row.reshape(1, steps, feats).astype(np.float32)})[0][0] for row in x
    ]
    return np.asarray(out, dtype=np.float64)


@pytest.mark.parametrize("cell", ["GRU", "LSTM"])
@pytest.mark.parametrize("seq", [False, True])
@pytest.mark.parametrize("zero_state", ["none", "const", "shape"])
def test_onnx_import_matches_onnxruntime(cell: str, seq: bool, zero_state: str) -> None:
    steps, feats, hid = 12, 5, 8
    model, _ = _onnx_graph(cell, steps, feats, hid, seq=seq, zero_state=zero_state, seed=4)
    fm = import_onnx(model, labels=["trend", "revert", "crisis"])
    rec = fm.layers[0]
    assert isinstance(rec, RecurrentLayer) and rec.sequence is seq
    assert rec.cell is (CellKind.GRU if cell == "GRU" else CellKind.LSTM)
    rng = np.random.default_rng(7)
    x = rng.normal(0, 1.0, (200, steps * feats))
    want = _ort(model, x)
    got = fm.forward(x).outputs
    assert np.abs(got - want).max() < 1e-4
    # Quantized (INT16 recurrent weights, INT16 head) against onnxruntime's classes.
    qm = compile_recurrent(fm, rng.normal(0, 1.0, (500, steps * feats)), (DType.I16,))
    tr = execute(qm, features_to_q16(x))
    agree = (tr.classes == want.argmax(axis=1)).mean()
    assert agree >= 0.99, agree


@pytest.mark.parametrize(
    ("cell", "attrs", "message"),
    [
        ("GRU", {"direction": "bidirectional"}, "direction"),
        ("LSTM", {"direction": "reverse"}, "direction"),
        ("GRU", {"clip": 3.0}, "clip"),
        ("GRU", {"activations": ["Sigmoid", "Relu"]}, "activations"),
        ("LSTM", {"layout": 1}, "layout=1"),
        ("GRU", {"linear_before_reset": 0}, "linear_before_reset=0"),
        ("LSTM", {"input_forget": 1}, "input_forget"),
    ],
)
def test_onnx_refuses_unsupported_attributes(
    cell: str, attrs: dict[str, Any], message: str
) -> None:
    model, _ = _onnx_graph(cell, 4, 3, 4, attrs=attrs)
    with pytest.raises(UnsupportedModelError, match=message):
        import_onnx(model)


def test_onnx_refuses_nonzero_initial_state() -> None:
    from onnx import numpy_helper

    model, _ = _onnx_graph("GRU", 4, 3, 4, zero_state="const")
    for i, t in enumerate(model.graph.initializer):
        if t.name == "h0":
            model.graph.initializer[i].CopyFrom(
                numpy_helper.from_array(np.ones((1, 1, 4), np.float32), "h0")
            )
    with pytest.raises(UnsupportedModelError, match="initial_h"):
        import_onnx(model)


def test_auto_precision_promotes_the_recurrent_op() -> None:
    from client.model.autoprecision import compile_auto

    fm = float_model(CellKind.LSTM, 10, 4, 8, seed=3)
    x = np.random.default_rng(0).normal(0, 1.0, (600, fm.n_features))
    r = compile_auto(fm, x, check_feasible=False)
    op = r.qmodel.ops[0]
    assert isinstance(op, QRecurrent)
    assert r.trials[0].precisions == ("int8", "int8")
    assert r.agreement >= 0.99 and op.dtype.name == r.precisions[0].upper().replace("INT", "I")


@pytest.mark.parametrize("cell", [CellKind.GRU, CellKind.LSTM])
@pytest.mark.parametrize("seq", [False, True])
def test_speed_mode_executors_agree_and_track_the_float_model(cell: CellKind, seq: bool) -> None:
    fm = float_model(cell, 9, 4, 13, seq=seq, seed=11)
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1.0, (400, fm.n_features))
    qm = compile_recurrent(fm, x, (DType.I8,), prefer="speed")
    op = qm.ops[0]
    assert isinstance(op, QRecurrent) and op.h8
    data = encode(qm)
    assert decode(data).ops[0].h8 and encode(decode(data)) == data  # type: ignore[union-attr]
    xf = features_to_q16(x[:200])
    tr = execute(qm, xf)
    for i in range(4):
        p = pure_infer(data, xf[i].tolist())
        assert p.layers[0] == tr.layers[0][i].tolist() and p.outputs == tr.outputs[i].tolist()
    rec = fm.layers[0]
    assert isinstance(rec, RecurrentLayer)
    assert np.abs(tr.layers[0] / 32768.0 - rec.forward(x[:200])).max() < 0.08
    assert (tr.classes == fm.forward(x[:200]).classes).mean() >= 0.95
    # More than 64 hidden units cannot keep PACKED3's lanes exact: the compiler keeps pairs.
    wide = compile_recurrent(
        float_model(cell, 3, 2, 65, seed=1), x[:, :6], (DType.I8,), prefer="speed"
    )
    assert not wide.ops[0].h8  # type: ignore[union-attr]
