"""The float sequence models as ONNX graphs in ``torch.onnx.export``'s shape (opset 17, batch 1).

torch is not installed here, so the graphs are written with ``onnx.helper``, node for node as the
TorchScript exporter (``torch.onnx.export(model, torch.zeros(1, T, F), f, opset_version=17,
input_names=["input"], output_names=["output"])``, constant folding on) emits them for the
equivalent modules (``torch/onnx/symbolic_opset9.py``: ``_generic_rnn``, ``linear``,
``flatten``; ``symbolic_opset10``: ``max_pool``):

GRU (``nn.GRU(F, H, batch_first=True)``; ``out, _ = gru(x); fc(out[:, -1, :])``)::

    /gru/Transpose  Transpose(input) perm=[1,0,2]                       (T, 1, F)
    /gru/GRU        GRU(X, W, R, B, "", initial_h) hidden_size=H,
                    linear_before_reset=1                               Y (T, 1, 1, H), Y_h
    /gru/Squeeze    Squeeze(Y, axes=[1])                                (T, 1, H)
    /gru/Transpose_1 Transpose perm=[1,0,2]                             (1, T, H)
    /Gather         Gather(axis=1, indices=-1 scalar)                   (1, H)
    /fc/Gemm        Gemm(alpha=1, beta=1, transB=1)(., fc.weight, fc.bias) -> output (1, K)

W ``(1, 3H, F)``, R ``(1, 3H, H)`` and B ``(1, 6H)`` = ``[Wb, Rb]`` are PyTorch's
``weight_ih_l0``/``weight_hh_l0``/``bias_ih_l0``/``bias_hh_l0`` with the gate blocks reordered
from PyTorch's (r, z, n) to ONNX's (z, r, h) (the exporter's Slice/Concat/Unsqueeze on the
parameters is constant-folded into initializers ``onnx::GRU_<n>``); ``initial_h`` is the folded
``torch.zeros(1, 1, H)`` nn.GRU makes when no state is passed; ``sequence_lens`` is the empty
name.

LSTM (``nn.LSTM(F, H, batch_first=True)``): the same with ``/lstm/LSTM`` (three outputs,
``hidden_size=H``, no other attribute), gate blocks reordered from (i, f, g, o) to ONNX's
(i, o, f, c), B ``(1, 8H)``, and ``initial_h``/``initial_c`` one zeros initializer used twice
(the exporter deduplicates equal initializers).

Conv (``x.transpose(1, 2)`` -> ``nn.Conv1d(F, C, K)`` -> ``nn.ReLU()`` -> ``nn.MaxPool1d(P)``
-> ``nn.Flatten()`` -> ``nn.Linear(C * L, K)``)::

    /Transpose      Transpose(input) perm=[0,2,1]                        (1, F, T)
    /conv/Conv      Conv(., conv.weight, conv.bias) dilations=[1], group=1,
                    kernel_shape=[K], pads=[0,0], strides=[1]           (1, C, T-K+1)
    /relu/Relu
    /pool/MaxPool   MaxPool ceil_mode=0, kernel_shape=[P], pads=[0,0], strides=[P]
    /flatten/Flatten Flatten axis=1                                     (1, C * L), index c*L + l
    /fc/Gemm        Gemm(alpha=1, beta=1, transB=1) -> output
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from .sequence_nets import ConvNet, GRUNet, LSTMNet, SequenceNet

OPSET = 17
IR_VERSION = 8  # what torch 2.x writes for opset 17
PRODUCER = "ml_agent.sequence_onnx"
INPUT = "input"
OUTPUT = "output"
# PyTorch gate block -> ONNX gate block order (the exporter's reform_permutation).
GRU_ORDER = (1, 0, 2)  # (r, z, n) -> (z, r, h)
LSTM_ORDER = (0, 3, 1, 2)  # (i, f, g, o) -> (i, o, f, c)


def reorder_gates(w: NDArray[np.float32], order: tuple[int, ...]) -> NDArray[np.float32]:
    """Blocks of ``w``'s first axis (``len(order)`` equal blocks) in ``order``."""
    blocks = np.split(w, len(order), axis=0)
    return np.concatenate([blocks[i] for i in order], axis=0)


def _init(name: str, value: NDArray[np.floating]) -> TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name)


def _const(name: str, value: NDArray[np.int64]) -> onnx.NodeProto:
    out = f"{name}_output_0"
    return helper.make_node(
        "Constant", [], [out], name=name, value=numpy_helper.from_array(value, out)
    )


def _gemm(x: str) -> onnx.NodeProto:
    return helper.make_node(
        "Gemm",
        [x, "fc.weight", "fc.bias"],
        [OUTPUT],
        name="/fc/Gemm",
        alpha=1.0,
        beta=1.0,
        transB=1,
    )


def _rnn_graph(net: GRUNet | LSTMNet) -> onnx.GraphProto:
    p = net.params
    lstm = isinstance(net, LSTMNet)
    mod, op = ("lstm", "LSTM") if lstm else ("gru", "GRU")
    order = LSTM_ORDER if lstm else GRU_ORDER
    hd = net.hidden
    w = reorder_gates(p[f"{mod}.weight_ih_l0"], order)[None]
    r = reorder_gates(p[f"{mod}.weight_hh_l0"], order)[None]
    b = np.concatenate(
        [reorder_gates(p[f"{mod}.bias_ih_l0"], order), reorder_gates(p[f"{mod}.bias_hh_l0"], order)]
    )[None]
    # Folded-constant names as the exporter numbers them (the numbers themselves are arbitrary).
    w_name, r_name, b_name, h0_name = (f"onnx::{op}_{n}" for n in (171, 172, 173, 174))
    inits = [
        _init("fc.weight", p["fc.weight"]),
        _init("fc.bias", p["fc.bias"]),
        _init(w_name, w),
        _init(r_name, r),
        _init(b_name, b),
        _init(h0_name, np.zeros((1, 1, hd), dtype=np.float32)),
    ]
    t_out = f"/{mod}/Transpose_output_0"
    rnn_inputs = [t_out, w_name, r_name, b_name, "", h0_name] + ([h0_name] if lstm else [])
    rnn_outputs = [f"/{mod}/{op}_output_{i}" for i in range(3 if lstm else 2)]
    attrs: dict[str, Any] = {"hidden_size": hd}
    if not lstm:
        attrs["linear_before_reset"] = 1
    nodes = [
        helper.make_node("Transpose", [INPUT], [t_out], name=f"/{mod}/Transpose", perm=[1, 0, 2]),
        helper.make_node(op, rnn_inputs, rnn_outputs, name=f"/{mod}/{op}", **attrs),
        _const(f"/{mod}/Constant", np.array([1], dtype=np.int64)),
        helper.make_node(
            "Squeeze",
            [rnn_outputs[0], f"/{mod}/Constant_output_0"],
            [f"/{mod}/Squeeze_output_0"],
            name=f"/{mod}/Squeeze",
        ),
        helper.make_node(
            "Transpose",
            [f"/{mod}/Squeeze_output_0"],
            [f"/{mod}/Transpose_1_output_0"],
            name=f"/{mod}/Transpose_1",
            perm=[1, 0, 2],
        ),
        _const("/Constant", np.array(-1, dtype=np.int64)),
        helper.make_node(
            "Gather",
            [f"/{mod}/Transpose_1_output_0", "/Constant_output_0"],
            ["/Gather_output_0"],
            name="/Gather",
            axis=1,
        ),
        _gemm("/Gather_output_0"),
    ]
    return _graph(f"main_graph_{mod}", nodes, inits, net)


def _conv_graph(net: ConvNet) -> onnx.GraphProto:
    p = net.params
    inits = [
        _init("conv.weight", p["conv.weight"]),
        _init("conv.bias", p["conv.bias"]),
        _init("fc.weight", p["fc.weight"]),
        _init("fc.bias", p["fc.bias"]),
    ]
    nodes = [
        helper.make_node(
            "Transpose", [INPUT], ["/Transpose_output_0"], name="/Transpose", perm=[0, 2, 1]
        ),
        helper.make_node(
            "Conv",
            ["/Transpose_output_0", "conv.weight", "conv.bias"],
            ["/conv/Conv_output_0"],
            name="/conv/Conv",
            dilations=[1],
            group=1,
            kernel_shape=[net.kernel],
            pads=[0, 0],
            strides=[1],
        ),
        helper.make_node(
            "Relu", ["/conv/Conv_output_0"], ["/relu/Relu_output_0"], name="/relu/Relu"
        ),
        helper.make_node(
            "MaxPool",
            ["/relu/Relu_output_0"],
            ["/pool/MaxPool_output_0"],
            name="/pool/MaxPool",
            ceil_mode=0,
            kernel_shape=[net.pool],
            pads=[0, 0],
            strides=[net.pool],
        ),
        helper.make_node(
            "Flatten",
            ["/pool/MaxPool_output_0"],
            ["/flatten/Flatten_output_0"],
            name="/flatten/Flatten",
            axis=1,
        ),
        _gemm("/flatten/Flatten_output_0"),
    ]
    return _graph("main_graph_conv", nodes, inits, net)


def _graph(
    name: str, nodes: list[onnx.NodeProto], inits: list[TensorProto], net: SequenceNet
) -> onnx.GraphProto:
    x = helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [1, net.window, net.n_features])
    y = helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [1, net.n_classes])
    return helper.make_graph(nodes, name, [x], [y], inits)


def to_onnx(net: SequenceNet) -> onnx.ModelProto:
    """The model as ``torch.onnx.export`` would write the equivalent torch module."""
    if isinstance(net, GRUNet | LSTMNet):
        graph = _rnn_graph(net)
    elif isinstance(net, ConvNet):
        graph = _conv_graph(net)
    else:
        raise TypeError(f"no ONNX export for {type(net).__name__}")
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name=PRODUCER
    )
    model.ir_version = IR_VERSION
    model.doc_string = (
        "Written by client/model/sequence_onnx.py in the node shape torch.onnx.export (opset 17, "
        "TorchScript exporter) gives the equivalent torch module; not a torch export."
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def save(net: SequenceNet, path: Path) -> bytes:
    data = to_onnx(net).SerializeToString()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def onnxruntime_logits(model: bytes | Path, windows: NDArray[np.floating]) -> NDArray[np.float32]:
    """Logits of each window ``(n, T, F)`` from onnxruntime with every graph optimization off
    (the graph is run as written), one batch-1 call per window."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    src = str(model) if isinstance(model, Path) else model
    sess = ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])
    out = [
        sess.run([OUTPUT], {INPUT: w[None].astype(np.float32)})[0][0] for w in np.asarray(windows)
    ]
    return np.asarray(out, dtype=np.float32)
