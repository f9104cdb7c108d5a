"""Binary format v1: round trips, chunk hashes and every loader error path."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from client.model import ModelFormatError, compile_model, decode, encode, load, save
from client.model.format import (
    HEADER_SIZE,
    OP_SIZE,
    chunk_hashes,
    encode_with_spans,
    model_sha256,
    payload_bytes,
)
from client.model.ir import Activation, Head, TreeMode
from client.model.qmodel import Layout, QDense, QModel, QTrees
from client.model.reference import execute
from tests.model.helpers import random_dense_model, random_tree_model

LAYOUTS = [Layout.COMPACT, Layout.PACKED, Layout.PACKED3, Layout.SPARSE, None]


def _dense(
    seed: int,
    sizes: list[int],
    act: Activation | None,
    head: Head,
    precision: int,
    layout: Layout | None,
) -> QModel:
    fm = random_dense_model(seed, sizes, act, head)
    calib = np.random.default_rng(seed).normal(0, 1, (32, sizes[0]))
    if precision == 16 and layout in (Layout.PACKED, Layout.PACKED3):
        layout = None
    return compile_model(fm, calib, precision, layout=layout)


def _assert_same_behaviour(a: QModel, b: QModel, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(a.input.lo, a.input.hi + 1, (16, a.n_features))
    ta, tb = execute(a, x), execute(b, x)
    for la, lb in zip(ta.layers, tb.layers, strict=True):
        np.testing.assert_array_equal(la, lb)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    sizes=st.lists(st.integers(1, 9), min_size=2, max_size=4),
    act=st.sampled_from([None, *Activation]),
    head=st.sampled_from([Head.NONE, Head.SOFTMAX, Head.LOGISTIC]),
    precision=st.sampled_from([8, 16]),
    layout=st.sampled_from(LAYOUTS),
)
def test_dense_models_round_trip(
    seed: int,
    sizes: list[int],
    act: Activation | None,
    head: Head,
    precision: int,
    layout: Layout | None,
) -> None:
    if head is Head.LOGISTIC:
        sizes = [*sizes[:-1], 1]
    elif head is Head.SOFTMAX:
        sizes = [*sizes[:-1], max(sizes[-1], 2)]
    model = _dense(seed, sizes, act, head, precision, layout)
    data = encode(model)
    back = decode(data)
    assert encode(back) == data
    assert struct.unpack_from("<I", data, 8)[0] == len(data)
    _assert_same_behaviour(model, back, seed)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n_features=st.integers(1, 6),
    n_trees=st.integers(1, 5),
    mode=st.sampled_from(list(TreeMode)),
    n_out=st.integers(1, 3),
)
def test_tree_models_round_trip(
    seed: int, n_features: int, n_trees: int, mode: TreeMode, n_out: int
) -> None:
    if mode is TreeMode.PROBA:
        n_out = max(n_out, 2)
    n_trees = n_trees * n_out if mode is TreeMode.VALUE else n_trees
    fm = random_tree_model(seed, n_features, n_trees, mode, n_out)
    calib = np.random.default_rng(seed).normal(0, 1, (16, n_features))
    model = compile_model(fm, calib)
    data = encode(model)
    back = decode(data)
    assert encode(back) == data
    _assert_same_behaviour(model, back, seed)


def test_every_array_is_8_byte_aligned_and_inside_the_payload() -> None:
    model = _dense(1, [5, 7, 3], Activation.TANH, Head.SOFTMAX, 8, Layout.SPARSE)
    enc = encode_with_spans(model)
    pay_off, pay_len = struct.unpack_from("<II", enc.data, 44)
    arrays = [
        (s, e, n) for s, e, n in enc.spans if n.startswith("op[") and "." in n and s >= pay_off
    ]
    assert arrays, "the model has payload arrays"
    for start, end, name in arrays:
        assert start % 8 == 0, name
        assert pay_off <= start and end <= pay_off + pay_len, name
    assert payload_bytes(model) == pay_len


def test_save_load_and_hashes(tmp_path: Path) -> None:
    model = _dense(2, [4, 8, 3], None, Head.SOFTMAX, 8, Layout.COMPACT)
    path = tmp_path / "m.mlag"
    data = save(model, path)
    assert path.read_bytes() == data
    assert encode(load(path)) == data
    assert model_sha256(data) == hashlib.sha256(data).digest()
    chunks = chunk_hashes(data, 100)
    assert len(chunks) == -(-len(data) // 100)
    assert chunks[-1] == hashlib.sha256(data[(len(chunks) - 1) * 100 :]).digest()
    assert chunk_hashes(data, len(data)) == [model_sha256(data)]
    with pytest.raises(ValueError, match="chunk_size must be positive"):
        chunk_hashes(data, 0)


# ---------------------------------------------------------------- malformed files


@pytest.fixture(scope="module")
def neural() -> bytes:
    return encode(_dense(3, [4, 6, 3], Activation.SIGMOID, Head.SOFTMAX, 8, Layout.COMPACT))


@pytest.fixture(scope="module")
def sparse() -> bytes:
    return encode(_dense(4, [6, 5, 3], None, Head.SOFTMAX, 8, Layout.SPARSE))


@pytest.fixture(scope="module")
def trees() -> bytes:
    fm = random_tree_model(5, 3, 2, TreeMode.PROBA, 3)
    return encode(compile_model(fm, np.random.default_rng(5).normal(0, 1, (8, 3))))


def _patch(data: bytes, offset: int, fmt: str, value: int | bytes) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, offset, value)
    return bytes(buf)


def _u32(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<I", data, offset)[0])


def _fails(data: bytes, offset: int, field: str, message: str) -> None:
    with pytest.raises(ModelFormatError) as info:
        decode(data)
    err = info.value
    assert (err.offset, err.field) == (offset, field), str(err)
    assert message in err.message
    assert f"byte {offset} ({field})" in str(err)


def test_truncated_header(neural: bytes) -> None:
    _fails(neural[:40], 40, "header", "truncated")


def test_truncated_body(neural: bytes) -> None:
    _fails(neural[:-9], len(neural) - 9, "header.file_len", "truncated")


def test_trailing_bytes(neural: bytes) -> None:
    _fails(neural + b"\0\0", len(neural), "trailing bytes", "2 bytes after")


def test_bad_magic(neural: bytes) -> None:
    _fails(b"MLAX" + neural[4:], 0, "header.magic", "bad magic")


def test_version_mismatch(neural: bytes) -> None:
    _fails(_patch(neural, 4, "<H", 2), 4, "header.version", "version 2 is not supported")


def test_bad_header_size(neural: bytes) -> None:
    _fails(_patch(neural, 6, "<H", 72), 6, "header.header_size", "expected 64")


@pytest.mark.parametrize(
    ("offset", "field"),
    [
        (12, "header.arch"),
        (13, "header.task"),
        (14, "header.input_dtype"),
        (15, "header.scaling"),
        (28, "header.label_kind"),
    ],
)
def test_bad_header_enums(neural: bytes, offset: int, field: str) -> None:
    _fails(_patch(neural, offset, "<B", 9), offset, field, "bad enum value 9")


def test_reserved_header_field(neural: bytes) -> None:
    _fails(_patch(neural, 60, "<I", 1), 60, "header.reserved1", "reserved")


def test_bad_op_kind(neural: bytes) -> None:
    ops = _u32(neural, 40)
    _fails(_patch(neural, ops, "<B", 77), ops, "op[0].kind", "bad enum value 77")


def test_bad_layout(neural: bytes) -> None:
    ops = _u32(neural, 40)
    _fails(_patch(neural, ops + 2, "<B", 9), ops + 2, "op[0].layout", "bad enum value 9")


def test_bad_lut_kind(neural: bytes) -> None:
    op1 = _u32(neural, 40) + OP_SIZE
    _fails(_patch(neural, op1 + 3, "<B", 0), op1 + 3, "op[1].mode", "bad enum value 0")


def test_misaligned_array(neural: bytes) -> None:
    slot = _u32(neural, 40) + 40 + 4  # op[0].off[1]: the bias
    bias_off = _u32(neural, slot) + 4
    _fails(
        _patch(neural, slot, "<I", bias_off),
        slot,
        "op[0].off[1]",
        f"array offset {bias_off} is not 8-byte aligned",
    )


def test_out_of_bounds_array(neural: bytes) -> None:
    slot = _u32(neural, 40) + 40 + 8  # op[0].off[2]: the multipliers
    far = ((len(neural) + 7) & ~7) + 64
    _fails(_patch(neural, slot, "<I", far), slot, "op[0].off[2]", f"at offset {far} lies outside")


def test_misaligned_ranges(neural: bytes) -> None:
    _fails(_patch(neural, 32, "<I", 68), 32, "header.ranges_off", "not 8-byte aligned")


def test_out_of_bounds_op_table(neural: bytes) -> None:
    _fails(_patch(neural, 22, "<H", 500), 40, "header.ops_off", "lies outside the file")


def test_dims_that_do_not_chain(neural: bytes) -> None:
    op1 = _u32(neural, 40) + OP_SIZE
    _fails(_patch(neural, op1 + 4, "<I", 5), op1 + 4, "op[1].n_in", "previous stage produces 6")


def test_zero_multiplier(neural: bytes) -> None:
    m_off = _u32(neural, _u32(neural, 40) + 48)
    _fails(_patch(neural, m_off, "<I", 0), m_off, "op[0].multiplier", "not in 1..2^31-1")


def test_bad_shift(neural: bytes) -> None:
    ops = _u32(neural, 40)
    _fails(_patch(neural, ops + 24, "<B", 0), ops + 24, "op[0].shift", "outside 1..62")


def test_reversed_range(neural: bytes) -> None:
    lo0 = _u32(neural, 32)
    _fails(_patch(neural, lo0, "<i", 2**31 - 1), lo0, "ranges.lo[0]", "lo > hi")


def test_bad_input_shift(neural: bytes) -> None:
    n = 4
    s_off = _u32(neural, 36) + 8 * n  # c and m are 16 bytes each (already 8-aligned)
    _fails(_patch(neural, s_off + 2, "<B", 0), s_off + 2, "affine.s[2]", "outside 1..62")


def test_nonzero_padding_is_not_canonical(neural: bytes) -> None:
    # The affine shifts take 4 bytes followed by 4 bytes of padding.
    pad = _u32(neural, 36) + 8 * 4 + 4
    _fails(_patch(neural, pad, "<B", 1), pad, "padding", "non-canonical")


def test_sparse_index_out_of_range(sparse: bytes) -> None:
    idx_off = _u32(sparse, _u32(sparse, 40) + 44)
    _fails(
        _patch(sparse, idx_off, "<H", 999),
        idx_off,
        "op[0].indices",
        "indices must ascend strictly below n_in",
    )


def test_sparse_row_pointer(sparse: bytes) -> None:
    rp = _u32(sparse, _u32(sparse, 40) + 40)
    ops = _u32(sparse, 40)
    _fails(_patch(sparse, rp, "<I", 1), ops + 12, "op[0].row_ptr", "rise from 0 to nnz")


def test_tree_child_pointing_backwards(trees: bytes) -> None:
    nodes = _u32(trees, _u32(trees, 40) + 44)
    # Node 0 is the root; its left child must come after it.
    _fails(
        _patch(trees, nodes + 8, "<I", 0),
        nodes + 8,
        "op[0].nodes[0].left",
        "child 0 must lie in (0,",
    )


def test_tree_feature_out_of_range(trees: bytes) -> None:
    nodes = _u32(trees, _u32(trees, 40) + 44)
    _fails(
        _patch(trees, nodes + 4, "<H", 7),
        nodes + 4,
        "op[0].nodes[0].feature",
        "feature 7 >= n_features 3",
    )


def test_tree_depth_limit(trees: bytes) -> None:
    ops = _u32(trees, 40)
    nodes = _u32(trees, ops + 44)
    _fails(
        _patch(trees, ops + 26, "<H", 0),
        nodes + 8,
        "op[0].nodes[0].left",
        "deeper than max_depth 0",
    )


def test_bad_label_utf8(neural: bytes) -> None:
    labels_off = _u32(neural, 52)
    _fails(_patch(neural, labels_off + 2, "<B", 0xFF), labels_off + 2, "labels[0]", "UTF-8")


def test_header_constants() -> None:
    assert HEADER_SIZE == 64 and OP_SIZE == 64


def test_golden_files_decode_and_re_encode_identically() -> None:
    golden = sorted(Path(__file__).resolve().parent.parent.joinpath("golden").glob("*.mlag"))
    assert len(golden) >= 19
    for path in golden:
        data = path.read_bytes()
        model = decode(data)
        assert encode(model) == data, path.name
        if isinstance(model.ops[0], QDense | QTrees):
            assert payload_bytes(model) > 0


_GOLDEN_FILES = sorted(Path(__file__).resolve().parent.parent.joinpath("golden").glob("*.mlag"))


@settings(max_examples=300, deadline=None)
@given(
    which=st.integers(0, len(_GOLDEN_FILES) - 1),
    flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=3),
    cut=st.none() | st.integers(0, 1 << 20),
)
def test_corrupted_files_fail_only_with_model_format_errors(
    which: int, flips: list[tuple[int, int]], cut: int | None
) -> None:
    data = bytearray(_GOLDEN_FILES[which].read_bytes())
    for pos, value in flips:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data)]
    try:
        model = decode(bytes(data))
    except ModelFormatError as err:
        assert 0 <= err.offset <= len(data) and err.field
        return
    # Whatever is accepted is canonical: it re-encodes to the same bytes.
    assert encode(model) == bytes(data)
