"""PACKED3 (three 21-bit lanes per word): the lane bound, the compiler's choices, the loader's
checks, and the numpy and pure-Python executors agreeing on the kernel's arithmetic."""

from __future__ import annotations

import dataclasses
import struct

import numpy as np
import pytest

from client.model import ModelFormatError, QuantizationError, compile_model, decode, encode
from client.model.ir import Activation, ActivationLayer, DenseLayer, FloatModel, Head
from client.model.layouts import (
    P3_LANE_LIMIT,
    packed3_chunk_bound,
    packed3_decode,
    packed3_encode,
    packed3_span,
)
from client.model.pure import infer as pure_infer
from client.model.qmodel import DType, Layout, QDense, QModel
from client.model.reference import execute, packed3_acc
from tests.model.helpers import random_dense_model


def _worst(n_out: int, n_in: int, sign: int) -> QDense:
    """Every |weight| 127, neighbouring rows of opposite sign (the case where a borrow between
    lanes would show)."""
    rows = np.where(np.arange(n_out)[:, None] % 2 == 0, 127 * sign, -127 * sign)
    weight = np.broadcast_to(rows, (n_out, n_in)).astype(np.int64)
    zeros = np.zeros(n_out, dtype=np.int64)
    return QDense(
        dtype=DType.I8,
        layout=Layout.PACKED3,
        weight=weight,
        bias=zeros,
        multiplier=zeros + 1,
        shift=1,
        zp_out=0,
        lo=-(1 << 31),
        hi=(1 << 31) - 1,
        span=64,
    )


@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize("x", [-128, 127])
def test_lanes_are_exact_at_the_worst_case_within_the_bound(sign: int, x: int) -> None:
    op = _worst(24, 130, sign)
    q = np.full((1, 130), x, dtype=np.int64)
    exact = q @ op.weight.T
    assert packed3_chunk_bound(op.weight, 64) <= P3_LANE_LIMIT
    for span in (64, 33, 1):
        got = packed3_acc(dataclasses.replace(op, span=span), q)
        np.testing.assert_array_equal(got, exact)
    # One or two columns more per chunk and a lane needs more than 2^20 - 1: the split is
    # wrong, which is what the bound (and the loader's check of it) rules out.
    over = 65 if x == -128 else 66
    assert packed3_chunk_bound(op.weight, 65) > P3_LANE_LIMIT
    assert not np.array_equal(packed3_acc(dataclasses.replace(op, span=over), q), exact)


def test_span_is_the_longest_the_bound_allows() -> None:
    rng = np.random.default_rng(0)
    small = rng.integers(-40, 41, (30, 200))
    # 200 * 40 * 128 = 1,024,000 <= 2^20 - 1: the whole row is one chunk.
    assert packed3_span(small) == 200
    full = np.full((5, 300), -127)
    assert packed3_span(full) == 64
    mixed = rng.integers(-127, 128, (7, 500))
    span = packed3_span(mixed)
    assert span % 4 == 0 and 64 <= span < 500
    assert packed3_chunk_bound(mixed, span) <= P3_LANE_LIMIT
    assert packed3_chunk_bound(mixed, span + 4) > P3_LANE_LIMIT


def test_encoding_round_trips_and_pads_rows_with_zeros() -> None:
    rng = np.random.default_rng(1)
    for n_out, n_in in [(1, 1), (12, 3), (13, 7), (25, 40)]:
        w = rng.integers(-128, 128, (n_out, n_in))
        words = packed3_encode(w)
        assert words.size == 4 * -(-n_out // 12) * n_in
        rows, again = packed3_decode(words, n_out, n_in)
        np.testing.assert_array_equal(rows[:n_out], w)
        assert not rows[n_out:].any()
        np.testing.assert_array_equal(again, words)


def _mlp(seed: int, sizes: list[int]) -> tuple[FloatModel, np.ndarray]:
    fm = random_dense_model(seed, sizes, Activation.RELU, Head.SOFTMAX)
    return fm, np.random.default_rng(seed).normal(0, 1, (64, sizes[0]))


def test_speed_preference_takes_packed3_for_large_layers_and_packed_for_small() -> None:
    fm, x = _mlp(2, [64, 48, 3])
    qm = compile_model(fm, x, 8, prefer="speed")
    layouts = [op.layout for op in qm.ops if isinstance(op, QDense)]
    assert layouts == [Layout.PACKED3, Layout.PACKED]
    first = qm.ops[0]
    assert isinstance(first, QDense) and first.span == packed3_span(first.weight)
    fm, x = _mlp(3, [4, 8, 3])
    qm = compile_model(fm, x, 8, prefer="speed")
    assert [op.layout for op in qm.ops if isinstance(op, QDense)] == [Layout.PACKED] * 2


def test_packed3_gives_the_same_integers_as_every_other_layout() -> None:
    fm, x = _mlp(4, [70, 30, 14, 3])
    models = {lay: compile_model(fm, x, 8, layout=lay) for lay in Layout if lay is not Layout.NONE}
    rng = np.random.default_rng(4)
    q3 = models[Layout.PACKED3]
    feats = rng.integers(q3.input.lo, q3.input.hi + 1, (200, q3.n_features))
    want = execute(q3, feats)
    for lay, qm in models.items():
        got = execute(qm, feats)
        for a, b in zip(got.layers, want.layers, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=lay.name)


def test_int16_cannot_be_packed3() -> None:
    fm, x = _mlp(5, [6, 5, 3])
    with pytest.raises(QuantizationError, match="PACKED3"):
        compile_model(fm, x, 16, layout=Layout.PACKED3)


def _sign_model(span: int) -> QModel:
    """66 inputs, every first-layer |weight| 127 (uniform calibration, so the folded weights
    stay equal), with the first layer's span forced to ``span``."""
    rng = np.random.default_rng(6)
    x = rng.uniform(-1, 1, (100, 66))
    x[0], x[1] = -1.0, 1.0
    layers = (
        DenseLayer(rng.choice([-1.0, 1.0], (9, 66)), np.zeros(9)),
        ActivationLayer(Activation.RELU),
        DenseLayer(rng.normal(0, 0.3, (3, 9)), np.zeros(3)),
    )
    fm = FloatModel(66, layers, Head.SOFTMAX, labels=(0, 1, 2))
    qm = compile_model(fm, x, 8, layout=Layout.PACKED3)
    first = qm.ops[0]
    assert isinstance(first, QDense) and first.span == 64
    assert (np.abs(first.weight) == 127).all()
    qm.ops[0] = dataclasses.replace(first, span=span)
    return qm


def test_numpy_and_pure_python_simulate_the_same_lanes_even_over_the_bound() -> None:
    # Inputs at the range ends drive the quantized input to -128/127: with span 66 some lane
    # of the first layer exceeds 2^20 - 1 and carries. The loader refuses such a file, but both
    # reference executors (and the kernel, see dense.rs) must still agree on it bit for bit.
    qm = _sign_model(66)
    data = encode(qm)
    lo, hi = qm.input.lo, qm.input.hi
    w = qm.ops[0].weight  # type: ignore[union-attr]
    # Row r's features at the range end that matches its weights' signs (and the opposite):
    # that row's lane sums 66 products of about 127 * 127.5 > 2^20 - 1.
    feats = np.vstack([np.where(w > 0, hi, lo), np.where(w > 0, lo, hi)])
    tr = execute(qm, feats)
    exact = _sign_model(64)
    te = execute(exact, feats)
    assert not np.array_equal(tr.layers[0], te.layers[0]), "some lane carried"
    for i in range(feats.shape[0]):
        r = pure_infer(data, feats[i].tolist())
        assert r.layers[0] == tr.layers[0][i].tolist()
        assert r.outputs == tr.outputs[i].tolist()
    with pytest.raises(ModelFormatError, match="could carry"):
        decode(data)


def _op0(data: bytes) -> int:
    return int(struct.unpack_from("<I", data, 40)[0])


def _u32(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<I", data, offset)[0])


def _patch_u32(data: bytes, offset: int, value: int) -> bytes:
    buf = bytearray(data)
    struct.pack_into("<I", buf, offset, value)
    return bytes(buf)


@pytest.fixture(scope="module")
def packed3() -> bytes:
    fm, x = _mlp(8, [20, 14, 3])
    return encode(compile_model(fm, x, 8, layout=Layout.PACKED3))


def test_loader_checks_the_span(packed3: bytes) -> None:
    rec = _op0(packed3)
    for bad in (0, 21):
        with pytest.raises(ModelFormatError, match="span") as info:
            decode(_patch_u32(packed3, rec + 16, bad))
        assert info.value.field == "op[0].p1"
    assert decode(packed3).ops[0].span == 20  # type: ignore[union-attr]


def test_loader_refuses_words_that_are_not_three_int8_lanes(packed3: bytes) -> None:
    w_off = _u32(packed3, _op0(packed3) + 40)
    word = struct.unpack_from("<q", packed3, w_off)[0]
    for bad in (word + (200 << 21), word + (1 << 63) if word < 0 else word | (1 << 62)):
        buf = bytearray(packed3)
        struct.pack_into("<q", buf, w_off, ((bad + (1 << 63)) % (1 << 64)) - (1 << 63))
        with pytest.raises(ModelFormatError, match="three int8 lanes"):
            decode(bytes(buf))


def test_loader_refuses_nonzero_padding_rows(packed3: bytes) -> None:
    # 14 rows: group 1 holds rows 12, 13 and ten padding rows; word k=0 of column 0 of group 1
    # holds rows 12, 13, 14 (padding): set row 14's lane.
    rec = _op0(packed3)
    w_off = _u32(packed3, rec + 40)
    at = w_off + 8 * (1 * 20 * 4 + 0)
    word = struct.unpack_from("<q", packed3, at)[0]
    buf = bytearray(packed3)
    struct.pack_into("<q", buf, at, word + (5 << 42))
    with pytest.raises(ModelFormatError, match="padding rows"):
        decode(bytes(buf))


def test_writer_refuses_a_packed3_layer_without_a_span() -> None:
    fm, x = _mlp(9, [5, 12, 3])
    qm = compile_model(fm, x, 8, layout=Layout.PACKED3)
    first = qm.ops[0]
    assert isinstance(first, QDense)
    qm.ops[0] = dataclasses.replace(first, span=0)
    with pytest.raises(ValueError, match="span"):
        encode(qm)
