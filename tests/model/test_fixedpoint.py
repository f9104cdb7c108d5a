"""The scalar primitives of the numeric contract."""

from __future__ import annotations

from decimal import Decimal, getcontext

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from client.model import fixedpoint as fx
from client.model import reference as ref
from client.model.qmodel import ConfMode, QArgmax, QSoftmax


def test_softmax_table_is_round_of_exact_powers() -> None:
    getcontext().prec = 60
    exact = [
        int((Decimal(2) ** (Decimal(30) - Decimal(k) / 16)).to_integral_value()) for k in range(17)
    ]
    assert list(fx.SOFTMAX_P) == exact


@settings(deadline=None)
@given(st.integers(-(1 << 62), (1 << 62) - 1), st.integers(1, 62))
def test_rshift_round_is_round_half_up(v: int, s: int) -> None:
    import math
    from fractions import Fraction

    expected = math.floor(Fraction(v, 1 << s) + Fraction(1, 2))
    assert fx.rshift_round(v, s) == expected
    assert int(ref.rshift_round(np.array([v], dtype=np.int64), s)[0]) == expected


@settings(deadline=None)
@given(st.integers(0, (1 << 32) - 1))
def test_exp2_table_interpolation_is_close_to_exp2(a: int) -> None:
    got = fx.exp2_neg_q30(a)
    want = 2.0 ** (30 - a / 65536)
    if a >> 16 >= 31:
        assert got == 0
    else:
        # Chords between 1/16-octave knots overestimate by at most (ln2/16)^2/8 ~ 2.35e-4
        # then the shift floors: allow one unit.
        assert abs(got - want) <= want * 2.4e-4 + 1
    assert int(ref.exp2_neg_q30(np.array([a], dtype=np.uint64))[0]) == got


@settings(deadline=None)
@given(
    st.lists(st.integers(-(1 << 31), (1 << 31) - 1), min_size=1, max_size=12),
    st.integers(1, (1 << 32) - 1),
    st.integers(0, 63),
)
def test_softmax_q16_sums_to_one_and_numpy_matches(x: list[int], k: int, k_shift: int) -> None:
    p = fx.softmax_q16(x, k, k_shift)
    assert all(0 <= v <= 65536 for v in p)
    # Each p_i is floored, so the sum loses at most one unit per entry.
    assert 65536 - len(x) <= sum(p) <= 65536
    assert p[fx.argmax_first(x)] == max(p)
    op = QSoftmax(n_in=len(x), k=k, k_shift=k_shift, binary=False)
    np_p = ref.run_softmax(op, np.array([x], dtype=np.int64))
    assert np_p[0].tolist() == p


def test_argmax_first_takes_the_first_maximum() -> None:
    assert fx.argmax_first([3, 7, 7, 1]) == 1
    out = ref.run_argmax(QArgmax(4, ConfMode.DIV, divisor=2), np.array([[3, 7, 7, 1]]))
    assert out.tolist() == [[1, 3]]


@settings(deadline=None)
@given(st.lists(st.integers(-32768, 32767), min_size=1, max_size=20))
def test_lut16_interpolates_between_entries(qs: list[int]) -> None:
    table = [int(v) for v in np.linspace(-30000, 30000, 513).round()]
    for q in qs:
        y = fx.lut16(table, q)
        idx = (q + 32768) >> 7
        assert min(table[idx], table[idx + 1]) <= y <= max(table[idx], table[idx + 1])


@settings(deadline=None)
@given(st.floats(-32767.0, 32767.0, allow_nan=False))
def test_float_to_q16_matches_vectorised(x: float) -> None:
    assert fx.float_to_q16(x) == int(ref.features_to_q16(np.array([x]))[0])
