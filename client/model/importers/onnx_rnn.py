"""ONNX `GRU` / `LSTM` graphs as `torch.onnx.export` writes them for `nn.GRU` / `nn.LSTM`
(`batch_first=True`, one layer, unidirectional) followed by a dense head: opset 17, batch 1.

The graph around the recurrent node is a chain of layout ops (Transpose, Squeeze, Unsqueeze,
Gather, Slice, Reshape, Flatten, Identity). Rather than pattern-matching each exporter
variant, the importer pushes an *index tensor* through them: the window input becomes
`arange(T * F)` in its declared shape, the recurrent node's `Y` becomes `t * H + k` and `Y_h`
the last step's indices; after the layout ops, the recurrent node's input must hold exactly
the time-major window (`t * F + f` at `[t, 0, f]`) and the dense head's input names, for each
of its columns, which hidden value it reads. A head that reads only the last step makes a
sequence-to-last op (columns permuted into the weight), anything else a sequence-to-sequence
op (columns scattered into a `T * H`-wide weight). Small shape computations the exporter may
leave (`Shape` -> `Gather` -> `Concat` -> `ConstantOfShape`/`Expand` for a zero initial state)
are folded.

Refused with a one-line message: bidirectional or reverse direction, `clip`, non-default
activations, `layout = 1`, GRU `linear_before_reset = 0`, LSTM `input_forget = 1`, peepholes,
`sequence_lens`, a non-zero initial state, more than one recurrent node, LSTM's `Y_c` output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import UnsupportedModelError
from ..ir import ActivationLayer, CellKind, DenseLayer, FloatModel, Head, Layer, RecurrentLayer
from ._chain import finish_chain

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

RNN_OPS = {"GRU", "LSTM"}
# ONNX gate blocks -> PyTorch order: GRU z, r, h -> r, z, n; LSTM i, o, f, c -> i, f, g, o.
_GATE_ORDER = {"GRU": (1, 0, 2), "LSTM": (0, 2, 3, 1)}
_DEFAULT_ACTS = {"GRU": ["sigmoid", "tanh"], "LSTM": ["sigmoid", "tanh", "tanh"]}
_LAYOUT_OPS = {
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Gather",
    "Slice",
    "Reshape",
    "Flatten",
    "Identity",
    "Dropout",
}
# Marks an index of the recurrent output (as opposed to the window input).
_OUT = 1 << 40


def _input_shape(graph: Any, x: str) -> list[int]:
    for i in graph.input:
        if i.name == x:
            dims = [d.dim_value if d.dim_value else 1 for d in i.type.tensor_type.shape.dim]
            if len(dims) != 3:
                raise UnsupportedModelError(
                    f"graph input {x!r} must be a 3-D window [1, steps, features] "
                    f"(batch_first), got rank {len(dims)}"
                )
            if dims[0] != 1:
                raise UnsupportedModelError(f"graph input {x!r}: batch must be 1, got {dims[0]}")
            return dims
    raise UnsupportedModelError(f"graph input {x!r} not found")


def _ints(v: Any) -> list[int]:
    return [int(a) for a in np.asarray(v).reshape(-1)]


def _arg(node: Any, consts: dict[str, NDArray[Any]], idx: int, attr: str) -> list[int] | None:
    """An int list given as attribute (old opsets) or as a constant input (opset >= 13)."""
    if attr in node.attrs:
        return _ints(node.attrs[attr])
    if len(node.inputs) > idx and node.inputs[idx]:
        name = node.inputs[idx]
        if name not in consts:
            raise UnsupportedModelError(
                f"{node.op} node {node.name!r}: input {name!r} must be a constant"
            )
        return _ints(consts[name])
    return None


def _layout(node: Any, a: NDArray[Any], consts: dict[str, NDArray[Any]]) -> NDArray[Any]:
    """Apply one layout op to an index (or constant) tensor."""
    op = node.op
    if op in ("Identity", "Dropout"):
        return a
    if op == "Transpose":
        perm = _ints(node.attrs["perm"]) if "perm" in node.attrs else None
        return np.transpose(a, perm)
    if op == "Squeeze":
        axes = _arg(node, consts, 1, "axes")
        if axes is None:
            return np.squeeze(a)
        return np.squeeze(a, axis=tuple(ax % a.ndim for ax in axes))
    if op == "Unsqueeze":
        axes = _arg(node, consts, 1, "axes") or []
        out = a
        for ax in sorted(ax % (a.ndim + len(axes)) for ax in axes):
            out = np.expand_dims(out, ax)
        return out
    if op == "Gather":
        idx = consts.get(node.inputs[1])
        if idx is None:
            raise UnsupportedModelError(f"Gather node {node.name!r}: indices must be constant")
        return np.take(a, np.asarray(idx, dtype=np.int64), axis=int(node.attrs.get("axis", 0)))
    if op == "Slice":
        starts = _arg(node, consts, 1, "starts") or []
        ends = _arg(node, consts, 2, "ends") or []
        axes = _arg(node, consts, 3, "axes") or list(range(len(starts)))
        steps = _arg(node, consts, 4, "steps") or [1] * len(starts)
        sl: list[slice] = [slice(None)] * a.ndim
        for s, e, ax, st in zip(starts, ends, axes, steps, strict=True):
            n = a.shape[ax % a.ndim]
            sl[ax % a.ndim] = slice(max(min(s, n), -n - 1), max(min(e, n), -n - 1), st)
        return a[tuple(sl)]
    if op == "Reshape":
        shape = _arg(node, consts, 1, "shape") or []
        shape = [a.shape[i] if v == 0 else v for i, v in enumerate(shape)]
        return a.reshape(shape)
    if op == "Flatten":
        axis = int(node.attrs.get("axis", 1)) % max(a.ndim, 1)
        lead = int(np.prod(a.shape[:axis])) if axis else 1
        return a.reshape(lead, -1)
    raise UnsupportedModelError(f"unsupported op {op}")


def _fold(node: Any, consts: dict[str, NDArray[Any]], shapes: dict[str, tuple[int, ...]]) -> bool:
    """Constant-fold a small shape computation; True when the node's output became a
    constant."""
    op = node.op
    if op == "Shape" and node.inputs[0] in shapes:
        consts[node.output] = np.asarray(shapes[node.inputs[0]], dtype=np.int64)
        return True
    ins = [i for i in node.inputs if i]
    if not ins or not all(i in consts for i in ins):
        return False
    vals = [consts[i] for i in node.inputs if i]
    if op in _LAYOUT_OPS:
        consts[node.output] = _layout(node, consts[node.inputs[0]], consts)
    elif op == "Concat":
        consts[node.output] = np.concatenate(
            [np.atleast_1d(v) for v in vals], axis=int(node.attrs.get("axis", 0))
        )
    elif op == "ConstantOfShape":
        from onnx import numpy_helper

        fill = node.attrs.get("value")
        v = numpy_helper.to_array(fill).reshape(-1)[0] if fill is not None else 0.0
        consts[node.output] = np.full(_ints(vals[0]), v, dtype=np.float64)
    elif op == "Expand":
        shape = _ints(vals[1])
        consts[node.output] = vals[0] * np.ones(shape, dtype=np.asarray(vals[0]).dtype)
    elif op == "Cast":
        consts[node.output] = vals[0]
    elif op in ("Add", "Sub", "Mul", "Div"):
        f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op]
        consts[node.output] = f(vals[0], vals[1])
    else:
        return False
    return True


def _zero_or_absent(node: Any, consts: dict[str, NDArray[Any]], idx: int, what: str) -> None:
    if len(node.inputs) <= idx or not node.inputs[idx]:
        return
    name = node.inputs[idx]
    if name not in consts:
        raise UnsupportedModelError(
            f"{node.op} node {node.name!r}: {what} must be absent or a constant zero"
        )
    if np.any(np.asarray(consts[name]) != 0):
        raise UnsupportedModelError(
            f"{node.op} node {node.name!r}: a non-zero {what} is not supported (h_0 = c_0 = 0)"
        )


def _recurrent(node: Any, x_idx: NDArray[Any], consts: dict[str, NDArray[Any]]) -> RecurrentLayer:
    op, label = node.op, f"{node.op} node {node.name!r}"
    a = node.attrs
    direction = str(a.get("direction", "forward"))
    if direction != "forward":
        raise UnsupportedModelError(f"{label}: direction {direction!r} (only forward)")
    if "clip" in a:
        raise UnsupportedModelError(f"{label}: clip is not supported")
    acts = [str(s).lower() for s in a.get("activations", _DEFAULT_ACTS[op])]
    if acts != _DEFAULT_ACTS[op] or "activation_alpha" in a or "activation_beta" in a:
        raise UnsupportedModelError(
            f"{label}: activations {acts} (only the default {_DEFAULT_ACTS[op]})"
        )
    if int(a.get("layout", 0)) != 0:
        raise UnsupportedModelError(f"{label}: layout=1 is not supported (export with layout 0)")
    if op == "GRU" and int(a.get("linear_before_reset", 0)) != 1:
        raise UnsupportedModelError(
            f"{label}: linear_before_reset=0 is not supported (PyTorch's GRU exports 1)"
        )
    if op == "LSTM" and int(a.get("input_forget", 0)) != 0:
        raise UnsupportedModelError(f"{label}: input_forget=1 is not supported")
    names = node.inputs
    for i, what in ((1, "W"), (2, "R")):
        if len(names) <= i or names[i] not in consts:
            raise UnsupportedModelError(f"{label}: {what} must be an initializer")
    w = np.asarray(consts[names[1]], dtype=np.float64)
    r = np.asarray(consts[names[2]], dtype=np.float64)
    if w.ndim != 3 or w.shape[0] != 1 or r.ndim != 3 or r.shape[0] != 1:
        raise UnsupportedModelError(f"{label}: W and R must be [1, G*H, *] (one direction)")
    g = len(_GATE_ORDER[op])
    hid = r.shape[2]
    if "hidden_size" in a and int(a["hidden_size"]) != hid:
        raise UnsupportedModelError(f"{label}: hidden_size {a['hidden_size']} != R's {hid}")
    if w.shape[1] != g * hid or r.shape[1] != g * hid:
        raise UnsupportedModelError(f"{label}: W/R rows must be {g} x hidden_size = {g * hid}")
    b = np.zeros(2 * g * hid)
    if len(names) > 3 and names[3]:
        if names[3] not in consts:
            raise UnsupportedModelError(f"{label}: B must be an initializer")
        b = np.asarray(consts[names[3]], dtype=np.float64).reshape(-1)
    if len(names) > 4 and names[4]:
        raise UnsupportedModelError(f"{label}: sequence_lens is not supported (full windows)")
    _zero_or_absent(node, consts, 5, "initial_h")
    if op == "LSTM":
        _zero_or_absent(node, consts, 6, "initial_c")
        _zero_or_absent(node, consts, 7, "P (peepholes)")
    # The input must be the window, time-major: X[t, 0, f] = t * F + f.
    feats = w.shape[2]
    if x_idx.ndim != 3 or x_idx.shape[1] != 1 or x_idx.shape[2] != feats:
        raise UnsupportedModelError(
            f"{label}: input X has shape {list(x_idx.shape)}, expected [steps, 1, {feats}]"
        )
    steps = x_idx.shape[0]
    want = np.arange(steps * feats).reshape(steps, 1, feats)
    if not np.array_equal(x_idx, want):
        raise UnsupportedModelError(
            f"{label}: X is not the window in time order (t * features + f); the layout ops "
            "between the graph input and the node permute it"
        )
    order = _GATE_ORDER[op]

    def reorder(m: F64) -> F64:
        blocks = m.reshape(g, hid, *m.shape[1:])
        out: F64 = np.concatenate([blocks[k] for k in order], axis=0)
        return out

    return RecurrentLayer(
        CellKind.GRU if op == "GRU" else CellKind.LSTM,
        steps,
        reorder(w[0]),
        reorder(r[0]),
        reorder(b[: g * hid]),
        reorder(b[g * hid :]),
    )


def import_recurrent(
    graph: Any,
    nodes: Sequence[Any],
    consts: dict[str, NDArray[Any]],
    x: str,
    outputs: list[str],
    labels: Sequence[int | str] | None,
    task: str | None,
    model_name: str,
) -> FloatModel:
    """The float model of a window graph with one GRU/LSTM node (see the module doc)."""
    from .onnx import _ACTS, _NOOPS, _bias_operand, _dense

    shape = _input_shape(graph, x)
    n_features = int(np.prod(shape))
    tracked: dict[str, NDArray[Any]] = {x: np.arange(n_features).reshape(shape)}
    rec: RecurrentLayer | None = None
    head_in: NDArray[Any] | None = None
    layers: list[Layer] = []
    cur: str | None = None
    width = 0
    head = Head.NONE
    cell_state = ""
    for node in nodes:
        label = f"{node.op} node {node.name!r}"
        if cell_state and cell_state in node.inputs:
            raise UnsupportedModelError(f"{label} reads the LSTM cell state Y_c (not supported)")
        uses = [i for i in node.inputs if i in tracked]
        shapes = {k: v.shape for k, v in tracked.items()}
        if cur is None and not uses:
            if node.op in RNN_OPS:
                raise UnsupportedModelError(f"{label}: X must come from the graph input")
            if not _fold(node, consts, shapes):
                raise UnsupportedModelError(f"unsupported op {node.op} ({label})")
            continue
        if cur is None and node.op == "Shape":
            _fold(node, consts, shapes)
            continue
        if cur is None and node.op in RNN_OPS:
            if rec is not None:
                raise UnsupportedModelError(f"{label}: only one recurrent layer is supported")
            if node.inputs[0] not in tracked or tracked[node.inputs[0]].min() >= _OUT:
                raise UnsupportedModelError(f"{label}: X must come from the graph input")
            rec = _recurrent(node, tracked[node.inputs[0]], consts)
            outs = node.outputs
            steps, hid = rec.steps, rec.hidden
            if outs and outs[0]:
                tracked[outs[0]] = _OUT + np.arange(steps * hid).reshape(steps, 1, 1, hid)
            if len(outs) > 1 and outs[1]:
                tracked[outs[1]] = _OUT + (steps - 1) * hid + np.arange(hid).reshape(1, 1, hid)
            if len(outs) > 2 and outs[2]:
                cell_state = outs[2]
            continue
        if cur is None and node.op in _LAYOUT_OPS:
            tracked[node.output] = _layout(node, tracked[node.inputs[0]], consts)
            continue
        if cur is None and node.op in ("Gemm", "MatMul"):
            if rec is None:
                raise UnsupportedModelError(f"{label}: a dense layer before the recurrent one")
            a = tracked[node.inputs[0]]
            if a.ndim == 2 and a.shape[0] == 1:
                a = a[0]
            if a.ndim != 1 or a.min() < _OUT:
                raise UnsupportedModelError(
                    f"{label}: its input must be a [1, n] vector of the recurrent output, got "
                    f"shape {list(tracked[node.inputs[0]].shape)}"
                )
            head_in = a - _OUT
            first = _dense(node, consts, label, head_in.size)
            dense0, sequence = _head_dense(first, head_in, rec)
            rec = replace(rec, sequence=sequence)
            layers.append(dense0)
            width = first.n_out
            cur = node.output
            continue
        if cur is None:
            raise UnsupportedModelError(f"unsupported op {node.op} between the input and the head")
        # The dense head: a single chain from `cur`.
        if node.inputs[0] != cur and cur not in node.inputs:
            if not _fold(node, consts, shapes):
                raise UnsupportedModelError(f"{label} is not on the chain of the dense head")
            continue
        if head is not Head.NONE:
            raise UnsupportedModelError(f"{label} after the final Softmax is not supported")
        if node.op in ("Gemm", "MatMul"):
            dense = _dense(node, consts, label, width)
            layers.append(dense)
            width = dense.n_out
        elif node.op == "Add":
            bias = _bias_operand(node, consts, label)
            last = layers[-1]
            if not isinstance(last, DenseLayer):
                raise UnsupportedModelError(f"{label}: Add only as a bias after Gemm/MatMul")
            layers[-1] = DenseLayer(last.weight, last.bias + np.broadcast_to(bias, last.bias.shape))
        elif node.op in _ACTS:
            layers.append(
                ActivationLayer(
                    _ACTS[node.op],
                    float(node.attrs.get("alpha", 0.2)),
                    float(node.attrs.get("beta", 0.5)),
                )
            )
        elif node.op == "Softmax":
            head = Head.SOFTMAX
        elif node.op in _NOOPS:
            pass
        else:
            raise UnsupportedModelError(f"unsupported op {node.op} in the dense head ({label})")
        cur = node.output
    if rec is None or cur is None:
        raise UnsupportedModelError("the graph has no GRU/LSTM node followed by a dense head")
    if cur not in outputs:
        raise UnsupportedModelError(f"the chain ends at {cur!r}, not the graph output {outputs}")
    return finish_chain([rec, *layers], head, width, n_features, labels, task, model_name, "onnx")


def _head_dense(first: DenseLayer, cols: I64, rec: RecurrentLayer) -> tuple[DenseLayer, bool]:
    """Fold the head's column selection into its weight; True when it reads more than the
    last step (a sequence-to-sequence op)."""
    steps, hid = rec.steps, rec.hidden
    last = (steps - 1) * hid
    if np.all(cols >= last):
        w = np.zeros((first.n_out, hid))
        np.add.at(w.T, cols - last, first.weight.T)
        return DenseLayer(w, first.bias), False
    w = np.zeros((first.n_out, steps * hid))
    np.add.at(w.T, cols, first.weight.T)
    return DenseLayer(w, first.bias), True


__all__ = ["RNN_OPS", "import_recurrent"]
