"""Numpy reference executor: the executable specification of the numeric contract.

Pure int64 arithmetic, vectorised over a batch of Q16.16 feature vectors, running each dense
layout's kernel on the integers the file stores.  No float touches the integer path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .conv import run_conv1d, run_pool
from .errors import InputRangeError
from .fixedpoint import SOFTMAX_GAP_LIMIT, SOFTMAX_P
from .layouts import (
    P3_ROWS,
    P3_WORDS,
    compact_encode,
    lanes3,
    packed3_encode,
    packed3_groups,
    packed_encode,
    sparse_encode,
)
from .qmodel import (
    LEAF,
    ConfMode,
    DType,
    InputSpec,
    Layout,
    QArgmax,
    QConv1d,
    QDense,
    QLut,
    QModel,
    QOp,
    QPool,
    QRecurrent,
    QSoftmax,
    QTrees,
    TreeMode,
)
from .recurrent import run_recurrent

I64 = NDArray[np.int64]
_P = np.asarray(SOFTMAX_P, dtype=np.int64)


@dataclass(frozen=True)
class Trace:
    """Every intermediate of a batch: what golden vectors record and what tests compare."""

    input_q: I64 | None  # (B, n_features) quantized input, None for raw-feature models
    layers: list[I64]  # output of each op, (B, n_out_k)
    outputs: I64  # (B, n_outputs)
    classes: I64  # (B,)
    confidence: I64  # (B,) Q16


def rshift_round(v: I64, s: I64 | int) -> I64:
    out: I64 = (v + (np.int64(1) << (np.asarray(s, dtype=np.int64) - 1))) >> s
    return out


def out_of_range(spec: InputSpec, x_fx: I64) -> NDArray[np.bool_]:
    """(B, n_features) mask of features outside their declared inclusive range."""
    out: NDArray[np.bool_] = (x_fx < spec.lo) | (x_fx > spec.hi)
    return out


def check_inputs(spec: InputSpec, x_fx: I64) -> None:
    bad = np.argwhere(out_of_range(spec, x_fx))
    if bad.size:
        r, j = (int(v) for v in bad[0])
        raise InputRangeError(r, j, int(x_fx[r, j]), int(spec.lo[j]), int(spec.hi[j]))


def quantize_input(spec: InputSpec, x_fx: I64) -> I64:
    q = spec.zp + rshift_round((x_fx - spec.c) * spec.m, spec.s)
    out: I64 = np.clip(q, spec.dtype.qmin, spec.dtype.qmax)
    return out


def dense_acc(op: QDense, q: I64) -> I64:
    """Exact i64 accumulators, computed the way the op's layout kernel computes them."""
    if op.layout is Layout.COMPACT:
        codes = compact_encode(op.weight, op.dtype).reshape(op.n_out, op.n_in)
        acc = q @ codes.T
        if op.dtype is DType.I8:
            acc = acc - 128 * q.sum(axis=1, keepdims=True)
        out: I64 = acc + op.bias
        return out
    if op.layout is Layout.PACKED:
        words = packed_encode(op.weight).reshape(-1, op.n_in)
        s = q @ words.T  # (B, pairs): lane lo + lane hi * 2^32
        lo = ((s & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000  # sign-extend the low 32 bits
        hi = (s - lo) >> 32
        lanes = np.stack([lo, hi], axis=2).reshape(q.shape[0], -1)[:, : op.n_out]
        out = lanes + op.bias
        return out
    if op.layout is Layout.PACKED3:
        return packed3_acc(op, q) + op.bias
    sp = sparse_encode(op.weight)
    contrib = q[:, sp.idx] * sp.val
    csum = np.concatenate([np.zeros((q.shape[0], 1), dtype=np.int64), contrib.cumsum(axis=1)], 1)
    out = csum[:, sp.row_ptr[1:]] - csum[:, sp.row_ptr[:-1]] + op.bias
    return out


def packed3_acc(op: QDense, q: I64) -> I64:
    """PACKED3 row sums as the kernel forms them: per chunk of ``span`` columns the i64 sum of
    words times inputs (wrapping), split into three lanes, lanes added over the chunks."""
    groups = packed3_groups(op.n_out)
    words = packed3_encode(op.weight).reshape(groups, op.n_in, P3_WORDS)
    acc = np.zeros((q.shape[0], groups * P3_WORDS, 3), dtype=np.int64)
    for start in range(0, op.n_in, op.span):
        end = min(start + op.span, op.n_in)
        cols = words[:, start:end, :].transpose(1, 0, 2).reshape(end - start, -1)
        lanes = lanes3(q[:, start:end] @ cols)  # each (B, groups * 4)
        acc += np.stack(lanes, axis=2)
    out: I64 = acc.reshape(q.shape[0], groups * P3_ROWS)[:, : op.n_out]
    return out


def run_dense(op: QDense, q: I64) -> I64:
    acc = dense_acc(op, q)
    y = op.zp_out + rshift_round(acc * op.multiplier, op.shift)
    out: I64 = np.clip(y, op.lo, op.hi)
    return out


def run_lut(op: QLut, q: I64) -> I64:
    t = op.table
    if op.dtype is DType.I8:
        out: I64 = t[q + 128]
        return out
    u = q + 32768
    idx = u >> 7
    frac = u & 127
    out = t[idx] + (((t[idx + 1] - t[idx]) * frac + 64) >> 7)
    return out


def exp2_neg_q30(a: NDArray[np.uint64]) -> I64:
    n = (a >> np.uint64(16)).astype(np.int64)
    f = (a & np.uint64(0xFFFF)).astype(np.int64)
    idx = f >> 12
    r = f & 0xFFF
    m = _P[idx] - (((_P[idx] - _P[idx + 1]) * r) >> 12)
    out: I64 = np.where(n >= 31, 0, m >> np.minimum(n, 31))
    return out


def run_softmax(op: QSoftmax, x: I64) -> I64:
    if op.binary:
        x = np.concatenate([np.zeros_like(x), x], axis=1)
    d = x.max(axis=1, keepdims=True) - x
    small = d < SOFTMAX_GAP_LIMIT
    a = (np.where(small, d, 0).astype(np.uint64) * np.uint64(op.k)) >> np.uint64(op.k_shift)
    e = np.where(small, exp2_neg_q30(a), 0)
    out: I64 = (e << 16) // e.sum(axis=1, keepdims=True)
    return out


def run_argmax(op: QArgmax, v: I64) -> I64:
    cls = np.argmax(v, axis=1)
    top = v[np.arange(v.shape[0]), cls]
    if op.mode is ConfMode.PROB:
        conf = top
    elif op.mode is ConfMode.DIV:
        conf = top // op.divisor
    else:
        conf = np.zeros_like(top)
    return np.stack([cls.astype(np.int64), conf], axis=1)


def tree_leaf_rows(op: QTrees, x_fx: I64) -> I64:
    """(B, n_trees) leaf-table rows reached, walking at most max_depth + 1 steps."""
    rows = np.arange(x_fx.shape[0])[:, None]
    node = np.broadcast_to(op.roots, (x_fx.shape[0], op.n_trees)).copy()
    for _ in range(op.max_depth):
        feat = op.feature[node]
        leaf = feat == LEAF
        if leaf.all():
            break
        xv = x_fx[rows, np.where(leaf, 0, feat)]
        nxt = np.where(xv <= op.threshold[node], op.left[node], op.right[node])
        node = np.where(leaf, node, nxt)
    out: I64 = op.left[node]
    return out


def run_trees(op: QTrees, x_fx: I64) -> I64:
    leaf_rows = tree_leaf_rows(op, x_fx)
    if op.mode is TreeMode.PROBA:
        out: I64 = op.leaves[leaf_rows].sum(axis=1)
        return out
    out = np.broadcast_to(op.base, (x_fx.shape[0], op.n_out)).copy()
    vals = op.leaves[leaf_rows, 0]
    for k in range(op.n_out):
        out[:, k] += vals[:, k :: op.n_out].sum(axis=1)
    return out


def run_op(op: QOp, v: I64) -> I64:
    if isinstance(op, QDense):
        return run_dense(op, v)
    if isinstance(op, QLut):
        return run_lut(op, v)
    if isinstance(op, QSoftmax):
        return run_softmax(op, v)
    if isinstance(op, QArgmax):
        return run_argmax(op, v)
    if isinstance(op, QConv1d):
        return run_conv1d(op, v)
    if isinstance(op, QPool):
        return run_pool(op, v)
    if isinstance(op, QRecurrent):
        return run_recurrent(op, v)
    return run_trees(op, v)


def execute(model: QModel, x_fx: NDArray[np.integer], *, validate: bool = True) -> Trace:
    """Run ``model`` on a (B, n_features) batch of Q16.16 features.

    With ``validate`` (the chain's behaviour) an out-of-range feature raises InputRangeError;
    without it, rows are computed anyway (callers mask them with ``out_of_range``).
    """
    x = np.asarray(x_fx, dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != model.n_features:
        raise ValueError(f"features must have shape (B, {model.n_features}), got {x.shape}")
    if validate:
        check_inputs(model.input, x)
    input_q = None
    v = x
    if model.input.dtype is not DType.NONE:
        input_q = quantize_input(model.input, x)
        v = input_q
    layers = []
    for op in model.ops:
        v = run_op(op, v)
        layers.append(v)
    batch = x.shape[0]
    if isinstance(model.ops[-1], QArgmax):
        outputs = layers[-2] if len(layers) > 1 else x
        classes = layers[-1][:, 0]
        confidence = layers[-1][:, 1]
    else:
        outputs = layers[-1]
        classes = np.zeros(batch, dtype=np.int64)
        confidence = np.zeros(batch, dtype=np.int64)
    return Trace(input_q, layers, outputs, classes, confidence)


def features_to_q16(x: NDArray[np.floating]) -> I64:
    """Client-side conversion floor(x * 65536 + 0.5); raises ValueError if a value leaves i32
    (|x| >= 32768) or is not finite."""
    v = np.floor(np.asarray(x, dtype=np.float64) * 65536.0 + 0.5)
    bad = np.argwhere(~np.isfinite(v) | (v < -(2.0**31)) | (v > 2.0**31 - 1))
    if bad.size:
        where = tuple(int(i) for i in bad[0])
        raise ValueError(
            f"feature at index {where} = {np.asarray(x)[where]!r} does not fit in "
            "i32 Q16.16 (|x| must be < 32768 and finite)"
        )
    return v.astype(np.int64)


def clip_to_range(model: QModel, x_fx: I64) -> I64:
    """What a client does before submitting a feature that the chain would reject."""
    out: I64 = np.clip(x_fx, model.input.lo, model.input.hi)
    return out
