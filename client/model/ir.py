"""Float intermediate representation produced by the importers and consumed by the compiler.

The IR is deliberately small: a feature scaling step, then either a chain of dense layers and
elementwise activations or a single tree ensemble, then a head that turns the last vector into
a class (or leaves it as regression outputs).  ``FloatModel.forward`` is the float reference the
quantized model is compared against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from .errors import UnsupportedModelError

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


class Activation(StrEnum):
    RELU = "relu"
    SIGMOID = "sigmoid"
    TANH = "tanh"
    HARD_SIGMOID = "hard_sigmoid"


class Head(StrEnum):
    """How the final vector becomes a prediction."""

    SOFTMAX = "softmax"  # multiclass logits; class = argmax
    LOGISTIC = "logistic"  # one binary logit z; class = z > 0 (softmax over [0, z])
    VOTE = "vote"  # per-class probability sums of a forest; class = argmax
    NONE = "none"  # regression: the vector is the prediction


class ScalingKind(StrEnum):
    NONE = "none"
    STANDARD = "standard"
    MINMAX = "minmax"
    AFFINE = "affine"


class TreeMode(StrEnum):
    PROBA = "proba"  # each leaf holds a class-probability vector; trees' vectors are summed
    VALUE = "value"  # each leaf holds one value added to output (tree index mod n_outputs)


@dataclass(frozen=True)
class FeatureScaling:
    """u_j = (x_j - offset_j) * scale_j, applied before the first layer."""

    kind: ScalingKind
    offset: F64
    scale: F64

    def apply(self, x: F64) -> F64:
        return (x - self.offset) * self.scale


@dataclass(frozen=True)
class DenseLayer:
    weight: F64  # (n_out, n_in)
    bias: F64  # (n_out,)

    def __post_init__(self) -> None:
        if self.weight.ndim != 2 or self.bias.shape != (self.weight.shape[0],):
            raise UnsupportedModelError(
                f"dense layer needs weight (n_out, n_in) and bias (n_out,), got "
                f"{self.weight.shape} and {self.bias.shape}"
            )

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])

    def forward(self, x: F64) -> F64:
        out: F64 = x @ self.weight.T + self.bias
        return out


@dataclass(frozen=True)
class ActivationLayer:
    kind: Activation
    # hard_sigmoid(x) = clip(alpha * x + beta, 0, 1); ONNX defaults, torch uses 1/6 and 0.5.
    alpha: float = 0.2
    beta: float = 0.5

    def forward(self, x: F64) -> F64:
        return apply_activation(self.kind, x, self.alpha, self.beta)


def apply_activation(kind: Activation, x: F64, alpha: float = 0.2, beta: float = 0.5) -> F64:
    if kind is Activation.RELU:
        return np.maximum(x, 0.0)
    if kind is Activation.SIGMOID:
        out: F64 = 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic
        return out
    if kind is Activation.TANH:
        return np.tanh(x)
    return np.clip(alpha * x + beta, 0.0, 1.0)


@dataclass(frozen=True)
class Tree:
    """One binary tree in sklearn's array form: go left iff x[feature] <= threshold.

    Leaves have ``feature == -1``; ``value[node]`` is the leaf's vector (width = PROBA classes,
    1 for VALUE trees).  Children always have larger indices than their parent.
    """

    feature: I64
    threshold: F64
    left: I64
    right: I64
    value: F64  # (n_nodes, width)

    @property
    def n_nodes(self) -> int:
        return int(self.feature.shape[0])

    def depth(self) -> int:
        depth = np.zeros(self.n_nodes, dtype=np.int64)
        for i in range(self.n_nodes):
            if self.feature[i] >= 0:
                depth[self.left[i]] = depth[i] + 1
                depth[self.right[i]] = depth[i] + 1
        return int(depth.max())

    def leaf_index(self, x: F64) -> I64:
        # scikit-learn compares float32 features against float64 thresholds.
        x = x.astype(np.float32).astype(np.float64)
        node = np.zeros(x.shape[0], dtype=np.int64)
        for _ in range(self.n_nodes):
            feat = self.feature[node]
            inner = feat >= 0
            if not inner.any():
                break
            xv = x[np.arange(x.shape[0]), np.where(inner, feat, 0)]
            go_left = xv <= self.threshold[node]
            nxt = np.where(go_left, self.left[node], self.right[node])
            node = np.where(inner, nxt, node)
        return node


@dataclass(frozen=True)
class TreeEnsemble:
    trees: tuple[Tree, ...]
    mode: TreeMode
    n_outputs: int
    base: F64  # (n_outputs,) added once (VALUE mode); zeros for PROBA

    def forward(self, x: F64) -> F64:
        out = np.tile(self.base, (x.shape[0], 1)).astype(np.float64)
        for t, tree in enumerate(self.trees):
            vals = tree.value[tree.leaf_index(x)]
            if self.mode is TreeMode.PROBA:
                out += vals
            else:
                out[:, t % self.n_outputs] += vals[:, 0]
        return out


class CellKind(StrEnum):
    GRU = "gru"  # gates r, z, n (PyTorch order), linear_before_reset
    LSTM = "lstm"  # gates i, f, g, o (PyTorch order)


def _sigmoid(x: F64) -> F64:
    out: F64 = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


@dataclass(frozen=True)
class RecurrentLayer:
    """A unidirectional GRU / LSTM over a flat window (feature index ``t * features + f``),
    h_0 = c_0 = 0, PyTorch's weight layout and gate order (``w_ih`` (G*H, F), ``w_hh``
    (G*H, H), ``b_ih``, ``b_hh``). ``sequence``: output every step's h (T*H values), else the
    last one (H)."""

    cell: CellKind
    steps: int
    w_ih: F64
    w_hh: F64
    b_ih: F64
    b_hh: F64
    sequence: bool = False

    def __post_init__(self) -> None:
        g = 3 if self.cell is CellKind.GRU else 4
        rows, hid = self.w_hh.shape[0], self.w_hh.shape[1] if self.w_hh.ndim == 2 else -1
        if (
            self.w_hh.ndim != 2
            or self.w_ih.ndim != 2
            or rows != g * hid
            or self.w_ih.shape[0] != rows
            or self.b_ih.shape != (rows,)
            or self.b_hh.shape != (rows,)
            or self.steps < 1
        ):
            raise UnsupportedModelError(
                f"{self.cell.value}: weights must be w_ih ({g}H, F), w_hh ({g}H, H), biases "
                f"({g}H,), got {self.w_ih.shape}, {self.w_hh.shape}, {self.b_ih.shape}, "
                f"{self.b_hh.shape}"
            )

    @property
    def hidden(self) -> int:
        return int(self.w_hh.shape[1])

    @property
    def features(self) -> int:
        return int(self.w_ih.shape[1])

    @property
    def n_in(self) -> int:
        return self.steps * self.features

    @property
    def n_out(self) -> int:
        return self.steps * self.hidden if self.sequence else self.hidden

    def forward(self, x: F64) -> F64:
        hid = self.hidden
        xs = np.asarray(x, dtype=np.float64).reshape(x.shape[0], self.steps, self.features)
        h = np.zeros((x.shape[0], hid))
        c = np.zeros_like(h)
        seq = []
        for t in range(self.steps):
            gx = xs[:, t] @ self.w_ih.T + self.b_ih
            gh = h @ self.w_hh.T + self.b_hh
            if self.cell is CellKind.GRU:
                r = _sigmoid(gx[:, :hid] + gh[:, :hid])
                z = _sigmoid(gx[:, hid : 2 * hid] + gh[:, hid : 2 * hid])
                n = np.tanh(gx[:, 2 * hid :] + r * gh[:, 2 * hid :])
                h = (1.0 - z) * n + z * h
            else:
                g = gx + gh
                i, f = _sigmoid(g[:, :hid]), _sigmoid(g[:, hid : 2 * hid])
                gg, o = np.tanh(g[:, 2 * hid : 3 * hid]), _sigmoid(g[:, 3 * hid :])
                c = f * c + i * gg
                h = o * np.tanh(c)
            seq.append(h)
        out: F64 = np.concatenate(seq, axis=1) if self.sequence else h
        return out


@dataclass(frozen=True)
class Conv1dLayer:
    """1-D convolution over a time-major, channels-last window: input ``(t, c)`` at flat index
    ``t * c_in + c``, output ``(t, o)`` at ``t * c_out + o``. ``weight`` is in PyTorch / ONNX
    order ``(c_out, c_in, k)``; padded positions read 0 (in the layer's input units)."""

    weight: F64  # (c_out, c_in, k)
    bias: F64  # (c_out,)
    t_in: int
    stride: int = 1
    pad_left: int = 0
    pad_right: int = 0
    dilation: int = 1

    def __post_init__(self) -> None:
        if self.weight.ndim != 3 or self.bias.shape != (self.weight.shape[0],):
            raise UnsupportedModelError(
                f"Conv1d needs weight (c_out, c_in, k) and bias (c_out,), got "
                f"{self.weight.shape} and {self.bias.shape}"
            )
        if self.t_out < 1:
            raise UnsupportedModelError(
                f"Conv1d window {self.dilation * (self.k - 1) + 1} is longer than the padded "
                f"input ({self.t_in} + {self.pad_left} + {self.pad_right} steps)"
            )

    @property
    def c_out(self) -> int:
        return int(self.weight.shape[0])

    @property
    def c_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def k(self) -> int:
        return int(self.weight.shape[2])

    @property
    def t_out(self) -> int:
        span = self.dilation * (self.k - 1) + 1
        return (self.t_in + self.pad_left + self.pad_right - span) // self.stride + 1

    @property
    def n_in(self) -> int:
        return self.t_in * self.c_in

    @property
    def n_out(self) -> int:
        return self.t_out * self.c_out

    def windows(self, x: F64) -> F64:
        """(B, t_out, k * c_in) input windows, tap-major: column ``j * c_in + c``."""
        b = x.shape[0]
        xs = x.reshape(b, self.t_in, self.c_in)
        xp = np.zeros((b, self.t_in + self.pad_left + self.pad_right, self.c_in))
        xp[:, self.pad_left : self.pad_left + self.t_in] = xs
        idx = np.arange(self.t_out)[:, None] * self.stride + np.arange(self.k) * self.dilation
        out: F64 = xp[:, idx, :].reshape(b, self.t_out, self.k * self.c_in)
        return out

    def matrix(self) -> F64:
        """The weights as the ``(c_out, k * c_in)`` matrix the windows multiply."""
        out: F64 = self.weight.transpose(0, 2, 1).reshape(self.c_out, -1)
        return out

    def forward(self, x: F64) -> F64:
        out: F64 = (self.windows(x) @ self.matrix().T + self.bias).reshape(x.shape[0], -1)
        return out


class PoolKind(StrEnum):
    MAX = "max"
    AVG = "avg"


@dataclass(frozen=True)
class Pool1dLayer:
    """Max or average pooling over time, per channel (no padding); kernel = t_in is global."""

    kind: PoolKind
    channels: int
    t_in: int
    kernel: int
    stride: int

    def __post_init__(self) -> None:
        if not 1 <= self.kernel <= self.t_in or self.stride < 1 or self.channels < 1:
            raise UnsupportedModelError(
                f"pooling kernel {self.kernel} / stride {self.stride} over {self.t_in} steps"
            )

    @property
    def t_out(self) -> int:
        return (self.t_in - self.kernel) // self.stride + 1

    @property
    def n_out(self) -> int:
        return self.t_out * self.channels

    def forward(self, x: F64) -> F64:
        b = x.shape[0]
        xs = x.reshape(b, self.t_in, self.channels)
        idx = np.arange(self.t_out)[:, None] * self.stride + np.arange(self.kernel)
        win = xs[:, idx, :]
        out: F64 = (win.max(axis=2) if self.kind is PoolKind.MAX else win.mean(axis=2)).reshape(
            b, -1
        )
        return out


Layer = DenseLayer | ActivationLayer | TreeEnsemble | RecurrentLayer | Conv1dLayer | Pool1dLayer


@dataclass(frozen=True)
class FloatPrediction:
    outputs: F64  # (batch, n) last vector before the head
    classes: I64  # (batch,) class index; zeros for regression


@dataclass(frozen=True)
class FloatModel:
    """An imported model in float, ready for ``compile_model``."""

    n_features: int
    layers: tuple[Layer, ...]
    head: Head
    labels: tuple[int | str, ...] = ()
    scaling: FeatureScaling | None = None
    name: str = "model"
    # Number of trees whose PROBA vectors are summed (confidence = sum / divisor).
    vote_divisor: int = 1
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.layers:
            raise UnsupportedModelError("a model needs at least one layer")
        if any(isinstance(layer, TreeEnsemble) for layer in self.layers) and len(self.layers) != 1:
            raise UnsupportedModelError("a tree ensemble must be the only layer of a model")
        if isinstance(self.layers[0], ActivationLayer):
            raise UnsupportedModelError(
                f"an activation ({self.layers[0].kind.value}) before the first dense layer is "
                "not supported"
            )

    @property
    def is_trees(self) -> bool:
        return isinstance(self.layers[0], TreeEnsemble)

    @property
    def n_classes(self) -> int:
        if self.head is Head.NONE:
            return 0
        return len(self.labels)

    def scale_inputs(self, x: F64) -> F64:
        return self.scaling.apply(x) if self.scaling is not None else x

    def trace(self, x: NDArray[np.floating]) -> list[F64]:
        """Output of every layer (after input scaling) for a float batch."""
        h = self.scale_inputs(np.asarray(x, dtype=np.float64))
        outs = []
        for layer in self.layers:
            h = layer.forward(h)
            outs.append(h)
        return outs

    def forward(self, x: NDArray[np.floating]) -> FloatPrediction:
        z = self.trace(x)[-1]
        if self.head is Head.NONE:
            classes = np.zeros(z.shape[0], dtype=np.int64)
        elif self.head is Head.LOGISTIC:
            classes = (z[:, 0] > 0).astype(np.int64)
        else:
            classes = np.argmax(z, axis=1).astype(np.int64)
        return FloatPrediction(outputs=z, classes=classes)
