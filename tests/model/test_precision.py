"""One input range without silent clamping, per-layer precision, `precision="auto"` and the
saturation report."""

from __future__ import annotations

import functools
import itertools
import warnings

import numpy as np
import pytest

from client.model import ModelFormatError, compile_model, decode, encode, execute, import_sklearn
from client.model.autoprecision import agreement, compile_auto
from client.model.ir import Activation, ActivationLayer, DenseLayer, FloatModel, Head
from client.model.qmodel import DType, QDense
from client.model.reference import features_to_q16, rshift_round
from client.model.saturation import saturation_rates


def _fit(est: object, x: np.ndarray, y: np.ndarray) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(x, y)  # type: ignore[attr-defined]


@pytest.mark.parametrize("precision", [8, 16])
def test_every_accepted_input_is_represented_without_clamping(precision: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, [1.0, 5.0, 0.01], (200, 3))
    fm = FloatModel(3, (DenseLayer(rng.normal(size=(2, 3)), np.zeros(2)),), Head.NONE)
    spec = compile_model(fm, x, precision).input
    # The affine is monotonic, so the declared bounds are the extremes of every accepted input.
    for bound in (spec.lo, spec.hi):
        raw = spec.zp + rshift_round((bound - spec.c) * spec.m, spec.s)
        assert np.all((raw >= spec.dtype.qmin) & (raw <= spec.dtype.qmax)), raw


def test_a_regressor_keeps_rising_in_the_declared_margin() -> None:
    """The issue's case: INT8 inputs used to clamp at the calibration max, so the output went
    flat in the margin the chain still accepts."""
    x = np.linspace(0.0, 1.0, 101)[:, None]
    fm = FloatModel(1, (DenseLayer(np.array([[3.0]]), np.array([0.5])),), Head.NONE)
    qm = compile_model(fm, x, 8)
    assert qm.input.hi[0] == features_to_q16(np.array([1.25]))[0]
    probe = np.array([[1.0], [1.1], [1.2], [1.25]])
    got = execute(qm, features_to_q16(probe)).outputs[:, 0] * 2.0**-qm.out_frac_bits
    np.testing.assert_allclose(got, 3.0 * probe[:, 0] + 0.5, atol=0.02)
    assert np.all(np.diff(got) >= 0.1)  # steps of 0.3, 0.3, 0.15 in the float model


def test_a_classifier_agrees_in_the_margin() -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    est = _fit(make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)), x, y)
    fm = import_sklearn(est)
    qm = compile_model(fm, x, 8)
    lo, hi = qm.input.lo / 65536.0, qm.input.hi / 65536.0
    rng = np.random.default_rng(1)
    worst = 1.0
    for j in range(x.shape[1]):  # every feature in turn moved into its upper or lower margin
        probe = x.copy()
        t = rng.random(x.shape[0])
        probe[:, j] = np.where(
            rng.random(x.shape[0]) < 0.5,
            x[:, j].max() + t * (hi[j] - x[:, j].max()),
            x[:, j].min() - t * (x[:, j].min() - lo[j]),
        )
        worst = min(worst, agreement(fm, qm, probe))
    assert worst >= 0.99


@functools.cache
def _deep_tanh() -> tuple[FloatModel, np.ndarray]:
    """A 3-hidden-layer tanh MLP whose INT8 compile agrees with it on only ~97 % (the issue's
    96.6 % case is of this kind); random weights instead of training keep the test fast."""
    rng = np.random.default_rng(0)
    layers: list[DenseLayer | ActivationLayer] = []
    for i, (a, b) in enumerate(itertools.pairwise([20, 64, 64, 32, 5])):
        layers.append(DenseLayer(rng.normal(0, 2.0 / np.sqrt(a), (b, a)), rng.normal(0, 0.1, b)))
        if i < 3:
            layers.append(ActivationLayer(Activation.TANH))
    fm = FloatModel(20, tuple(layers), Head.SOFTMAX, tuple(range(5)))
    return fm, rng.normal(size=(2000, 20))


def test_auto_promotes_until_agreement_and_decision_margin_hold() -> None:
    fm, x = _deep_tanh()
    result = compile_auto(fm, x)
    int8 = next(t for t in result.trials if set(t.precisions) == {"int8"})
    assert int8.agreement < 0.98
    assert result.agreement >= 0.99
    # Each promotion round scored the candidates; the chosen one has far fewer rows whose
    # agreement is a near-tie than INT8 everywhere, and the loop only stops at the target or
    # when nothing is left to promote.
    assert result.at_risk < int8.at_risk / 10
    assert result.meets_target or set(result.precisions) == {"int16"}
    # The chosen mix beats INT8 on rows it was not calibrated on either.
    x_new = np.random.default_rng(9).normal(size=(2000, 20))
    assert agreement(fm, result.qmodel, x_new) > agreement(fm, compile_model(fm, x, 8), x_new)
    # What was measured is what was built, and the file round-trips.
    dense = [op for op in result.qmodel.ops if isinstance(op, QDense)]
    assert [f"int{8 * op.dtype.nbytes}" for op in dense] == list(result.precisions)
    assert decode(encode(result.qmodel)).ops[0].dtype is dense[0].dtype
    assert compile_model(fm, x, "auto").ops[0].dtype is dense[0].dtype  # type: ignore[union-attr]


def _sklearn_mlp(dataset: str) -> tuple[FloatModel, np.ndarray, np.ndarray]:
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = getattr(datasets, f"load_{dataset}")(return_X_y=True)
    x_tr, x_te, y_tr, _ = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    est = make_pipeline(StandardScaler(), MLPClassifier((32,), max_iter=2000, random_state=0))
    return import_sklearn(_fit(est, x_tr, y_tr)), x_tr, x_te


def test_int8_digits_over_the_natural_pixel_range_keeps_agreement() -> None:
    """Quantizing every pixel over 0..16 (not its calibrated min/max) made the rare pixels'
    folded weights (1 / a tiny std) set each hidden unit's INT8 weight grid, and put typical
    pixels at level -128 where the rounding error of every weight adds up: 92 % agreement.
    Variance-weighted weight scales and bias correction bring it back without clamping any
    accepted input."""
    fm, x_tr, x_te = _sklearn_mlp("digits")
    qm = compile_model(fm, x_tr, 8, input_range=(0.0, 16.0))
    assert np.all(qm.input.lo == 0) and np.all(qm.input.hi == 16 << 16)
    fl = fm.forward(x_te).classes
    assert (execute(qm, features_to_q16(x_te)).classes == fl).mean() >= 0.99
    # Still no clamping: the declared extremes map inside the INT8 grid.
    raw = qm.input.zp + rshift_round((qm.input.hi - qm.input.c) * qm.input.m, qm.input.s)
    assert np.all(raw <= 127)


def test_auto_promotes_a_model_whose_agreement_rests_on_near_ties() -> None:
    """The wine MLP agrees on all held-out rows at INT8, but more than 1 in 1,000 evaluation
    rows agree by less than the INT8 logit error; one such row in the 54-row test split flips.
    Auto must not keep INT8 on that evidence."""
    fm, x_tr, x_te = _sklearn_mlp("wine")
    result = compile_auto(fm, x_tr)
    int8 = result.trials[0]
    assert set(int8.precisions) == {"int8"} and int8.agreement >= 0.99
    assert int8.at_risk > 0.001
    assert result.meets_target and result.at_risk <= 0.001
    x_fx = np.clip(features_to_q16(x_te), result.qmodel.input.lo, result.qmodel.input.hi)
    test_agree = (execute(result.qmodel, x_fx).classes == fm.forward(x_te).classes).mean()
    assert test_agree >= 0.99


def test_per_layer_precision_chains_dtypes() -> None:
    rng = np.random.default_rng(0)
    layers: list[DenseLayer | ActivationLayer] = []
    for i, (a, b) in enumerate(itertools.pairwise([5, 12, 9, 7, 3])):
        layers.append(DenseLayer(rng.normal(size=(b, a)), rng.normal(size=b)))
        if i < 3:
            layers.append(
                ActivationLayer([Activation.TANH, Activation.RELU, Activation.SIGMOID][i])
            )
    labels = (0, 1, 2)
    fm = FloatModel(5, tuple(layers), Head.SOFTMAX, labels)
    x = rng.normal(size=(400, 5))
    qm = compile_model(fm, x, (16, 8, 16, 8))
    assert qm.input.dtype is DType.I16
    dense = [op for op in qm.ops if isinstance(op, QDense)]
    assert [op.dtype for op in dense] == [DType.I16, DType.I8, DType.I16, DType.I8]
    # Each dense layer clamps to the range of the layer (or LUT) that reads it.
    assert (dense[0].lo, dense[0].hi) == (-128, 127)
    assert dense[1].hi == 32767 and dense[2].hi == 127
    assert encode(decode(encode(qm))) == encode(qm)
    assert agreement(fm, qm, x) >= 0.97
    with pytest.raises(ValueError, match="one entry per dense layer \\(4\\), got 2"):
        compile_model(fm, x, (16, 8))


def test_the_loader_refuses_a_layer_that_cannot_read_its_input() -> None:
    rng = np.random.default_rng(0)
    fm = FloatModel(
        3,
        (
            DenseLayer(rng.normal(size=(4, 3)), np.zeros(4)),
            ActivationLayer(Activation.RELU),
            DenseLayer(rng.normal(size=(1, 4)), np.zeros(1)),
        ),
        Head.NONE,
    )
    qm = compile_model(fm, rng.normal(size=(50, 3)), (16, 16))
    second = qm.ops[1]
    assert isinstance(second, QDense)
    second.dtype = DType.I8  # now an INT8 layer reads INT16 activations
    second.weight = np.clip(second.weight, -127, 127)
    with pytest.raises(ModelFormatError, match=r"dense dtype I8 cannot read .*\(0, 32767\)"):
        decode(encode(qm))


def test_int16_activations_do_not_saturate_on_accepted_inputs() -> None:
    fm, x = _deep_tanh()
    rates = saturation_rates(compile_model(fm, x, 16), x)
    assert len(rates) == 4
    assert all(r.calibration == 0.0 and r.margin <= 1e-3 for r in rates), rates
    rates8 = saturation_rates(compile_model(fm, x, 8), x)
    assert all(r.calibration <= 0.01 for r in rates8), rates8
