"""Golden vectors for the Rust kernels: small models of every op kind plus their traces.

    python -m client.model.golden --out tests/golden

writes ``<name>.mlag`` (the model file) and ``<name>.json`` (cases with every op's output)
for each model in ``golden_models()``, and ``index.json`` listing them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .compiler import compile_model
from .conv_models import GOLDEN_SPECS, random_conv_model, random_features
from .format import encode
from .importers import import_sklearn
from .ir import Activation, ActivationLayer, DenseLayer, FloatModel, Head
from .qmodel import (
    LEAF,
    Layout,
    OpKind,
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
)
from .reference import execute, features_to_q16

I64 = NDArray[np.int64]
SEED = 0


@dataclass(frozen=True)
class GoldenModel:
    name: str
    description: str
    model: QModel
    samples: I64  # (n, n_features) Q16.16 typical inputs


def _data(name: str) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    from sklearn import datasets

    loader = {
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "diabetes": datasets.load_diabetes,
    }
    x, y = loader[name](return_X_y=True)
    return np.asarray(x, dtype=np.float64), np.asarray(y)


def _fit(est: Any, x: NDArray[np.float64], y: NDArray[Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(x, y)


def _iris_mlp(hidden: int | tuple[int, ...], activation: str) -> FloatModel:
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _data("iris")
    est = make_pipeline(
        StandardScaler(),
        MLPClassifier(
            hidden if isinstance(hidden, tuple) else (hidden,),
            activation=activation,
            max_iter=2000,
            random_state=SEED,
        ),
    )
    return import_sklearn(_fit(est, x, y))


def _swap_activation(model: FloatModel, act: ActivationLayer) -> FloatModel:
    """Same weights, another activation: a kernel test vector, not a trained model."""
    layers = tuple(act if isinstance(layer, ActivationLayer) else layer for layer in model.layers)
    return FloatModel(model.n_features, layers, model.head, model.labels, model.scaling, model.name)


def _pruned_wine_mlp() -> FloatModel:
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _data("wine")
    est = _fit(
        make_pipeline(StandardScaler(), MLPClassifier((12,), max_iter=2000, random_state=SEED)),
        x,
        y,
    )
    fm = import_sklearn(est)
    first = fm.layers[0]
    assert isinstance(first, DenseLayer)
    # Magnitude pruning: keep the largest 20% of first-layer weights.
    cut = np.quantile(np.abs(first.weight), 0.8)
    pruned = DenseLayer(np.where(np.abs(first.weight) >= cut, first.weight, 0.0), first.bias)
    return FloatModel(
        fm.n_features, (pruned, *fm.layers[1:]), fm.head, fm.labels, fm.scaling, fm.name
    )


def _wine_mlp() -> FloatModel:
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _data("wine")
    est = make_pipeline(StandardScaler(), MLPClassifier((16,), max_iter=2000, random_state=SEED))
    return import_sklearn(_fit(est, x, y))


def _sign_mlp() -> FloatModel:
    """iris 4-66-3 whose output layer's weights are all +-1: quantized, every |w| is 127, so the
    PACKED3 lane bound allows at most 64 columns per chunk and its 66 inputs take two chunks
    (64 + 2); the hidden layer is six row groups. A kernel test vector, not a trained model."""
    rng = np.random.default_rng(SEED)
    layers = (
        DenseLayer(rng.normal(0, 0.7, (66, 4)), rng.normal(0, 0.5, 66)),
        ActivationLayer(Activation.RELU),
        DenseLayer(rng.choice([-1.0, 1.0], (3, 66)), rng.normal(0, 0.1, 3)),
    )
    scaling = _iris_mlp(8, "relu").scaling
    return FloatModel(4, layers, Head.SOFTMAX, labels=(0, 1, 2), scaling=scaling, name="signs")


def _builders() -> list[tuple[str, str, str, Callable[[], FloatModel], dict[str, Any]]]:
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    def sk(est: Any, data: str) -> Callable[[], FloatModel]:
        def build() -> FloatModel:
            x, y = _data(data)
            return import_sklearn(_fit(est, x, y))

        return build

    def act(kind: Activation, alpha: float = 0.2, beta: float = 0.5) -> Callable[[], FloatModel]:
        return lambda: _swap_activation(_iris_mlp(6, "relu"), ActivationLayer(kind, alpha, beta))

    relu = lambda: _iris_mlp(8, "relu")  # noqa: E731
    return [
        (
            "mlp_int8_compact",
            "iris 4-8-3 ReLU MLP, INT8, COMPACT",
            "iris",
            relu,
            {"precision": 8, "layout": Layout.COMPACT},
        ),
        (
            "mlp_int8_packed",
            "iris 4-8-3 ReLU MLP, INT8, PACKED",
            "iris",
            relu,
            {"precision": 8, "layout": Layout.PACKED},
        ),
        (
            "mlp_int8_packed3",
            "wine 13-16-3 ReLU MLP, INT8, PACKED3 (two row groups, 13 columns in one chunk)",
            "wine",
            _wine_mlp,
            {"precision": 8, "layout": Layout.PACKED3},
        ),
        (
            "mlp_int8_packed3_chunked",
            "iris 4-66-3 MLP with +-1 output weights, INT8, PACKED3 (66 inputs in chunks of 64+2)",
            "iris",
            _sign_mlp,
            {"precision": 8, "layout": Layout.PACKED3},
        ),
        ("mlp_int16", "iris 4-8-3 ReLU MLP, INT16, COMPACT", "iris", relu, {"precision": 16}),
        (
            "mlp_int8_sparse",
            "wine 13-12-3 MLP with 80% of layer 0 pruned, INT8, SPARSE layer 0",
            "wine",
            _pruned_wine_mlp,
            {"precision": 8},
        ),
        (
            "mlp_int16_sparse",
            "the pruned wine MLP at INT16, SPARSE layer 0",
            "wine",
            _pruned_wine_mlp,
            {"precision": 16},
        ),
        (
            "sigmoid_int8",
            "iris 4-6-3 MLP with a sigmoid LUT, INT8",
            "iris",
            act(Activation.SIGMOID),
            {"precision": 8},
        ),
        (
            "sigmoid_int16",
            "iris 4-6-3 MLP with a sigmoid LUT, INT16",
            "iris",
            act(Activation.SIGMOID),
            {"precision": 16},
        ),
        (
            "tanh_int8",
            "iris 4-6-3 MLP with a tanh LUT, INT8",
            "iris",
            act(Activation.TANH),
            {"precision": 8},
        ),
        (
            "tanh_int16",
            "iris 4-6-3 MLP with a tanh LUT, INT16",
            "iris",
            act(Activation.TANH),
            {"precision": 16},
        ),
        (
            "mixed_precision_tanh",
            "iris 4-8-6-3 tanh MLP, per-layer precision INT16 / INT8 / INT16: every dtype "
            "transition (I16 dense writing I8 for an I8 LUT, I8 dense writing I16 for an I16 LUT)",
            "iris",
            lambda: _iris_mlp((8, 6), "tanh"),
            {"precision": (16, 8, 16)},
        ),
        (
            "hard_sigmoid_int8",
            "iris 4-6-3 MLP with a hard-sigmoid LUT, INT8",
            "iris",
            act(Activation.HARD_SIGMOID),
            {"precision": 8},
        ),
        (
            "hard_sigmoid_int16",
            "iris 4-6-3 MLP with a hard-sigmoid LUT (torch 1/6, 0.5), INT16",
            "iris",
            act(Activation.HARD_SIGMOID, 1 / 6, 0.5),
            {"precision": 16},
        ),
        (
            "logistic_binary_int8",
            "breast-cancer logistic regression: binary softmax over [0, z]",
            "breast_cancer",
            sk(make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)), "breast_cancer"),
            {"precision": 8},
        ),
        (
            "linear_regression_int16",
            "diabetes linear regression (regression output 2^-F)",
            "diabetes",
            sk(LinearRegression(), "diabetes"),
            {"precision": 16},
        ),
        (
            "decision_tree",
            "iris decision tree, depth 4",
            "iris",
            sk(DecisionTreeClassifier(max_depth=4, random_state=SEED), "iris"),
            {},
        ),
        (
            "rf_classifier",
            "iris random forest, 5 trees of depth 3 (PROBA + DIV)",
            "iris",
            sk(RandomForestClassifier(5, max_depth=3, random_state=SEED), "iris"),
            {},
        ),
        (
            "rf_regressor",
            "diabetes random forest regressor, 5 trees of depth 3",
            "diabetes",
            sk(RandomForestRegressor(5, max_depth=3, random_state=SEED), "diabetes"),
            {},
        ),
        (
            "gb_binary",
            "breast-cancer gradient boosting, 5 trees of depth 2 (binary softmax)",
            "breast_cancer",
            sk(
                GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=SEED),
                "breast_cancer",
            ),
            {},
        ),
        (
            "gb_multiclass",
            "iris gradient boosting, 4 rounds x 3 classes of depth 2",
            "iris",
            sk(GradientBoostingClassifier(n_estimators=4, max_depth=2, random_state=SEED), "iris"),
            {},
        ),
        (
            "gb_regressor",
            "diabetes gradient boosting regressor, 5 trees of depth 2",
            "diabetes",
            sk(
                GradientBoostingRegressor(n_estimators=5, max_depth=2, random_state=SEED),
                "diabetes",
            ),
            {},
        ),
    ]


def _recurrent_goldens() -> list[GoldenModel]:
    """GRU and LSTM models from seeded random float weights (kernel test vectors, not trained
    models): both cells, INT8 and INT16 weights, sequence-to-last and sequence-to-sequence,
    shapes that exercise an odd row count, a lone last row pair and the unrolled columns."""
    from .ir import CellKind, RecurrentLayer
    from .qmodel import DType
    from .rnn_compile import compile_recurrent

    out = []
    for cell, steps, feats, hid in ((CellKind.GRU, 6, 5, 3), (CellKind.LSTM, 5, 2, 5)):
        for dtype in (DType.I8, DType.I16):
            for seq in (False, True):
                rng = np.random.default_rng(SEED + 7 * hid + int(dtype) + 2 * seq)
                g = 3 if cell is CellKind.GRU else 4
                rec = RecurrentLayer(
                    cell,
                    steps,
                    rng.normal(0, 0.6, (g * hid, feats)),
                    rng.normal(0, 0.6, (g * hid, hid)),
                    rng.normal(0, 0.3, g * hid),
                    rng.normal(0, 0.3, g * hid),
                    seq,
                )
                head = DenseLayer(rng.normal(0, 1.0, (3, rec.n_out)), rng.normal(0, 0.1, 3))
                fm = FloatModel(steps * feats, (rec, head), Head.SOFTMAX, labels=(0, 1, 2))
                x = rng.normal(0, 1.0, (200, steps * feats))
                qm = compile_recurrent(fm, x, (dtype,))
                mode = "seq" if seq else "last"
                name = f"{cell.value}_{dtype.name.lower()}_{mode}"
                qm.name = name
                desc = (
                    f"{cell.value.upper()} {steps}x{feats} -> {hid} ({mode}), {dtype.name} "
                    "weights, INT16 dense head, random weights"
                )
                out.append(GoldenModel(name, desc, qm, features_to_q16(x[:6])))
                if dtype is DType.I8:
                    # Speed mode: the h part in PACKED3 words over the Q7 state.
                    fast = compile_recurrent(fm, x, (dtype,), prefer="speed")
                    fast.name = f"{name}_speed"
                    out.append(
                        GoldenModel(
                            fast.name,
                            desc + ", speed mode (PACKED3 h part)",
                            fast,
                            features_to_q16(x[:6]),
                        )
                    )
    return out


def golden_models() -> list[GoldenModel]:
    out = _recurrent_goldens()
    for name, desc, data, build, opts in _builders():
        x, _ = _data(data)
        fm = build()
        qm = compile_model(fm, x, opts.get("precision", 8), layout=opts.get("layout"))
        qm.name = name
        rng = np.random.default_rng(SEED)
        pick = rng.choice(x.shape[0], size=6, replace=False)
        out.append(GoldenModel(name, desc, qm, features_to_q16(x[pick])))
    for name, (desc, spec) in GOLDEN_SPECS.items():
        qm = random_conv_model(spec, seed=SEED)
        qm.name = name
        out.append(GoldenModel(name, desc, qm, random_features(qm, 8, seed=SEED)[2:]))
    return out


def edge_cases(model: QModel, samples: I64) -> list[tuple[str, I64]]:
    """Named feature vectors: samples, range corners, zeros, saturation, exact thresholds."""
    lo, hi = model.input.lo, model.input.hi
    cases = [(f"sample_{i}", s) for i, s in enumerate(samples)]
    cases += [
        ("range_lo", lo.copy()),
        ("range_hi", hi.copy()),
        ("range_mixed", np.where(np.arange(lo.size) % 2 == 0, lo, hi)),
    ]
    zero = np.zeros_like(lo)
    if np.all((lo <= 0) & (hi >= 0)):
        cases.append(("all_zero", zero))
    # Saturation: halfway between the typical value and a range end drives the input
    # affine and the hidden layers into their clamps.
    mid = (samples[0] + hi) // 2
    cases.append(("saturate_high", np.clip(mid, lo, hi)))
    trees = model.ops[0]
    if isinstance(trees, QTrees):
        root = int(trees.roots[0])
        f = int(trees.feature[root])
        if f != LEAF:
            t = int(trees.threshold[root])
            for label, val in (("threshold_exact", t), ("threshold_plus_1", t + 1)):
                v = samples[0].copy()
                v[f] = np.clip(val, lo[f], hi[f])
                cases.append((label, v))
    return cases


def _op_name(op: QOp) -> str:
    if isinstance(op, QDense):
        return f"DENSE/{op.layout.name}/{op.dtype.name}"
    if isinstance(op, QLut):
        return f"LUT/{op.kind.name}/{op.dtype.name}"
    if isinstance(op, QSoftmax):
        return "SOFTMAX/BINARY" if op.binary else "SOFTMAX"
    if isinstance(op, QArgmax):
        return f"ARGMAX/{op.mode.name}"
    if isinstance(op, QConv1d):
        return f"CONV1D/{op.dtype.name}"
    if isinstance(op, QPool):
        return f"POOL/{op.mode.name}"
    if isinstance(op, QRecurrent):
        return f"{op.kind.name}/{op.dtype.name}/{'SEQUENCE' if op.sequence else 'LAST'}"
    return f"TREES/{op.mode.name}"


def golden_document(g: GoldenModel) -> tuple[bytes, dict[str, Any]]:
    data = encode(g.model)
    cases = []
    for label, x in edge_cases(g.model, g.samples):
        tr = execute(g.model, x[None, :])
        case: dict[str, Any] = {"name": label, "features_fx": x.tolist()}
        if tr.input_q is not None:
            case["input_q"] = tr.input_q[0].tolist()
        case["layers"] = [layer[0].tolist() for layer in tr.layers]
        case["outputs"] = tr.outputs[0].tolist()
        case["class"] = int(tr.classes[0])
        case["confidence_q16"] = int(tr.confidence[0])
        cases.append(case)
    lo, hi = g.model.input.lo, g.model.input.hi
    rejects = []
    for label, j, val in (
        ("below_lo", 0, int(lo[0]) - 1),
        ("above_hi", lo.size - 1, int(hi[-1]) + 1),
    ):
        if not -(1 << 31) <= val < 1 << 31:
            continue
        x = g.samples[0].copy()
        x[j] = val
        rejects.append({"name": label, "features_fx": x.tolist(), "feature": j})
    outside = np.nonzero((lo > 0) | (hi < 0))[0]
    if outside.size:
        # All-zero input lies outside the declared range: the chain must reject it.
        rejects.append(
            {"name": "all_zero", "features_fx": [0] * lo.size, "feature": int(outside[0])}
        )
    doc = {
        "model": g.name,
        "file": f"{g.name}.mlag",
        "description": g.description,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "ops": [_op_name(op) for op in g.model.ops],
        "op_kinds": [OpKind[_op_name(op).split("/")[0]].value for op in g.model.ops],
        "out_frac_bits": g.model.out_frac_bits,
        "cases": cases,
        "reject_cases": rejects,
    }
    return data, doc


def write_golden(out: Path) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    names = []
    for g in golden_models():
        data, doc = golden_document(g)
        (out / f"{g.name}.mlag").write_bytes(data)
        (out / f"{g.name}.json").write_text(json.dumps(doc, separators=(",", ":")) + "\n")
        names.append(g.name)
    index = {
        "format_version": 1,
        "models": names,
        "note": "written by python -m client.model.golden; see docs/model-format.md",
    }
    (out / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    return names


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("tests/golden"))
    args = parser.parse_args(argv)
    names = write_golden(args.out)
    total = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"wrote {len(names)} golden models to {args.out} ({total} bytes)")


if __name__ == "__main__":
    main()
