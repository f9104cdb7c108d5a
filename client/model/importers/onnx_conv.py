"""ONNX sequence graphs: 1-D ``Conv``, pooling and the reshapes around them, in the shape
``torch.onnx.export`` (opset 17, batch 1) writes for

    x (1, T, F) -> transpose(1, 2) -> nn.Conv1d -> ReLU -> pool -> flatten -> nn.Linear

PyTorch is channels-first ``(N, C, L)``; ml_agent activations are time-major, channels-last
(value ``(t, c)`` at ``t * C + c``, docs/model-format.md "Conv1D and pooling"). The walker
tracks which of the two the current tensor is: a ``Transpose`` (perm ``[0, 2, 1]``) only flips
that flag (our flat vector does not move), convolutions and pools read channels-first, and a
``Flatten`` / ``Reshape`` of a channels-first ``(1, C, L)`` tensor, which PyTorch orders
channel-major (``c * L + t``), permutes the columns of the ``Linear`` that reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import UnsupportedModelError
from ..ir import (
    ActivationLayer,
    Conv1dLayer,
    DenseLayer,
    FloatModel,
    Head,
    Layer,
    Pool1dLayer,
    PoolKind,
)
from ._chain import finish_chain


def sequence_input(graph: Any, x: str) -> tuple[int, int] | None:
    """``(T, F)`` of a 3-D ``[1 or batch, T, F]`` graph input, else None."""
    for i in graph.input:
        if i.name == x:
            dims = i.type.tensor_type.shape.dim
            if len(dims) == 3 and dims[1].dim_value and dims[2].dim_value:
                return int(dims[1].dim_value), int(dims[2].dim_value)
    return None


class _Seq:
    """The current tensor: a sequence ``(T, C)`` viewed channels-first or not, or flat."""

    def __init__(self, t: int, c: int) -> None:
        self.t, self.c = t, c
        self.channels_first = False
        self.flat = False
        # A flattened channels-first sequence is ordered c * T + t by PyTorch.
        self.channel_major = False

    @property
    def width(self) -> int:
        return self.t * self.c


def _ints(node: Any, key: str, default: list[int]) -> list[int]:
    return [int(v) for v in node.attrs.get(key, default)]


def _conv(node: Any, consts: dict[str, NDArray[Any]], seq: _Seq, label: str) -> Conv1dLayer:
    if seq.flat or not seq.channels_first:
        raise UnsupportedModelError(
            f"{label}: Conv reads a channels-first (N, C, L) tensor; transpose the (1, T, F) "
            "window first (x.transpose(1, 2))"
        )
    if len(node.inputs) < 2 or node.inputs[1] not in consts:
        raise UnsupportedModelError(f"{label}: the weight must be an initializer")
    w = np.asarray(consts[node.inputs[1]], dtype=np.float64)
    if w.ndim != 3:
        raise UnsupportedModelError(f"{label}: only 1-D convolutions (weight C_out x C_in x K)")
    if int(node.attrs.get("group", 1)) != 1:
        raise UnsupportedModelError(f"{label}: groups != 1 (depthwise) is not supported")
    auto_pad = str(node.attrs.get("auto_pad", "NOTSET"))
    if auto_pad not in ("NOTSET", "VALID"):
        raise UnsupportedModelError(f"{label}: auto_pad {auto_pad} is not supported (pass pads)")
    k = w.shape[2]
    if _ints(node, "kernel_shape", [k]) != [k]:
        raise UnsupportedModelError(f"{label}: kernel_shape differs from the weight's")
    strides = _ints(node, "strides", [1])
    dil = _ints(node, "dilations", [1])
    pads = [0, 0] if auto_pad == "VALID" else _ints(node, "pads", [0, 0])
    if len(strides) != 1 or len(dil) != 1 or len(pads) != 2:
        raise UnsupportedModelError(f"{label}: only 1-D strides, dilations and pads")
    if w.shape[1] != seq.c:
        raise UnsupportedModelError(
            f"{label}: weight expects {w.shape[1]} input channels, the tensor has {seq.c}"
        )
    bias = np.zeros(w.shape[0])
    if len(node.inputs) > 2 and node.inputs[2]:
        if node.inputs[2] not in consts:
            raise UnsupportedModelError(f"{label}: the bias must be an initializer")
        bias = np.asarray(consts[node.inputs[2]], dtype=np.float64).reshape(-1)
    for what, v, lo, hi in (
        ("kernel", k, 1, 255),
        ("stride", strides[0], 1, 255),
        ("dilation", dil[0], 1, 255),
        ("pad", min(pads), 0, 255),
        ("pad", max(pads), 0, 255),
    ):
        if not lo <= v <= hi:
            raise UnsupportedModelError(f"{label}: {what} {v} outside {lo}..{hi}")
    return Conv1dLayer(
        w, bias, seq.t, stride=strides[0], pad_left=pads[0], pad_right=pads[1], dilation=dil[0]
    )


def _pool(node: Any, seq: _Seq, label: str) -> Pool1dLayer:
    if seq.flat or not seq.channels_first:
        raise UnsupportedModelError(f"{label}: pooling reads a channels-first (N, C, L) tensor")
    kind = PoolKind.MAX if "Max" in node.op else PoolKind.AVG
    if node.op.startswith("Global"):
        return Pool1dLayer(kind, seq.c, seq.t, seq.t, 1)
    kernel = _ints(node, "kernel_shape", [])
    if len(kernel) != 1:
        raise UnsupportedModelError(f"{label}: only 1-D pooling kernels")
    strides = _ints(node, "strides", [1])
    if any(_ints(node, "pads", [0, 0])):
        raise UnsupportedModelError(f"{label}: padded pooling is not supported")
    if int(node.attrs.get("ceil_mode", 0)):
        raise UnsupportedModelError(f"{label}: ceil_mode=1 is not supported")
    if any(d != 1 for d in _ints(node, "dilations", [1])):
        raise UnsupportedModelError(f"{label}: dilated pooling is not supported")
    if str(node.attrs.get("auto_pad", "NOTSET")) not in ("NOTSET", "VALID"):
        raise UnsupportedModelError(f"{label}: auto_pad is not supported")
    if int(node.attrs.get("storage_order", 0)):
        raise UnsupportedModelError(f"{label}: storage_order=1 is not supported")
    if kernel[0] > seq.t:
        raise UnsupportedModelError(f"{label}: kernel {kernel[0]} longer than {seq.t} steps")
    return Pool1dLayer(kind, seq.c, seq.t, kernel[0], strides[0])


def _reduce(node: Any, seq: _Seq, label: str) -> Pool1dLayer:
    """ReduceMean / ReduceMax over time (``x.mean(dim=2)``): global pooling."""
    axes = _ints(node, "axes", [])
    time_axis = 2 if seq.channels_first else 1
    if seq.flat or [a % 3 for a in axes] != [time_axis]:
        raise UnsupportedModelError(f"{label}: only a reduction over the time axis is supported")
    kind = PoolKind.MAX if node.op == "ReduceMax" else PoolKind.AVG
    return Pool1dLayer(kind, seq.c, seq.t, seq.t, 1)


def _flatten(node: Any, consts: dict[str, NDArray[Any]], seq: _Seq, label: str) -> None:
    if node.op == "Flatten" and int(node.attrs.get("axis", 1)) != 1:
        raise UnsupportedModelError(f"{label}: Flatten axis must be 1")
    if node.op == "Reshape":
        if len(node.inputs) < 2 or node.inputs[1] not in consts:
            raise UnsupportedModelError(f"{label}: the target shape must be a constant")
        shape = [int(v) for v in np.asarray(consts[node.inputs[1]]).reshape(-1)]
        if len(shape) != 2 or shape[0] not in (1, -1, 0) or shape[1] not in (-1, seq.width):
            raise UnsupportedModelError(
                f"{label}: only a flatten to (1, {seq.width}) is supported, got {shape}"
            )
    if not seq.flat:
        seq.channel_major = seq.channels_first and seq.t > 1
        seq.flat = True


def _time_major_columns(w: NDArray[Any], t: int, c: int) -> NDArray[Any]:
    """A Linear's weight over PyTorch's channel-major flatten (column ``c * T + t``) as the
    weight over our time-major vector (column ``t * C + c``)."""
    cols = (np.arange(c)[None, :] * t + np.arange(t)[:, None]).reshape(-1)
    out: NDArray[Any] = w[:, cols]
    return out


def import_sequence_chain(
    nodes: list[Any],
    consts: dict[str, NDArray[Any]],
    x: str,
    t: int,
    f: int,
    outputs: list[str],
    labels: Sequence[int | str] | None,
    task: str | None,
    model_name: str,
) -> FloatModel:
    from .onnx import _ACTS, _bias_operand, _dense

    consumers: dict[str, list[Any]] = {}
    for n in nodes:
        for i in n.inputs:
            consumers.setdefault(i, []).append(n)
    seq = _Seq(t, f)
    layers: list[Layer] = []
    head = Head.NONE
    cur = x
    while True:
        nxt = consumers.get(cur, [])
        if not nxt:
            break
        if len(nxt) > 1:
            raise UnsupportedModelError(f"tensor {cur!r} feeds several nodes")
        node = nxt[0]
        label = f"{node.op} node {node.name!r}"
        if head is not Head.NONE:
            raise UnsupportedModelError(f"{label} after the final Softmax is not supported")
        if node.op == "Transpose":
            perm = _ints(node, "perm", [])
            if seq.flat or perm != [0, 2, 1]:
                raise UnsupportedModelError(f"{label}: only perm [0, 2, 1] on a sequence")
            seq.channels_first = not seq.channels_first
        elif node.op == "Conv":
            conv = _conv(node, consts, seq, label)
            layers.append(conv)
            seq.t, seq.c = conv.t_out, conv.c_out
        elif node.op in ("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"):
            pool = _pool(node, seq, label)
            layers.append(pool)
            seq.t = pool.t_out
        elif node.op in ("ReduceMean", "ReduceMax"):
            pool = _reduce(node, seq, label)
            layers.append(pool)
            seq.t = 1
            if not int(node.attrs.get("keepdims", 1)):
                seq.flat = True
        elif node.op in ("Flatten", "Reshape"):
            _flatten(node, consts, seq, label)
        elif node.op == "Squeeze":
            if seq.t != 1:
                raise UnsupportedModelError(f"{label}: only squeezing a length-1 time axis")
            seq.flat = True
        elif node.op in ("Gemm", "MatMul"):
            if not seq.flat:
                if seq.t != 1:
                    raise UnsupportedModelError(
                        f"{label}: a Linear over a (1, C, L) sequence needs a Flatten first"
                    )
                seq.flat = True
            dense = _dense(node, consts, label, seq.width)
            if seq.channel_major:
                dense = DenseLayer(_time_major_columns(dense.weight, seq.t, seq.c), dense.bias)
                seq.channel_major = False
            layers.append(dense)
            seq.t, seq.c = 1, dense.n_out
        elif node.op == "Add":
            last = layers[-1] if layers else None
            if not isinstance(last, DenseLayer):
                raise UnsupportedModelError(f"{label}: Add is only a bias after Gemm/MatMul")
            bias = _bias_operand(node, consts, label)
            layers[-1] = DenseLayer(last.weight, last.bias + np.broadcast_to(bias, last.bias.shape))
        elif node.op in _ACTS:
            if not layers:
                raise UnsupportedModelError(f"{label}: an activation before the first layer")
            layers.append(
                ActivationLayer(
                    _ACTS[node.op],
                    float(node.attrs.get("alpha", 0.2)),
                    float(node.attrs.get("beta", 0.5)),
                )
            )
        elif node.op == "Softmax":
            if int(node.attrs.get("axis", -1)) not in (-1, 1) or not seq.flat:
                raise UnsupportedModelError(f"{label}: Softmax over the class axis only")
            head = Head.SOFTMAX
        elif node.op in ("Identity", "Dropout"):
            pass
        else:
            raise UnsupportedModelError(f"unsupported op {node.op} (node {node.name!r})")
        cur = node.output
    if cur not in outputs:
        raise UnsupportedModelError(
            f"the chain from the input ends at {cur!r}, which is not the graph output {outputs}"
        )
    if not seq.flat:
        raise UnsupportedModelError("the graph ends on a sequence: flatten it into a Linear")
    return finish_chain(layers, head, seq.width, t * f, labels, task, model_name, "onnx")
