"""Quantization bounds, requantization multipliers and the overflow refusal."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray

from client.model import QuantizationError, compile_model
from client.model.ir import DenseLayer, FloatModel, Head
from client.model.qmodel import DType
from client.model.quantize import (
    MIN_MULTIPLIER_BITS,
    PRODUCT_LIMIT,
    accumulator_bound,
    choose_input_affine,
    choose_requant,
    choose_softmax_k,
    quantize_dense,
    quantize_weights,
)

dtypes = st.sampled_from([DType.I8, DType.I16])
weights = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
    elements=st.floats(-100, 100, allow_nan=False, width=32),
)


@settings(deadline=None)
@given(weights, dtypes)
def test_weights_stay_symmetric_and_within_half_a_step(w: np.ndarray, dtype: DType) -> None:
    q, scale = quantize_weights(w, dtype)
    assert np.all(np.abs(q) <= dtype.qmax)  # never -128 / -32768
    assert np.all(scale > 0)
    err = np.abs(q * scale[:, None] - w)
    # A row is on its own grid unless it is 2^18 times smaller than the largest row.
    assert np.all(err <= scale[:, None] / 2 + 1e-12)


@settings(deadline=None)
@given(weights, dtypes, st.integers(0, 2**31))
def test_accumulator_bound_holds_for_extreme_inputs(w: np.ndarray, dtype: DType, seed: int) -> None:
    q, _ = quantize_weights(w, dtype)
    rng = np.random.default_rng(seed)
    bias = np.asarray(rng.integers(-(2**20), 2**20, size=q.shape[0]), dtype=np.int64)
    bound = accumulator_bound(q, bias, dtype)
    # The worst case picks qmin or qmax per input by the weight's sign; test it and random.
    worst = np.where(q < 0, dtype.qmin, dtype.qmax)
    x = rng.integers(dtype.qmin, dtype.qmax + 1, q.shape)
    for inputs in (worst, x, -worst.clip(-dtype.qmax, dtype.qmax)):
        acc = bias + (q * inputs).sum(axis=1)
        assert np.all(np.abs(acc) <= bound)


@settings(deadline=None)
@given(
    st.lists(st.floats(1e-9, 1e3), min_size=1, max_size=16),
    st.lists(st.integers(1, 2**49), min_size=16, max_size=16),
)
def test_requant_multipliers_respect_the_product_limit(
    real: list[float], bounds: list[int]
) -> None:
    r = np.asarray(real)
    a = np.asarray(bounds[: len(real)], dtype=np.int64)
    spread = r.max() / r.min()
    try:
        m, s = choose_requant(r, a, "layer")
    except QuantizationError as exc:
        assert "bits of multiplier precision" in str(exc)
        # Refusal is legitimate only when the limits squeeze some channel below 12 bits.
        assert int(a.max()) >= 2**19 or spread > 2**18
        return
    assert 1 <= s <= 62
    assert np.all(m >= 2 ** (MIN_MULTIPLIER_BITS - 1)) and np.all(m < 2**31)
    assert all(int(ai) * int(mi) < PRODUCT_LIMIT for ai, mi in zip(a, m, strict=True))
    assert np.all(np.abs(m * 2.0**-s - r) <= 2.0 ** (-s - 1) * (1 + 1e-9))


def test_requant_refuses_a_bound_that_leaves_few_multiplier_bits() -> None:
    with pytest.raises(QuantizationError, match=r"dense layer 3: accumulator bound .* 11 bits"):
        choose_requant(np.array([0.5]), np.array([2**51], dtype=np.int64), "dense layer 3")


def test_compile_refuses_a_fan_in_that_could_overflow() -> None:
    # INT16, fan-in 2^21: |acc| can reach ~2^51, so A * M < 2^62 leaves M < 2^11.
    n = 1 << 21
    rng = np.random.default_rng(0)
    w = rng.choice([-1.0, 1.0], size=(1, n))
    model = FloatModel(n, (DenseLayer(w, np.zeros(1)),), Head.NONE)
    # Every feature on the same range, so every quantized weight is +-32767.
    calib = np.stack([-np.ones(n), np.ones(n)])
    with pytest.raises(QuantizationError, match="could overflow for this fan-in"):
        compile_model(model, calib, 16)


@settings(deadline=None)
@given(st.lists(st.floats(2.0**-40, 2.0**28) | st.just(0.0), min_size=1, max_size=8))
def test_input_affine_precision(factors: list[float]) -> None:
    f = np.asarray(factors)
    m, s = choose_input_affine(f)
    assert np.all(np.abs(m) < 2**30) and np.all((s >= 1) & (s <= 62))
    assert np.all(np.abs(m * np.exp2(-s.astype(float)) - f) <= f * 2.0**-12)
    assert np.all((m == 0) == (f == 0))


def test_input_affine_refuses_a_factor_beyond_q16_resolution() -> None:
    with pytest.raises(QuantizationError, match=r"input feature 1: .* 2\^30"):
        choose_input_affine(np.array([1.0, 2.0**31]))


@settings(deadline=None)
@given(st.floats(2.0**-24, 1e3))
def test_softmax_k_is_precise_and_fits_u32(scale: float) -> None:
    import math

    k, k_shift = choose_softmax_k(scale)
    assert 1 <= k < 2**32 and 0 <= k_shift <= 63
    want = scale * math.log2(math.e)
    assert abs(k * 2.0 ** -(16 + k_shift) - want) <= want * 2.0**-12


def test_softmax_k_refuses_a_scale_the_gap_shortcut_would_break() -> None:
    with pytest.raises(QuantizationError, match="31 octaves"):
        choose_softmax_k(1e-12)


@settings(deadline=None)
@given(st.integers(0, 2**31), dtypes)
def test_folded_bias_fits_i32_even_with_large_bias(seed: int, dtype: DType) -> None:
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 1, (4, 6))
    b = rng.normal(0, 1e4, 4)
    q, scale, bias = quantize_dense(w, b, 1e-3, int(rng.integers(-5, 5)), dtype, "L")
    assert np.all(np.abs(bias) <= 2**31 - 1)
    assert np.all(np.abs(q) <= dtype.qmax)
    assert np.all(scale > 0)


def test_input_statistics_keep_common_weights_resolved_and_remove_the_mean_offset() -> None:
    """The digits case: one input that barely varies (a pixel almost always 0, at level -128
    of a grid whose range starts at 0) carries a weight 200x the others.  Max-abs scaling
    spends the whole INT8 grid on it; the variance-weighted scale resolves the inputs that
    vary, and the bias correction removes the rounding error the -128 levels would add."""
    rng = np.random.default_rng(0)
    n_in = 64
    w = rng.normal(0, 1.0, (8, n_in))
    w[:, 0] = 200.0
    q = rng.integers(-128, 128, (4000, n_in)).astype(np.float64)
    q[:, 0] = np.where(rng.random(4000) < 0.002, -120.0, -128.0)
    b = rng.normal(0, 1.0, 8)
    mean, var = q.mean(axis=0), q.var(axis=0)
    exact = q @ w.T + b

    def err(**stats: NDArray[np.float64]) -> float:
        wq, scale, bias = quantize_dense(w, b, 1.0, 0, DType.I8, "L", **stats)
        got = (q @ wq.T + bias) * scale
        return float(np.sqrt(((got - exact) ** 2).mean()))

    plain = err()
    tuned = err(in_mean=mean, in_var=var)
    assert tuned < plain / 3, (plain, tuned)
    # Bias correction alone already removes the systematic part.
    assert err(in_mean=mean) < plain
    # Without statistics nothing changes: no weight is clipped.
    wq, _, _ = quantize_dense(w, b, 1.0, 0, DType.I8, "L")
    assert np.all(np.abs(wq[:, 0]) == 127)
