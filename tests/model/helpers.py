"""Helpers for the model-compiler tests: cached datasets and random models."""

from __future__ import annotations

import warnings
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from client.model.ir import (
    Activation,
    ActivationLayer,
    DenseLayer,
    FloatModel,
    Head,
    Tree,
    TreeEnsemble,
    TreeMode,
)


@cache
def dataset(name: str) -> tuple[NDArray[np.float64], NDArray[Any]]:
    from sklearn import datasets

    loader = {
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "digits": datasets.load_digits,
        "diabetes": datasets.load_diabetes,
    }[name]
    x, y = loader(return_X_y=True)
    return np.asarray(x, dtype=np.float64), np.asarray(y)


def fit(est: Any, x: NDArray[np.float64], y: NDArray[Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(x, y)


def random_dense_model(
    seed: int, sizes: list[int], activation: Activation | None, head: Head
) -> FloatModel:
    """A network with random weights (kernel and format tests, not accuracy)."""
    rng = np.random.default_rng(seed)
    layers: list[Any] = []
    for i in range(len(sizes) - 1):
        w = rng.normal(0, 1, (sizes[i + 1], sizes[i]))
        w[rng.random(w.shape) < 0.3] = 0.0
        layers.append(DenseLayer(w, rng.normal(0, 0.5, sizes[i + 1])))
        if activation is not None and i < len(sizes) - 2:
            layers.append(ActivationLayer(activation))
    n_out = sizes[-1]
    labels: tuple[int | str, ...] = ()
    if head is Head.LOGISTIC:
        labels = (0, 1)
    elif head is Head.SOFTMAX:
        labels = tuple(f"c{k}" for k in range(n_out))
    return FloatModel(sizes[0], tuple(layers), head, labels)


def random_tree(
    rng: np.random.Generator, n_features: int, depth: int, width: int, proba: bool
) -> Tree:
    feature: list[int] = []
    threshold: list[float] = []
    left: list[int] = []
    right: list[int] = []
    value: list[NDArray[np.float64]] = []

    def grow(d: int) -> int:
        idx = len(feature)
        feature.append(-1)
        threshold.append(0.0)
        left.append(-1)
        right.append(-1)
        if proba:
            v = rng.random(width)
            value.append(v / v.sum())
        else:
            value.append(rng.normal(0, 1, width))
        if d < depth and rng.random() < 0.8:
            feature[idx] = int(rng.integers(n_features))
            threshold[idx] = float(rng.normal(0, 1))
            left[idx] = grow(d + 1)
            right[idx] = grow(d + 1)
        return idx

    grow(0)
    return Tree(
        np.asarray(feature),
        np.asarray(threshold),
        np.asarray(left),
        np.asarray(right),
        np.vstack(value),
    )


def random_tree_model(
    seed: int, n_features: int, n_trees: int, mode: TreeMode, n_out: int
) -> FloatModel:
    rng = np.random.default_rng(seed)
    proba = mode is TreeMode.PROBA
    width = n_out if proba else 1
    trees = tuple(random_tree(rng, n_features, 4, width, proba) for _ in range(n_trees))
    if proba:
        ens = TreeEnsemble(trees, mode, n_out, np.zeros(n_out))
        return FloatModel(n_features, (ens,), Head.VOTE, tuple(range(n_out)), vote_divisor=n_trees)
    ens = TreeEnsemble(trees, mode, n_out, rng.normal(0, 1, n_out))
    head = Head.NONE if n_out == 1 else Head.SOFTMAX
    labels = tuple(range(n_out)) if head is Head.SOFTMAX else ()
    return FloatModel(n_features, (ens,), head, labels)
