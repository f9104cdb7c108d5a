"""ONNX importer: dense graphs (float, QDQ and QOperator int8), tree ensembles, and GRU/LSTM
window models (`onnx_rnn`).

Supported float ops: Gemm, MatMul, Add, Relu, Sigmoid, Tanh, HardSigmoid, Softmax (last),
Identity, Flatten; over a (1, T, F) window input, 1-D Conv and pooling (`onnx_conv`).
Quantized graphs from onnxruntime.quantization are dequantized first:
weights become floats (int8 per-channel symmetric weights survive re-quantization exactly) and
activation QuantizeLinear/DequantizeLinear pairs become identities, except that a quantized
range starting exactly at 0 (zero point = type minimum) is kept as a ReLU, because
onnxruntime deletes Relu nodes and relies on that clamp.  TreeEnsembleClassifier/Regressor
(ai.onnx.ml, as written by skl2onnx) become tree ensembles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import UnsupportedModelError
from ..ir import (
    Activation,
    ActivationLayer,
    DenseLayer,
    FloatModel,
    Head,
    Layer,
    Tree,
    TreeEnsemble,
    TreeMode,
)
from ._chain import finish_chain
from .onnx_conv import import_sequence_chain, sequence_input
from .onnx_rnn import RNN_OPS, import_recurrent

F64 = NDArray[np.float64]

_ACTS = {
    "Relu": Activation.RELU,
    "Sigmoid": Activation.SIGMOID,
    "Tanh": Activation.TANH,
    "HardSigmoid": Activation.HARD_SIGMOID,
}
_NOOPS = {"Identity", "Flatten", "Dropout"}
_TREE_OPS = {"TreeEnsembleClassifier", "TreeEnsembleRegressor"}
# Nodes skl2onnx appends after a tree ensemble to reshape its outputs.
_TREE_TAIL_OPS = {
    "Identity",
    "ZipMap",
    "Cast",
    "Reshape",
    "ArgMax",
    "ArrayFeatureExtractor",
    "Normalizer",
    "Concat",
    "Sub",
    "Mul",
    "Sigmoid",
    "Softmax",
}


@dataclass
class _FNode:
    """A node of the dequantized float graph."""

    op: str
    name: str
    inputs: list[str]
    output: str
    attrs: dict[str, Any] = field(default_factory=dict)
    # Every output of a multi-output node (GRU/LSTM: Y, Y_h, Y_c); `output` is the first.
    outputs: list[str] = field(default_factory=list)


def _load(model: Any) -> Any:
    import onnx

    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, bytes | bytearray):
        return onnx.load_from_string(bytes(model))
    if isinstance(model, str | PathLike):
        return onnx.load(model)
    raise TypeError(f"expected an onnx.ModelProto, bytes or a path, got {type(model).__name__}")


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [x.decode() for x in v]
        out[a.name] = v
    return out


def _qmin(zp: NDArray[Any]) -> int:
    return int(np.iinfo(zp.dtype).min)


def _dequant(x: NDArray[Any], scale: NDArray[Any], zp: NDArray[Any] | None, axis: int) -> F64:
    scale = np.asarray(scale, dtype=np.float64)
    zpf = np.zeros_like(scale) if zp is None else np.asarray(zp, dtype=np.float64)
    if scale.ndim == 1 and x.ndim > 1:
        shape = [1] * x.ndim
        shape[axis] = -1
        scale = scale.reshape(shape)
        zpf = zpf.reshape(shape)
    out: F64 = (x.astype(np.float64) - zpf) * scale
    return out


def _node_label(node: Any) -> str:
    return f"{node.op_type} node {node.name or node.output[0]!r}"


def import_onnx(
    model: Any,
    *,
    labels: Sequence[int | str] | None = None,
    task: str | None = None,
    name: str | None = None,
) -> FloatModel:
    """Import an ONNX model (ModelProto, bytes or path).

    ``task`` is "classification" or "regression"; by default a graph ending in Softmax or in a
    one-unit Sigmoid is a classifier and anything else a regressor unless ``labels`` is given.
    """
    from onnx import numpy_helper

    proto = _load(model)
    graph = proto.graph
    consts: dict[str, NDArray[Any]] = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    inputs = [i.name for i in graph.input if i.name not in consts]
    if len(inputs) != 1:
        raise UnsupportedModelError(f"the graph must have exactly one input, found {inputs}")
    model_name = name or graph.name or "onnx"
    trees = [n for n in graph.node if n.op_type in _TREE_OPS]
    if trees:
        return _import_trees(graph, trees, inputs[0], model_name)
    nodes, alias = _dequantize(graph, consts)
    outputs = []
    for o in graph.output:
        t = o.name
        while t in alias:
            t = alias[t]
        outputs.append(t)
    if any(n.op in RNN_OPS for n in nodes):
        return import_recurrent(graph, nodes, consts, inputs[0], outputs, labels, task, model_name)
    window = sequence_input(graph, inputs[0])
    if window is not None:
        t_len, f_len = window
        return import_sequence_chain(
            nodes, consts, inputs[0], t_len, f_len, outputs, labels, task, model_name
        )
    return _import_chain(graph, nodes, consts, inputs[0], outputs, labels, task, model_name)


# ---------------------------------------------------------------- dense graphs


def _dequantize(graph: Any, consts: dict[str, NDArray[Any]]) -> tuple[list[_FNode], dict[str, str]]:
    """Rewrite the graph into float nodes, folding constants and QDQ/QLinear ops."""
    from onnx import numpy_helper

    alias: dict[str, str] = {}

    def res(t: str) -> str:
        while t in alias:
            t = alias[t]
        return t

    quantized: dict[str, tuple[NDArray[Any], NDArray[Any] | None]] = {}  # QuantizeLinear outputs
    out: list[_FNode] = []

    def emit_requant(node: Any, y: str, zp: NDArray[Any] | None, inner: _FNode) -> None:
        # A quantized output range starting at 0 is the ReLU onnxruntime folded away.
        if zp is not None and int(np.asarray(zp).reshape(-1)[0]) == _qmin(np.asarray(zp)):
            inner.output = y + "/pre_clamp"
            out.append(inner)
            out.append(_FNode("Relu", f"{node.name or y} (zero-point clamp)", [inner.output], y))
        else:
            out.append(inner)

    def const(t: str, node: Any) -> NDArray[Any]:
        if t not in consts:
            raise UnsupportedModelError(
                f"{_node_label(node)}: input {t!r} must be an initializer (constant)"
            )
        return consts[t]

    for node in graph.node:
        op = node.op_type
        ins = [res(i) for i in node.input]
        attrs = _attrs(node)
        y = node.output[0] if node.output else ""
        if op == "Constant":
            consts[y] = (
                numpy_helper.to_array(attrs["value"])
                if "value" in attrs
                else np.asarray(attrs.get("value_float", attrs.get("value_floats")))
            )
            continue
        if (
            ins
            and all(i in consts or i == "" for i in ins)
            and op in ("DequantizeLinear", "Identity", "Cast")
        ):
            if op == "DequantizeLinear":
                zp = consts.get(ins[2]) if len(ins) > 2 and ins[2] else None
                consts[y] = _dequant(consts[ins[0]], consts[ins[1]], zp, int(attrs.get("axis", 1)))
            else:
                consts[y] = consts[ins[0]].astype(np.float64)
            continue
        if op == "QuantizeLinear":
            zp = consts.get(ins[2]) if len(ins) > 2 and ins[2] else np.zeros((), dtype=np.uint8)
            quantized[y] = (const(ins[1], node), zp)
            alias[y] = ins[0]
            continue
        if op == "DequantizeLinear":
            src = node.input[0]
            if src in quantized:
                zp = quantized[src][1]
                ident = _FNode("Identity", node.name or y, [ins[0]], y)
                emit_requant(node, y, zp, ident)
            else:
                alias[y] = ins[0]
            continue
        if op == "QGemm":
            b = _dequant(
                const(ins[3], node),
                const(ins[4], node),
                consts.get(ins[5]) if len(ins) > 5 and ins[5] else None,
                0 if attrs.get("transB", 0) else 1,
            )
            a_scale = float(const(ins[1], node))
            c = None
            if len(ins) > 6 and ins[6]:
                bias_scale = a_scale * np.asarray(const(ins[4], node), dtype=np.float64)
                c = const(ins[6], node).astype(np.float64) * bias_scale
            g = _FNode(
                "Gemm",
                node.name,
                [ins[0], "", ""],
                y,
                {
                    "alpha": attrs.get("alpha", 1.0),
                    "beta": 1.0,
                    "transA": attrs.get("transA", 0),
                    "transB": attrs.get("transB", 0),
                    "B": b,
                    "C": c,
                },
            )
            emit_requant(node, y, consts.get(ins[8]) if len(ins) > 8 and ins[8] else None, g)
            continue
        if op == "QLinearMatMul":
            b = _dequant(const(ins[3], node), const(ins[4], node), const(ins[5], node), 1)
            g = _FNode("MatMul", node.name, [ins[0], ""], y, {"B": b})
            emit_requant(node, y, const(ins[7], node), g)
            continue
        if op == "QLinearAdd":
            b = _dequant(const(ins[3], node), const(ins[4], node), const(ins[5], node), 0)
            g = _FNode("Add", node.name, [ins[0], ""], y, {"B": b})
            emit_requant(node, y, consts.get(ins[7]) if len(ins) > 7 and ins[7] else None, g)
            continue
        if op == "QLinearSigmoid":
            out.append(_FNode("Sigmoid", node.name, [ins[0]], y))
            continue
        out.append(_FNode(op, node.name or y, ins, y, attrs, list(node.output)))
    return out, alias


def _import_chain(
    graph: Any,
    nodes: list[_FNode],
    consts: dict[str, NDArray[Any]],
    x: str,
    outputs: list[str],
    labels: Sequence[int | str] | None,
    task: str | None,
    model_name: str,
) -> FloatModel:
    consumers: dict[str, list[_FNode]] = {}
    for n in nodes:
        for i in n.inputs:
            consumers.setdefault(i, []).append(n)
    layers: list[Layer] = []
    cur = x
    n_features = _input_width(graph, x)
    width = n_features
    head = Head.NONE
    while True:
        nxt = consumers.get(cur, [])
        if not nxt:
            break
        if len(nxt) > 1:
            names = ", ".join(f"{n.op} {n.name!r}" for n in nxt)
            raise UnsupportedModelError(
                f"tensor {cur!r} feeds several nodes ({names}); only "
                "single-path graphs are supported"
            )
        node = nxt[0]
        label = f"{node.op} node {node.name!r}"
        if head is not Head.NONE:
            raise UnsupportedModelError(f"{label} after the final Softmax is not supported")
        if node.op in ("Gemm", "MatMul"):
            dense = _dense(node, consts, label, width)
            layers.append(dense)
            width = dense.n_out
        elif node.op == "Add":
            bias = _bias_operand(node, consts, label)
            last = layers[-1] if layers else None
            if not isinstance(last, DenseLayer):
                raise UnsupportedModelError(
                    f"{label}: Add is only supported as a bias after Gemm/MatMul"
                )
            layers[-1] = DenseLayer(last.weight, last.bias + np.broadcast_to(bias, last.bias.shape))
        elif node.op in _ACTS:
            if not layers:
                raise UnsupportedModelError(
                    f"{label}: an activation before the first dense layer is not supported"
                )
            prev = layers[-1]
            if (
                isinstance(prev, ActivationLayer)
                and node.op == "Relu"
                and prev.kind in (Activation.RELU, Activation.SIGMOID, Activation.HARD_SIGMOID)
            ):
                pass  # clamp at 0 after a non-negative activation changes nothing
            else:
                layers.append(
                    ActivationLayer(
                        _ACTS[node.op],
                        float(node.attrs.get("alpha", 0.2)),
                        float(node.attrs.get("beta", 0.5)),
                    )
                )
        elif node.op == "Softmax":
            axis = int(node.attrs.get("axis", -1))
            if axis not in (-1, 1):
                raise UnsupportedModelError(f"{label}: Softmax over axis {axis} is not supported")
            head = Head.SOFTMAX
        elif node.op in _NOOPS:
            pass
        else:
            raise UnsupportedModelError(f"unsupported op {node.op} (node {node.name!r})")
        cur = node.output
    if cur not in outputs:
        raise UnsupportedModelError(
            f"the chain from the input ends at {cur!r}, which is not the graph output {outputs}"
        )
    if not layers:
        raise UnsupportedModelError("the graph has no Gemm/MatMul layer")
    return finish_chain(layers, head, width, n_features, labels, task, model_name, "onnx")


def _input_width(graph: Any, x: str) -> int:
    for i in graph.input:
        if i.name == x:
            dims = i.type.tensor_type.shape.dim
            if len(dims) != 2 or not dims[1].dim_value:
                raise UnsupportedModelError(
                    f"graph input {x!r} must be 2-D [batch, features] with a fixed feature count"
                )
            return int(dims[1].dim_value)
    raise UnsupportedModelError(f"graph input {x!r} not found")


def _operand(
    node: _FNode, key: str, idx: int, consts: dict[str, NDArray[Any]], label: str
) -> NDArray[Any] | None:
    if key in node.attrs and isinstance(node.attrs[key], np.ndarray | type(None)):
        return node.attrs[key]
    if len(node.inputs) <= idx or not node.inputs[idx]:
        return None
    name = node.inputs[idx]
    if name not in consts:
        raise UnsupportedModelError(f"{label}: operand {name!r} must be an initializer")
    return consts[name]


def _dense(node: _FNode, consts: dict[str, NDArray[Any]], label: str, width: int) -> DenseLayer:
    b = _operand(node, "B", 1, consts, label)
    if b is None or b.ndim != 2:
        raise UnsupportedModelError(f"{label}: weight must be a 2-D initializer")
    b = b.astype(np.float64)
    if node.op == "Gemm":
        if int(node.attrs.get("transA", 0)):
            raise UnsupportedModelError(f"{label}: transA=1 is not supported")
        w = b if int(node.attrs.get("transB", 0)) else b.T
        w = w * float(node.attrs.get("alpha", 1.0))
        c = _operand(node, "C", 2, consts, label)
        bias = (
            np.zeros(w.shape[0])
            if c is None
            else np.broadcast_to(
                np.asarray(c, dtype=np.float64).reshape(-1) * float(node.attrs.get("beta", 1.0)),
                (w.shape[0],),
            ).copy()
        )
    else:
        w = b.T
        bias = np.zeros(w.shape[0])
    if w.shape[1] != width:
        raise UnsupportedModelError(
            f"{label}: weight expects {w.shape[1]} inputs, the previous layer produces {width}"
        )
    return DenseLayer(np.ascontiguousarray(w), bias)


def _bias_operand(node: _FNode, consts: dict[str, NDArray[Any]], label: str) -> F64:
    if "B" in node.attrs:
        return np.asarray(node.attrs["B"], dtype=np.float64).reshape(-1)
    others = [i for i in node.inputs if i in consts]
    if len(others) != 1:
        raise UnsupportedModelError(f"{label}: Add needs exactly one initializer operand")
    return np.asarray(consts[others[0]], dtype=np.float64).reshape(-1)


# ---------------------------------------------------------------- tree ensembles


def _import_trees(graph: Any, trees: list[Any], x: str, model_name: str) -> FloatModel:
    if len(trees) != 1:
        raise UnsupportedModelError(f"{len(trees)} tree-ensemble nodes; exactly one is supported")
    node = trees[0]
    label = _node_label(node)
    for other in graph.node:
        if other is not node and other.op_type not in _TREE_TAIL_OPS:
            raise UnsupportedModelError(
                f"unsupported op {other.op_type} (node {other.name!r}) next to a tree ensemble"
            )
    a = _attrs(node)
    n_features = _input_width(graph, x)
    if "nodes_values_as_tensor" in a and "nodes_values" not in a:
        from onnx import numpy_helper

        a["nodes_values"] = numpy_helper.to_array(a["nodes_values_as_tensor"]).tolist()
    is_cls = node.op_type == "TreeEnsembleClassifier"
    prefix = "class" if is_cls else "target"
    struct = _tree_structs(a, label)
    n_trees = len(struct)
    post = a.get("post_transform", "NONE")
    base = np.asarray(a.get("base_values", []), dtype=np.float64)
    t_ids = a[f"{prefix}_treeids"]
    n_ids = a[f"{prefix}_nodeids"]
    k_ids = a[f"{prefix}_ids"]
    wts = a[f"{prefix}_weights"]
    if is_cls:
        labels: tuple[int | str, ...] = tuple(
            a.get("classlabels_int64s") or a.get("classlabels_strings") or ()
        )
        n_out = len(labels)
    else:
        labels = ()
        n_out = int(a.get("n_targets", 1))
        if n_out != 1:
            raise UnsupportedModelError(f"{label}: n_targets={n_out}; only 1 is supported")
    used = sorted(set(int(k) for k in k_ids))
    binary_single = is_cls and n_out == 2 and len(used) == 1
    width = 1 if binary_single else n_out
    leaf_vals: dict[tuple[int, int], F64] = {}
    for t, nd, k, wv in zip(t_ids, n_ids, k_ids, wts, strict=True):
        vec = leaf_vals.setdefault((int(t), int(nd)), np.zeros(width))
        vec[0 if binary_single else int(k)] += float(wv)
    per_tree_targets = [
        sorted({int(k) for t, k in zip(t_ids, k_ids, strict=True) if t == tid})
        for tid in sorted(struct)
    ]
    if not is_cls:
        agg = a.get("aggregate_function", "SUM")
        if agg not in ("SUM", "AVERAGE"):
            raise UnsupportedModelError(f"{label}: aggregate_function {agg} is not supported")
        factor = 1.0 / n_trees if agg == "AVERAGE" else 1.0
        if post != "NONE":
            raise UnsupportedModelError(f"{label}: regressor post_transform {post} unsupported")
        tree_list = [_build_tree(struct[t], leaf_vals, t, 1, factor) for t in sorted(struct)]
        ens = TreeEnsemble(tuple(tree_list), TreeMode.VALUE, 1, base if base.size else np.zeros(1))
        return FloatModel(n_features, (ens,), Head.NONE, name=model_name, source="onnx")
    if post == "NONE":
        if binary_single:
            # skl2onnx stores P(class 1) / n_trees; class 0 gets the rest of each tree's share.
            share = 1.0 / n_trees
            for key, vec in list(leaf_vals.items()):
                if not -1e-6 <= vec[0] <= share + 1e-6:
                    raise UnsupportedModelError(
                        f"{label}: binary leaf weight {vec[0]} is not a probability share"
                    )
                leaf_vals[key] = np.array([max(share - vec[0], 0.0), vec[0]])
        tree_list = [_build_tree(struct[t], leaf_vals, t, n_out, 1.0) for t in sorted(struct)]
        vals = np.vstack([tr.value for tr in tree_list])
        if vals.min() < -1e-9 or vals.max() > 1 + 1e-9:
            raise UnsupportedModelError(
                f"{label}: post_transform NONE with weights outside [0, 1] is not supported"
            )
        ens = TreeEnsemble(tuple(tree_list), TreeMode.PROBA, n_out, np.zeros(n_out))
        return FloatModel(n_features, (ens,), Head.VOTE, labels, name=model_name, source="onnx")
    if post == "LOGISTIC" and binary_single:
        tree_list = [_build_tree(struct[t], leaf_vals, t, 1, 1.0) for t in sorted(struct)]
        ens = TreeEnsemble(
            tuple(tree_list), TreeMode.VALUE, 1, base[:1] if base.size else np.zeros(1)
        )
        return FloatModel(n_features, (ens,), Head.LOGISTIC, labels, name=model_name, source="onnx")
    if post == "SOFTMAX" and not binary_single:
        order: list[list[int]] = [[] for _ in range(n_out)]
        for tid, targets in zip(sorted(struct), per_tree_targets, strict=True):
            if len(targets) != 1:
                raise UnsupportedModelError(
                    f"{label}: tree {tid} feeds classes {targets}; "
                    "SOFTMAX ensembles need one class per tree"
                )
            order[targets[0]].append(tid)
        if len({len(o) for o in order}) != 1:
            raise UnsupportedModelError(f"{label}: classes have different tree counts")
        tree_list = []
        for i in range(len(order[0])):
            for k in range(n_out):
                tid = order[k][i]
                tree_list.append(_build_tree(struct[tid], leaf_vals, tid, n_out, 1.0, column=k))
        ens = TreeEnsemble(
            tuple(tree_list), TreeMode.VALUE, n_out, base if base.size else np.zeros(n_out)
        )
        return FloatModel(n_features, (ens,), Head.SOFTMAX, labels, name=model_name, source="onnx")
    raise UnsupportedModelError(
        f"{label}: post_transform {post} with {len(used)} scored "
        f"classes of {n_out} is not supported"
    )


@dataclass
class _RawNode:
    mode: str
    feature: int
    value: float
    true_id: int
    false_id: int


def _tree_structs(a: dict[str, Any], label: str) -> dict[int, dict[int, _RawNode]]:
    out: dict[int, dict[int, _RawNode]] = {}
    for t, nd, f, v, mode, tr, fa in zip(
        a["nodes_treeids"],
        a["nodes_nodeids"],
        a["nodes_featureids"],
        a["nodes_values"],
        a["nodes_modes"],
        a["nodes_truenodeids"],
        a["nodes_falsenodeids"],
        strict=True,
    ):
        if mode not in ("LEAF", "BRANCH_LEQ", "BRANCH_LT", "BRANCH_GT", "BRANCH_GTE"):
            raise UnsupportedModelError(f"{label}: node mode {mode} is not supported")
        out.setdefault(int(t), {})[int(nd)] = _RawNode(mode, int(f), float(v), int(tr), int(fa))
    return out


def _build_tree(
    nodes: dict[int, _RawNode],
    leaf_vals: dict[tuple[int, int], F64],
    tid: int,
    width: int,
    factor: float,
    column: int | None = None,
) -> Tree:
    """Re-number a tree in pre-order so children follow parents, and express every branch
    as ``x <= t`` (go to ``left``)."""
    children = {c for n in nodes.values() if n.mode != "LEAF" for c in (n.true_id, n.false_id)}
    roots = [k for k in nodes if k not in children]
    feature: list[int] = []
    threshold: list[float] = []
    left: list[int] = []
    right: list[int] = []
    value: list[F64] = []
    stack: list[tuple[int, int, str]] = [(roots[0], -1, "")]
    while stack:
        nid, parent, side = stack.pop()
        idx = len(feature)
        if parent >= 0:
            (left if side == "L" else right)[parent] = idx
        n = nodes[nid]
        left.append(-1)
        right.append(-1)
        if n.mode == "LEAF":
            feature.append(-1)
            threshold.append(0.0)
            vec = leaf_vals.get((tid, nid), np.zeros(width if column is None else 1))
            value.append(vec[[column]] * factor if column is not None else vec * factor)
            continue
        t32 = np.float32(n.value)
        if n.mode in ("BRANCH_LT", "BRANCH_GTE"):
            # x < t  <=>  x <= the float32 just below t (features are float32 in ONNX).
            t32 = np.nextafter(t32, np.float32(-np.inf))
        true_left = n.mode in ("BRANCH_LEQ", "BRANCH_LT")
        lo_child, hi_child = (n.true_id, n.false_id) if true_left else (n.false_id, n.true_id)
        feature.append(n.feature)
        threshold.append(float(t32))
        value.append(np.zeros(1 if column is not None else width))
        stack.append((hi_child, idx, "R"))
        stack.append((lo_child, idx, "L"))
    return Tree(
        feature=np.asarray(feature, dtype=np.int64),
        threshold=np.asarray(threshold, dtype=np.float64),
        left=np.asarray(left, dtype=np.int64),
        right=np.asarray(right, dtype=np.int64),
        value=np.vstack(value).astype(np.float64),
    )
