"""Quantized model: the integer IR that the binary format stores and the executors run.

Every numeric field here is an integer with the width documented in docs/model-format.md;
arrays are int64 numpy arrays holding the *logical* values (signed weights, not their
on-file encodings, which ``layouts`` derives).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

I64 = NDArray[np.int64]

MAGIC = b"MLAG"
VERSION = 1
LEAF = 0xFFFF  # feature id marking a leaf node


class Arch(IntEnum):
    NEURAL = 1
    TREES = 2


class Task(IntEnum):
    REGRESSION = 0
    CLASSIFICATION = 1


class DType(IntEnum):
    NONE = 0
    I8 = 1
    I16 = 2

    @property
    def qmin(self) -> int:
        return -128 if self is DType.I8 else -32768

    @property
    def qmax(self) -> int:
        return 127 if self is DType.I8 else 32767

    @property
    def nbytes(self) -> int:
        return 1 if self is DType.I8 else 2


class Scaling(IntEnum):
    NONE = 0
    STANDARD = 1
    MINMAX = 2
    AFFINE = 3


class LabelKind(IntEnum):
    NONE = 0
    INT = 1
    STR = 2


class OpKind(IntEnum):
    DENSE = 1
    LUT = 2
    SOFTMAX = 3
    ARGMAX = 4
    TREES = 5
    CONV1D = 6
    POOL = 7
    GRU = 8
    LSTM = 9


class Layout(IntEnum):
    NONE = 0
    COMPACT = 1
    PACKED = 2
    SPARSE = 3
    PACKED3 = 4


class LutKind(IntEnum):
    SIGMOID = 1
    TANH = 2
    HARD_SIGMOID = 3


class ConfMode(IntEnum):
    NONE = 0  # confidence 0 (regression-like heads)
    PROB = 1  # the input is Q16 probabilities: confidence = v[class]
    DIV = 2  # confidence = v[class] / divisor (unsigned), used by forests


class PoolMode(IntEnum):
    MAX = 1
    AVG = 2


class TreeMode(IntEnum):
    PROBA = 1  # leaves: u32 Q16 class-probability rows, summed over trees
    VALUE = 2  # leaves: one i32; tree t adds to output t mod n_out; plus base


@dataclass
class InputSpec:
    """Declared feature ranges (validated on chain) and the optional integer input affine."""

    lo: I64  # (n_features,) inclusive Q16.16 bounds
    hi: I64
    dtype: DType = DType.NONE  # NONE: ops read raw Q16.16 features (trees)
    zp: int = 0
    c: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    m: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    s: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    scaling: Scaling = Scaling.NONE

    @property
    def n_features(self) -> int:
        return int(self.lo.shape[0])


@dataclass
class QDense:
    dtype: DType
    layout: Layout
    weight: I64  # (n_out, n_in) signed weights
    bias: I64  # (n_out,) i32, zero-point terms folded in
    multiplier: I64  # (n_out,) M_i, 0 < M_i < 2^31
    shift: int  # S, shared by the layer, 1..62
    zp_out: int
    lo: int
    hi: int
    # PACKED3 only: columns per lane chunk (op record p1), 1..n_in; 0 for other layouts.
    span: int = 0

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])

    @property
    def nnz(self) -> int:
        return int(np.count_nonzero(self.weight))


@dataclass
class QLut:
    dtype: DType
    kind: LutKind
    table: I64  # 256 (I8) or 513 (I16) entries
    n: int


@dataclass
class QSoftmax:
    n_in: int  # logits read; 1 with binary=True means the vector [0, z]
    k: int  # u32
    k_shift: int
    binary: bool

    @property
    def n_out(self) -> int:
        return 2 if self.binary else self.n_in


@dataclass
class QArgmax:
    n_in: int
    mode: ConfMode
    divisor: int = 1


@dataclass
class QTrees:
    mode: TreeMode
    n_features: int
    n_out: int
    max_depth: int
    roots: I64  # (n_trees,) index of each tree's root; trees occupy consecutive node ranges
    feature: I64  # (n_nodes,) LEAF for leaves
    threshold: I64  # (n_nodes,) i32 Q16.16; 0 for leaves
    left: I64  # (n_nodes,) child index, or leaf row for leaves
    right: I64  # (n_nodes,) child index, 0 for leaves
    leaves: I64  # (n_leaves, n_out) PROBA or (n_leaves, 1) VALUE
    base: I64  # (n_out,) VALUE only; zeros for PROBA

    @property
    def n_trees(self) -> int:
        return int(self.roots.shape[0])

    @property
    def n_nodes(self) -> int:
        return int(self.feature.shape[0])

    @property
    def n_leaves(self) -> int:
        return int(self.leaves.shape[0])


@dataclass
class QRecurrent:
    """A GRU (gates r, z, n) or LSTM (gates i, f, g, o) over a window of ``steps`` x
    ``features`` inputs (layout ``t * features + f``), hidden state Q15 (docs/model-format.md,
    "GRU and LSTM"). Rows are gate-major: row ``g * hidden + k`` is gate g of unit k."""

    kind: OpKind  # GRU or LSTM
    dtype: DType  # of both weight matrices
    steps: int
    features: int
    hidden: int
    sequence: bool  # True: output every step's h (T * H values); False: the last h (H)
    wx: I64  # (G*H, F) signed weights
    wh: I64  # (G*H, H)
    # Requantization offsets c = b * M + 2^(S-1) (i64; b the folded i32 bias of the part):
    # px = (Wx . x * Mx + cx) >> S, the same 64-bit value as rshift_round((b + acc) * M, S).
    cx: I64  # (G*H,)
    ch: I64  # (G*H,)
    mx: I64  # (G*H,) u32 multipliers of the x part
    mh: I64  # (G*H,) u32 multipliers of the h part
    shift: int  # S shared by every row and both parts, 1..62
    gate_bits: int  # G: gate pre-activations are Q(G) i16, 1..14
    sigmoid: I64  # 513-entry i16 table, Q(G) in -> Q15 out
    tanh: I64  # 513-entry i16 table

    @property
    def gates(self) -> int:
        return 3 if self.kind is OpKind.GRU else 4

    @property
    def rows(self) -> int:
        return self.gates * self.hidden

    @property
    def n_in(self) -> int:
        return self.steps * self.features

    @property
    def n_out(self) -> int:
        return self.steps * self.hidden if self.sequence else self.hidden


@dataclass
class QConv1d:
    """CONV1D over a channels-last, time-major window (docs/model-format.md, "Conv1D and
    pooling"): input index ``t * c_in + c``, output ``t * c_out + o``; requantized like DENSE."""

    dtype: DType
    weight: I64  # (c_out, k, c_in) signed weights
    bias: I64  # (c_out,) i32, zero-point terms folded in
    multiplier: I64  # (c_out,) 0 < M < 2^31
    shift: int
    zp_out: int
    lo: int
    hi: int
    t_in: int
    stride: int = 1
    dilation: int = 1
    pad_left: int = 0
    pad_right: int = 0
    pad_value: int = 0  # what a padded position reads: the input zero point
    # COMPACT (offset-binary bytes / i16) or PACKED (INT8, two channels per i64 word).
    layout: Layout = Layout.COMPACT

    @property
    def c_out(self) -> int:
        return int(self.weight.shape[0])

    @property
    def k(self) -> int:
        return int(self.weight.shape[1])

    @property
    def c_in(self) -> int:
        return int(self.weight.shape[2])

    @property
    def span(self) -> int:
        return self.dilation * (self.k - 1) + 1

    @property
    def t_out(self) -> int:
        return (self.t_in + self.pad_left + self.pad_right - self.span) // self.stride + 1

    @property
    def n_in(self) -> int:
        return self.t_in * self.c_in

    @property
    def n_out(self) -> int:
        return self.t_out * self.c_out


@dataclass
class QPool:
    """POOL over time, per channel (max, or average as ``rshift_round(sum * M, S)``)."""

    mode: PoolMode
    channels: int
    t_in: int
    kernel: int
    stride: int
    lo: int  # clamp bounds; the compiler writes the range of the input
    hi: int
    multiplier: int = 0  # AVG only: M / 2^S ~= 1 / kernel
    shift: int = 0

    @property
    def t_out(self) -> int:
        return (self.t_in - self.kernel) // self.stride + 1

    @property
    def n_in(self) -> int:
        return self.t_in * self.channels

    @property
    def n_out(self) -> int:
        return self.t_out * self.channels


QOp = QDense | QLut | QSoftmax | QArgmax | QTrees | QConv1d | QPool | QRecurrent


def op_n_out(op: QOp) -> int:
    if isinstance(op, QArgmax):
        return 2
    if isinstance(op, QLut):
        return op.n
    return op.n_out


@dataclass
class QModel:
    arch: Arch
    task: Task
    input: InputSpec
    ops: list[QOp]
    n_classes: int = 0
    labels: tuple[int | str, ...] = ()
    # Regression outputs are integers worth 2^-out_frac_bits each.
    out_frac_bits: int = 0
    name: str = "model"

    @property
    def n_features(self) -> int:
        return self.input.n_features

    @property
    def n_outputs(self) -> int:
        """Length of the ``outputs`` vector: the input of a final ARGMAX, else the last op's."""
        if isinstance(self.ops[-1], QArgmax):
            return self.ops[-1].n_in
        return op_n_out(self.ops[-1])

    @property
    def label_kind(self) -> LabelKind:
        if not self.labels:
            return LabelKind.NONE
        return LabelKind.INT if all(isinstance(v, int) for v in self.labels) else LabelKind.STR
