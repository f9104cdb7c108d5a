"""CONV1D / POOL: the numpy reference against a direct loop over the definition, the file
round trip, the pure-Python walker and the loader's refusals."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from client.model import pure
from client.model.conv import avg_multiplier, run_conv1d, run_pool
from client.model.conv_models import GOLDEN_SPECS, ConvSpec, random_conv_model, random_features
from client.model.errors import ModelFormatError
from client.model.format import OP_SIZE, decode, encode
from client.model.qmodel import DType, PoolMode, QConv1d, QPool
from client.model.reference import execute


def _conv_loop(op: QConv1d, q: list[int]) -> list[int]:
    """docs/model-format.md "Conv1D and pooling", term by term."""
    out = []
    for t in range(op.t_out):
        for o in range(op.c_out):
            acc = int(op.bias[o])
            for j in range(op.k):
                p = t * op.stride + j * op.dilation - op.pad_left
                for c in range(op.c_in):
                    x = q[p * op.c_in + c] if 0 <= p < op.t_in else op.pad_value
                    acc += int(op.weight[o, j, c]) * x
            v = acc * int(op.multiplier[o])
            y = op.zp_out + ((v + (1 << (op.shift - 1))) >> op.shift)
            out.append(min(max(y, op.lo), op.hi))
    return out


def _pool_loop(op: QPool, v: list[int]) -> list[int]:
    out = []
    for t in range(op.t_out):
        for c in range(op.channels):
            win = [v[(t * op.stride + j) * op.channels + c] for j in range(op.kernel)]
            if op.mode is PoolMode.MAX:
                y = max(win)
            else:
                y = (sum(win) * op.multiplier + (1 << (op.shift - 1))) >> op.shift
            out.append(min(max(y, op.lo), op.hi))
    return out


@pytest.mark.parametrize("name", sorted(GOLDEN_SPECS))
def test_reference_matches_definition_and_pure_walker(name: str) -> None:
    model = random_conv_model(GOLDEN_SPECS[name][1], seed=7)
    x = random_features(model, 12, seed=1)
    tr = execute(model, x)
    data = encode(model)
    for r in range(x.shape[0]):
        q = tr.input_q[r].tolist()  # type: ignore[index]
        conv = model.ops[0]
        assert isinstance(conv, QConv1d)
        assert tr.layers[0][r].tolist() == _conv_loop(conv, q)
        if isinstance(model.ops[1], QPool):
            assert tr.layers[1][r].tolist() == _pool_loop(model.ops[1], tr.layers[0][r].tolist())
        p = pure.infer(data, x[r].tolist())
        assert p.layers == [layer[r].tolist() for layer in tr.layers]
        assert p.cls == int(tr.classes[r])


def test_round_trip_is_canonical() -> None:
    for _, spec in GOLDEN_SPECS.values():
        model = random_conv_model(spec, seed=3)
        data = encode(model)
        again = decode(data)
        assert encode(again) == data
        x = random_features(model, 5, seed=2)
        assert np.array_equal(execute(again, x).outputs, execute(model, x).outputs)


def test_outputs_are_not_trivial() -> None:
    """The random models exercise the clamps and the pooling for real: outputs vary."""
    model = random_conv_model(GOLDEN_SPECS["conv1d_i8_maxpool"][1], seed=7)
    tr = execute(model, random_features(model, 200, seed=4))
    conv_out = tr.layers[0]
    assert (conv_out == model.ops[0].lo).any() and (conv_out > model.ops[0].lo).mean() > 0.2  # type: ignore[union-attr]
    assert len(np.unique(tr.classes)) >= 2


def test_avg_multiplier_is_one_over_k() -> None:
    for k in (1, 2, 3, 5, 7, 60, 120, 1000):
        m, s = avg_multiplier(k, 32767)
        assert abs(m / 2**s - 1 / k) < 2.0**-30
        assert k * 32767 * m < 2**62
        # Average of constant windows is exact.
        v = np.full((1, k), 12345, dtype=np.int64)
        op = QPool(PoolMode.AVG, 1, k, k, 1, -32768, 32767, m, s)
        assert run_pool(op, v).tolist() == [[12345]]


def _op_offset(data: bytes, i: int) -> int:
    return int.from_bytes(data[40:44], "little") + OP_SIZE * i


@pytest.mark.parametrize(
    ("field_off", "value", "size", "message"),
    [
        (2, 3, 1, "COMPACT"),  # layout
        (3, 1, 1, "must be 0"),  # mode
        (12, 0, 4, "C_in"),  # p0
        (8, 999, 4, "n_out"),
        (24, 0, 1, "shift"),
        (26, 300, 2, "pad_right"),
        (16, 1000, 4, "pad value"),
    ],
)
def test_loader_refuses_bad_conv_records(
    field_off: int, value: int, size: int, message: str
) -> None:
    model = random_conv_model(GOLDEN_SPECS["conv1d_i8_maxpool"][1], seed=7)
    data = bytearray(encode(model))
    base = _op_offset(bytes(data), 0)
    data[base + field_off : base + field_off + size] = value.to_bytes(size, "little")
    with pytest.raises(ModelFormatError, match=message):
        decode(bytes(data))


@pytest.mark.parametrize(
    ("field_off", "value", "size", "message"),
    [
        (3, 3, 1, "pool mode"),
        (16, 0, 4, "kernel"),
        (26, 0, 2, "stride"),
        (20, 5, 4, "MAX pooling"),
        (32, 0, 4, "does not hold"),  # clamp lo above the conv's range
    ],
)
def test_loader_refuses_bad_pool_records(
    field_off: int, value: int, size: int, message: str
) -> None:
    model = random_conv_model(GOLDEN_SPECS["conv1d_i8_maxpool"][1], seed=7)
    data = bytearray(encode(model))
    base = _op_offset(bytes(data), 1)
    data[base + field_off : base + field_off + size] = value.to_bytes(size, "little")
    with pytest.raises(ModelFormatError, match=message):
        decode(bytes(data))


def test_avg_overflow_bound_is_enforced() -> None:
    spec = dataclasses.replace(GOLDEN_SPECS["conv1d_i8_maxpool"][1], pool=PoolMode.AVG)
    model = random_conv_model(spec, seed=7)
    data = bytearray(encode(model))
    base = _op_offset(bytes(data), 1)
    data[base + 24] = 62  # shift
    data[base + 20 : base + 24] = ((1 << 31) - 1).to_bytes(4, "little")
    # A full-i32 clamp: 2 * 2^31 * (2^31 - 1) >= 2^62.
    data[base + 32 : base + 40] = (-(1 << 31)).to_bytes(4, "little", signed=True) + (
        (1 << 31) - 1
    ).to_bytes(4, "little")
    with pytest.raises(ModelFormatError, match="2\\^62"):
        decode(bytes(data))


def test_conv_geometry_errors_are_one_line() -> None:
    model = random_conv_model(ConvSpec(t=4, f=2, c_out=2, k=3, pool=None), seed=1)
    conv = model.ops[0]
    assert isinstance(conv, QConv1d)
    model.ops[0] = dataclasses.replace(conv, dilation=3)
    with pytest.raises(ValueError, match="longer than the padded input"):
        encode(model)


def test_int16_window_runs() -> None:
    spec = ConvSpec(t=20, f=3, c_out=4, k=5, dtype=DType.I16, pool=PoolMode.AVG)
    model = random_conv_model(spec, seed=5)
    x = random_features(model, 4, seed=5)
    tr = execute(model, x)
    conv = model.ops[0]
    assert isinstance(conv, QConv1d)
    assert tr.layers[0][2].tolist() == _conv_loop(conv, tr.input_q[2].tolist())  # type: ignore[index]
    assert run_conv1d(conv, tr.input_q).shape == (4, conv.n_out)  # type: ignore[arg-type]


def test_dry_run_limits_match_the_program() -> None:
    """The SDK budgets finalize's dry run with the program's own limits."""
    import re
    from pathlib import Path

    from client.registry import registry

    src = (Path(__file__).parents[2] / "programs/ml_agent/src/instructions/infer.rs").read_text()
    for name in ("OPS_CHECK_MAX_BYTES", "OPS_CHECK_MAX_CU"):
        m = re.search(rf"pub const {name}: \w+ = ([\d_]+);", src)
        assert m is not None, name
        assert int(m.group(1).replace("_", "")) == getattr(registry, name)


def two_conv_model() -> tuple[Any, np.ndarray]:
    """conv -> ReLU -> max pool -> padded dilated conv -> ReLU -> global average -> dense, and
    3,000 windows (1,000 to calibrate)."""
    from client.model.ir import (
        Activation,
        ActivationLayer,
        Conv1dLayer,
        DenseLayer,
        FloatModel,
        Head,
        Pool1dLayer,
        PoolKind,
    )

    rng = np.random.default_rng(3)
    t, f = 32, 4
    c1 = Conv1dLayer(rng.normal(size=(6, f, 3)) * 0.4, rng.normal(size=6) * 0.1, t, pad_left=1,
                     pad_right=1)  # fmt: skip
    p1 = Pool1dLayer(PoolKind.MAX, 6, c1.t_out, 2, 2)
    c2 = Conv1dLayer(rng.normal(size=(8, 6, 3)) * 0.4, rng.normal(size=8) * 0.1, p1.t_out,
                     pad_left=2, pad_right=2, dilation=2)  # fmt: skip
    p2 = Pool1dLayer(PoolKind.AVG, 8, c2.t_out, c2.t_out, 1)
    relu = ActivationLayer(Activation.RELU)
    fm = FloatModel(
        t * f,
        (c1, relu, p1, c2, relu, p2, DenseLayer(rng.normal(size=(3, 8)), np.zeros(3))),
        Head.SOFTMAX,
        labels=(0, 1, 2),
    )
    x = rng.normal(size=(3000, t * f)) + np.tile(np.linspace(-1, 2, f), t)
    return fm, x


def test_two_conv_stages_compile_and_agree_with_the_float_model() -> None:
    """Hidden convolutions pad with their input's zero point (the real 0 PyTorch pads with)."""
    from client.model import compile_model
    from client.model.reference import clip_to_range, features_to_q16

    fm, x = two_conv_model()
    for bits in (8, 16):
        qm = decode(encode(compile_model(fm, x[:1000], bits)))
        kinds = [type(op).__name__ for op in qm.ops]
        assert kinds[:4] == ["QConv1d", "QPool", "QConv1d", "QPool"], kinds
        conv2 = qm.ops[2]
        assert isinstance(conv2, QConv1d) and conv2.pad_value == qm.ops[0].zp_out  # type: ignore[union-attr]
        xq = clip_to_range(qm, features_to_q16(x[1000:]))
        agree = float((execute(qm, xq).classes == fm.forward(xq / 65536.0).classes).mean())
        assert agree >= 0.99, (bits, agree)
