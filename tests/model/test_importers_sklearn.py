"""One test per supported scikit-learn model type: the imported float IR reproduces the
estimator, and the compiled model agrees with it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from client.model import (
    UnsupportedModelError,
    compile_model,
    execute,
    features_to_q16,
    import_sklearn,
)
from client.model.ir import Head
from tests.model.helpers import dataset, fit


def _check_classifier(est: Any, data: str, head: Head, precision: int = 8) -> None:
    x, y = dataset(data)
    est = fit(est, x, y)
    fm = import_sklearn(est)
    assert fm.head is head
    assert fm.labels == tuple(int(c) for c in est.classes_)
    want = np.searchsorted(est.classes_, est.predict(x))
    # Exact agreement wherever the float decision is not a near-tie: scikit-learn's BLAS and
    # numpy may round the last bit differently on another CPU, which only matters at a tie.
    proba = np.sort(est.predict_proba(x), axis=1)
    clear = proba[:, -1] - proba[:, -2] > 1e-9
    assert clear.mean() > 0.95
    np.testing.assert_array_equal(fm.forward(x).classes[clear], want[clear])
    qm = compile_model(fm, x, precision)
    got = execute(qm, features_to_q16(x)).classes
    assert (got == want).mean() >= 0.99


def _check_regressor(est: Any, tolerance: float, precision: int = 8) -> None:
    x, y = dataset("diabetes")
    est = fit(est, x, y)
    fm = import_sklearn(est)
    assert fm.head is Head.NONE
    np.testing.assert_allclose(fm.forward(x).outputs[:, 0], est.predict(x), atol=1e-6)
    qm = compile_model(fm, x, precision)
    got = execute(qm, features_to_q16(x)).outputs[:, 0] * 2.0**-qm.out_frac_bits
    # Median error: trees may send a few samples across a threshold closer than 2^-16.
    assert np.median(np.abs(got - est.predict(x))) <= tolerance


def test_decision_tree_classifier() -> None:
    from sklearn.tree import DecisionTreeClassifier

    _check_classifier(DecisionTreeClassifier(max_depth=5, random_state=0), "wine", Head.VOTE)


def test_random_forest_classifier() -> None:
    from sklearn.ensemble import RandomForestClassifier

    _check_classifier(RandomForestClassifier(10, max_depth=4, random_state=0), "iris", Head.VOTE)


def test_gradient_boosting_classifier_binary() -> None:
    from sklearn.ensemble import GradientBoostingClassifier

    _check_classifier(
        GradientBoostingClassifier(n_estimators=10, random_state=0), "breast_cancer", Head.LOGISTIC
    )


def test_gradient_boosting_classifier_multiclass() -> None:
    from sklearn.ensemble import GradientBoostingClassifier

    _check_classifier(
        GradientBoostingClassifier(n_estimators=10, random_state=0), "iris", Head.SOFTMAX
    )


def test_mlp_classifier_in_a_scaling_pipeline() -> None:
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    est = make_pipeline(
        StandardScaler(),
        MinMaxScaler(),
        MLPClassifier((10,), activation="tanh", max_iter=500, random_state=0),
    )
    _check_classifier(est, "iris", Head.SOFTMAX)


def test_mlp_classifier_binary_int16() -> None:
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    est = make_pipeline(
        StandardScaler(), MLPClassifier((8,), activation="logistic", max_iter=500, random_state=0)
    )
    _check_classifier(est, "breast_cancer", Head.LOGISTIC, precision=16)


def test_logistic_regression_multiclass() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    _check_classifier(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)), "wine", Head.SOFTMAX
    )


def test_logistic_regression_binary_without_scaling() -> None:
    from sklearn.linear_model import LogisticRegression

    _check_classifier(LogisticRegression(max_iter=300), "breast_cancer", Head.LOGISTIC, 16)


def test_linear_regression() -> None:
    from sklearn.linear_model import LinearRegression

    _check_regressor(LinearRegression(), tolerance=0.05, precision=16)


def test_mlp_regressor() -> None:
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    est = make_pipeline(
        StandardScaler(),
        MLPRegressor(
            hidden_layer_sizes=(16,), max_iter=300, learning_rate_init=0.01, random_state=0
        ),
    )
    _check_regressor(est, tolerance=1.0)


def test_decision_tree_regressor() -> None:
    from sklearn.tree import DecisionTreeRegressor

    _check_regressor(DecisionTreeRegressor(max_depth=5, random_state=0), tolerance=1e-4)


def test_random_forest_regressor() -> None:
    from sklearn.ensemble import RandomForestRegressor

    _check_regressor(RandomForestRegressor(10, max_depth=5, random_state=0), tolerance=1e-4)


def test_gradient_boosting_regressor() -> None:
    from sklearn.ensemble import GradientBoostingRegressor

    _check_regressor(GradientBoostingRegressor(n_estimators=20, random_state=0), tolerance=1e-4)


def test_unsupported_estimator_is_named() -> None:
    from sklearn.svm import SVC

    x, y = dataset("iris")
    with pytest.raises(UnsupportedModelError, match="scikit-learn estimator SVC"):
        import_sklearn(fit(SVC(), x, y))


def test_unsupported_pipeline_step_is_named() -> None:
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    x, y = dataset("iris")
    with pytest.raises(UnsupportedModelError, match="pipeline step PCA"):
        import_sklearn(fit(make_pipeline(PCA(2), LogisticRegression()), x, y))


def test_string_labels_survive_the_file() -> None:
    from sklearn.tree import DecisionTreeClassifier

    from client.model import decode, encode

    x, y = dataset("iris")
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    fm = import_sklearn(fit(DecisionTreeClassifier(max_depth=2), x, names))
    assert decode(encode(compile_model(fm, x))).labels == ("setosa", "versicolor", "virginica")
