"""scikit-learn importer: trees, forests, gradient boosting, MLPs, linear models, pipelines."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import UnsupportedModelError
from ..ir import (
    Activation,
    ActivationLayer,
    DenseLayer,
    FeatureScaling,
    FloatModel,
    Head,
    Layer,
    ScalingKind,
    Tree,
    TreeEnsemble,
    TreeMode,
)

F64 = NDArray[np.float64]

_MLP_ACT = {
    "relu": Activation.RELU,
    "logistic": Activation.SIGMOID,
    "tanh": Activation.TANH,
}


def _labels(classes: Any) -> tuple[int | str, ...]:
    out: list[int | str] = []
    for c in np.asarray(classes).tolist():
        if isinstance(c, bool | int | np.integer):
            out.append(int(c))
        elif isinstance(c, float) and c.is_integer():
            out.append(int(c))
        else:
            out.append(str(c))
    return tuple(out)


def _tree(est: Any, *, proba: bool, factor: float = 1.0) -> Tree:
    t = est.tree_
    if t.n_outputs != 1:
        raise UnsupportedModelError(
            f"{type(est).__name__}: multi-output trees ({t.n_outputs} outputs) are not supported"
        )
    value = np.asarray(t.value[:, 0, :], dtype=np.float64)
    if proba:
        totals = value.sum(axis=1, keepdims=True)
        value = value / np.where(totals > 0, totals, 1.0)
    feature = np.where(t.children_left < 0, -1, t.feature).astype(np.int64)
    return Tree(
        feature=feature,
        threshold=np.asarray(t.threshold, dtype=np.float64),
        left=np.asarray(t.children_left, dtype=np.int64),
        right=np.asarray(t.children_right, dtype=np.int64),
        value=value * factor,
    )


def _scaling(steps: list[Any], n_features: int) -> FeatureScaling | None:
    offset = np.zeros(n_features)
    scale = np.ones(n_features)
    kinds = []
    for step in steps:
        name = type(step).__name__
        if step == "passthrough" or step is None:
            continue
        if name == "StandardScaler":
            mean = step.mean_ if step.mean_ is not None else np.zeros(n_features)
            sc = step.scale_ if step.scale_ is not None else np.ones(n_features)
            o, s = np.asarray(mean, dtype=np.float64), 1.0 / np.asarray(sc, dtype=np.float64)
            kinds.append(ScalingKind.STANDARD)
        elif name == "MinMaxScaler":
            s = np.asarray(step.scale_, dtype=np.float64)
            o = -np.asarray(step.min_, dtype=np.float64) / s
            kinds.append(ScalingKind.MINMAX)
        else:
            raise UnsupportedModelError(
                f"pipeline step {name} is not supported (only StandardScaler, MinMaxScaler and a "
                "final estimator)"
            )
        # (x - offset) * scale followed by (u - o) * s == (x - (offset + o / scale)) * scale * s
        offset = offset + o / scale
        scale = scale * s
    if not kinds:
        return None
    kind = kinds[0] if len(kinds) == 1 else ScalingKind.AFFINE
    return FeatureScaling(kind=kind, offset=offset, scale=scale)


def import_sklearn(estimator: Any, *, name: str | None = None) -> FloatModel:
    """Convert a fitted scikit-learn estimator (or Pipeline of scalers + estimator)."""
    scaling = None
    est = estimator
    if type(estimator).__name__ == "Pipeline":
        steps = [s for _, s in estimator.steps]
        est = steps[-1]
        n_features = int(getattr(est, "n_features_in_", 0))
        scaling = _scaling(steps[:-1], n_features)
    model = _convert(est, name or type(est).__name__)
    if scaling is None:
        return model
    return FloatModel(
        n_features=model.n_features,
        layers=model.layers,
        head=model.head,
        labels=model.labels,
        scaling=scaling,
        name=model.name,
        vote_divisor=model.vote_divisor,
        source=model.source,
    )


def _convert(est: Any, name: str) -> FloatModel:
    kind = type(est).__name__
    if not hasattr(est, "n_features_in_"):
        raise UnsupportedModelError(f"{kind} is not fitted (no n_features_in_)")
    n = int(est.n_features_in_)
    src = f"sklearn.{kind}"
    if kind == "DecisionTreeClassifier":
        ens = TreeEnsemble(
            (_tree(est, proba=True),),
            TreeMode.PROBA,
            len(est.classes_),
            np.zeros(len(est.classes_)),
        )
        return FloatModel(n, (ens,), Head.VOTE, _labels(est.classes_), name=name, source=src)
    if kind == "DecisionTreeRegressor":
        ens = TreeEnsemble((_tree(est, proba=False),), TreeMode.VALUE, 1, np.zeros(1))
        return FloatModel(n, (ens,), Head.NONE, name=name, source=src)
    if kind in ("RandomForestClassifier", "ExtraTreesClassifier"):
        trees = tuple(_tree(t, proba=True) for t in est.estimators_)
        k = len(est.classes_)
        ens = TreeEnsemble(trees, TreeMode.PROBA, k, np.zeros(k))
        return FloatModel(
            n,
            (ens,),
            Head.VOTE,
            _labels(est.classes_),
            name=name,
            vote_divisor=len(trees),
            source=src,
        )
    if kind in ("RandomForestRegressor", "ExtraTreesRegressor"):
        if getattr(est, "n_outputs_", 1) != 1:
            raise UnsupportedModelError(f"{kind}: multi-output regression is not supported")
        # The average becomes a sum of pre-divided leaves: no division on chain.
        trees = tuple(
            _tree(t, proba=False, factor=1.0 / len(est.estimators_)) for t in est.estimators_
        )
        ens = TreeEnsemble(trees, TreeMode.VALUE, 1, np.zeros(1))
        return FloatModel(n, (ens,), Head.NONE, name=name, source=src)
    if kind in ("GradientBoostingClassifier", "GradientBoostingRegressor"):
        return _gradient_boosting(est, n, name, src)
    if kind in ("MLPClassifier", "MLPRegressor"):
        return _mlp(est, n, name, src)
    if kind in ("LogisticRegression", "LinearRegression", "Ridge", "SGDClassifier"):
        return _linear(est, n, name, src)
    raise UnsupportedModelError(f"scikit-learn estimator {kind} is not supported")


def _gradient_boosting(est: Any, n: int, name: str, src: str) -> FloatModel:
    stages = est.estimators_  # (n_iter, K) of DecisionTreeRegressor
    k = stages.shape[1]
    lr = float(est.learning_rate)
    trees = tuple(
        _tree(stages[i, j], proba=False, factor=lr)
        for i in range(stages.shape[0])
        for j in range(k)
    )
    # The initial raw score is whatever the init estimator adds: recover it through the public
    # API as decision_function (or predict) minus the trees' contribution at one point.
    x0 = np.zeros((1, n))
    raw = est.decision_function(x0) if hasattr(est, "classes_") else est.predict(x0)
    raw = np.asarray(raw, dtype=np.float64).reshape(-1)
    tree_sum = np.zeros(k)
    for i in range(stages.shape[0]):
        for j in range(k):
            tree_sum[j] += lr * float(stages[i, j].predict(x0)[0])
    base = raw - tree_sum
    ens = TreeEnsemble(trees, TreeMode.VALUE, k, base)
    if not hasattr(est, "classes_"):
        return FloatModel(n, (ens,), Head.NONE, name=name, source=src)
    head = Head.LOGISTIC if k == 1 else Head.SOFTMAX
    return FloatModel(n, (ens,), head, _labels(est.classes_), name=name, source=src)


def _mlp(est: Any, n: int, name: str, src: str) -> FloatModel:
    act = est.activation
    if act != "identity" and act not in _MLP_ACT:
        raise UnsupportedModelError(f"MLP activation {act!r} is not supported")
    layers: list[Layer] = []
    n_layers = len(est.coefs_)
    for i, (w, b) in enumerate(zip(est.coefs_, est.intercepts_, strict=True)):
        layers.append(
            DenseLayer(np.asarray(w, dtype=np.float64).T.copy(), np.asarray(b, dtype=np.float64))
        )
        if i < n_layers - 1 and act != "identity":
            layers.append(ActivationLayer(_MLP_ACT[act]))
    out_act = est.out_activation_
    if out_act == "identity":
        return FloatModel(n, tuple(layers), Head.NONE, name=name, source=src)
    if out_act == "logistic" and len(est.classes_) == 2:
        return FloatModel(
            n, tuple(layers), Head.LOGISTIC, _labels(est.classes_), name=name, source=src
        )
    if out_act == "softmax":
        return FloatModel(
            n, tuple(layers), Head.SOFTMAX, _labels(est.classes_), name=name, source=src
        )
    raise UnsupportedModelError(f"MLP output activation {out_act!r} (multilabel?) unsupported")


def _linear(est: Any, n: int, name: str, src: str) -> FloatModel:
    coef = np.atleast_2d(np.asarray(est.coef_, dtype=np.float64))
    bias = np.atleast_1d(np.asarray(est.intercept_, dtype=np.float64))
    if bias.shape[0] != coef.shape[0]:
        bias = np.broadcast_to(bias, (coef.shape[0],)).copy()
    dense = DenseLayer(coef.copy(), bias.copy())
    if not hasattr(est, "classes_"):
        return FloatModel(n, (dense,), Head.NONE, name=name, source=src)
    head = Head.LOGISTIC if coef.shape[0] == 1 else Head.SOFTMAX
    return FloatModel(n, (dense,), head, _labels(est.classes_), name=name, source=src)
