"""The benchmark models: each target of the inference issue as a compiled model plus inputs.

Trained ones use scikit-learn (the `sklearn` extra) on its bundled or synthetic data sets;
the pure-throughput ones (the 128x128 layer, the largest MLP) have seeded random weights. All
are compiled by `client.model.compile_model`, exactly as a user's model would be.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..model import compile_model, encode, features_to_q16
from ..model.ir import Activation, ActivationLayer, DenseLayer, FloatModel, Head
from ..model.qmodel import LEAF, QDense, QModel, QTrees

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
SEED = 0


@dataclass(frozen=True)
class Target:
    """A CU ceiling from the issue, on the whole instruction or on the kernel alone."""

    what: str  # "instruction" | "kernel_cu_per_mac" | "min_macs"
    value: float


@dataclass(frozen=True)
class BenchModel:
    name: str
    description: str
    qmodel: QModel
    data: bytes
    samples: I64  # (n, n_features) Q16.16 inputs inside the declared range
    target: Target | None = None

    @property
    def architecture(self) -> str:
        return architecture(self.qmodel)

    @property
    def macs(self) -> int:
        return sum(op.n_in * op.n_out for op in self.qmodel.ops if isinstance(op, QDense))

    @property
    def nodes(self) -> int:
        return sum(op.n_nodes for op in self.qmodel.ops if isinstance(op, QTrees))

    @property
    def trees(self) -> int:
        return sum(op.n_trees for op in self.qmodel.ops if isinstance(op, QTrees))

    @property
    def max_depth(self) -> int:
        return max((op.max_depth for op in self.qmodel.ops if isinstance(op, QTrees)), default=0)


def architecture(qm: QModel) -> str:
    dense = [op for op in qm.ops if isinstance(op, QDense)]
    if dense:
        widths = [dense[0].n_in] + [op.n_out for op in dense]
        kinds = {f"{op.dtype.name} {op.layout.name}" for op in dense}
        return f"MLP {'-'.join(map(str, widths))} ({', '.join(sorted(kinds))})"
    trees = next(op for op in qm.ops if isinstance(op, QTrees))
    internal = int(np.count_nonzero(trees.feature != LEAF))
    return (
        f"{trees.n_trees} tree{'s' if trees.n_trees > 1 else ''}, {trees.n_nodes} nodes "
        f"({internal} splits), depth <= {trees.max_depth}, {trees.mode.name}"
    )


def _fit(est: Any, x: F64, y: NDArray[Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(x, y)


def _samples(x: F64, n: int = 64) -> I64:
    rng = np.random.default_rng(SEED)
    pick = rng.choice(x.shape[0], size=min(n, x.shape[0]), replace=False)
    return features_to_q16(x[pick])


def boundary_samples(model: BenchModel, n: int) -> I64:
    """`n` seeded inputs at the edges of the declared range: each feature at its lower bound,
    its upper bound or uniform inside. These drive the clamps and saturations the data samples
    rarely reach, so the worst-case CU covers them too."""
    rng = np.random.default_rng(SEED + 1)
    lo = np.asarray(model.qmodel.input.lo, dtype=np.int64)
    hi = np.asarray(model.qmodel.input.hi, dtype=np.int64)
    pick = rng.integers(0, 3, size=(n, lo.size))
    inside = rng.integers(lo, hi + 1, size=(n, lo.size))
    out: I64 = np.where(pick == 0, lo, np.where(pick == 1, hi, inside))
    return out


def measured_rows(model: BenchModel, n: int) -> I64:
    """The inputs the bench (and scripts/profile_infer.py) take the worst case over: the first
    `n` data samples and `n` boundary inputs."""
    rows: I64 = np.vstack([model.samples[:n], boundary_samples(model, n)])
    return rows


def _build(name: str, description: str, qm: QModel, x: F64, target: Target | None) -> BenchModel:
    qm.name = name
    samples = np.clip(_samples(x), qm.input.lo, qm.input.hi)
    return BenchModel(name, description, qm, encode(qm), samples, target)


def random_mlp(widths: list[int], *, seed: int = SEED, relu: bool = True) -> tuple[FloatModel, F64]:
    """A regression MLP with He-scaled random weights and standard-normal calibration data."""
    rng = np.random.default_rng(seed)
    layers: list[DenseLayer | ActivationLayer] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(DenseLayer(rng.normal(0, np.sqrt(2.0 / a), (b, a)), rng.normal(0, 0.1, b)))
        if relu and i < len(widths) - 2:
            layers.append(ActivationLayer(Activation.RELU))
    fm = FloatModel(n_features=widths[0], layers=tuple(layers), head=Head.NONE, name="random")
    return fm, rng.normal(0, 1, (256, widths[0]))


def dense_128() -> BenchModel:
    """The 128x128 layer is op 0; a 128x8 layer follows because return data carries at most 126
    outputs. The target applies to op 0 alone."""
    fm, x = random_mlp([128, 128, 8])
    qm = compile_model(fm, x, 8, prefer="speed")
    return _build(
        "dense128_int8",
        "INT8 dense 128x128 (PACKED3) + 128x8, random weights",
        qm,
        x,
        Target("kernel_cu_per_mac", 3.0),
    )


def iris_mlp() -> BenchModel:
    from sklearn.datasets import load_iris
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ..model import import_sklearn

    x, y = load_iris(return_X_y=True)
    est = _fit(
        make_pipeline(StandardScaler(), MLPClassifier((8,), max_iter=2000, random_state=SEED)), x, y
    )
    qm = compile_model(import_sklearn(est), x, 8, prefer="speed")
    return _build(
        "iris_mlp_4_8_3",
        "iris MLP 4-8-3 ReLU, INT8, softmax head",
        qm,
        x,
        Target("instruction", 2000),
    )


def mlp_12_8_1() -> BenchModel:
    from sklearn.datasets import make_classification
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ..model import import_sklearn

    x, y = make_classification(1000, n_features=12, n_informative=8, random_state=SEED)
    est = _fit(
        make_pipeline(StandardScaler(), MLPClassifier((8,), max_iter=2000, random_state=SEED)), x, y
    )
    qm = compile_model(import_sklearn(est), x, 8, prefer="speed")
    return _build(
        "mlp_12_8_1",
        "binary MLP 12-8-1 ReLU, INT8, logistic head",
        qm,
        x,
        Target("instruction", 2500),
    )


def decision_tree_100() -> BenchModel:
    from sklearn.datasets import make_classification
    from sklearn.tree import DecisionTreeClassifier

    from ..model import import_sklearn

    x, y = make_classification(2000, n_features=10, n_informative=6, n_classes=3, random_state=SEED)
    est = _fit(DecisionTreeClassifier(max_leaf_nodes=50, max_depth=12, random_state=SEED), x, y)
    qm = compile_model(import_sklearn(est), x)
    return _build(
        "tree_100",
        "decision tree, 99 nodes, depth <= 12, 3 classes",
        qm,
        x,
        Target("instruction", 1500),
    )


def gb_100x6() -> BenchModel:
    from sklearn.datasets import make_classification
    from sklearn.ensemble import GradientBoostingClassifier

    from ..model import import_sklearn

    x, y = make_classification(3000, n_features=10, n_informative=6, random_state=SEED)
    est = _fit(GradientBoostingClassifier(n_estimators=100, max_depth=6, random_state=SEED), x, y)
    qm = compile_model(import_sklearn(est), x)
    return _build(
        "gb_100x6",
        "gradient boosting, 100 trees of depth 6, binary",
        qm,
        x,
        Target("instruction", 20_000),
    )


# Inputs of the largest-MLP bench: 256 made an `infer` transaction of 1,313 bytes, over the
# 1,232-byte packet (LiteSVM does not enforce it; a validator drops it); 224 fit
# (client/model/feasibility.py: at most 235).
LARGEST_INPUTS = 224


def largest_mlp(hidden: int) -> BenchModel:
    """224-h-h-10 INT8 MLP (PACKED3 where it is faster); the bench picks h so the instruction
    fits 1.4M CU. Raises InfeasibleModelError when the compiler's CU estimate says it cannot."""
    n = LARGEST_INPUTS
    fm, x = random_mlp([n, hidden, hidden, 10], seed=SEED + 1)
    qm = compile_model(fm, x, 8, prefer="speed")
    return _build(
        f"mlp_{n}_{hidden}_{hidden}_10",
        f"INT8 MLP {n}-{hidden}-{hidden}-10 (PACKED3), random weights",
        qm,
        x,
        Target("min_macs", 300_000),
    )


# The fixed benchmark set, in report order.
BUILDERS: list[Callable[[], BenchModel]] = [
    dense_128,
    iris_mlp,
    mlp_12_8_1,
    decision_tree_100,
    gb_100x6,
]
