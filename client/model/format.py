"""Binary model format v1: encoder, strict decoder, file I/O and chunk hashes.

docs/model-format.md is the normative description; field names in ModelFormatError messages
are the names used there.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from os import PathLike

import numpy as np
from numpy.typing import NDArray

from . import conv
from .errors import ModelFormatError
from .layouts import (
    P3_INPUT_MAX,
    P3_LANE_LIMIT,
    align8,
    compact_encode,
    packed3_chunk_bound,
    packed3_decode,
    packed3_encode,
    packed3_groups,
    packed_encode,
    sparse_encode,
)
from .qmodel import (
    LEAF,
    MAGIC,
    VERSION,
    Arch,
    ConfMode,
    DType,
    InputSpec,
    LabelKind,
    Layout,
    LutKind,
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
    Scaling,
    Task,
    TreeMode,
    op_n_out,
)
from .recurrent import (
    H8_MAX_HIDDEN,
    PAIR_MAX_COLS,
    TABLE_LEN,
    group_decode,
    group_encode,
    padded_rows,
    unit_major,
)

I64 = NDArray[np.int64]

HEADER_SIZE = 64
OP_SIZE = 64
OP_SLOTS = 6
NODE_SIZE = 16
HEADER_STRUCT = struct.Struct("<4sHHIBBBBHHHHiBbHIIIIIIII")
OP_STRUCT = struct.Struct("<BBBBIIIIIBBHiii6I")
assert HEADER_STRUCT.size == HEADER_SIZE and OP_STRUCT.size == OP_SIZE

# (name, struct offset) of every header field, for error messages.
HEADER_FIELDS = (
    ("magic", 0),
    ("version", 4),
    ("header_size", 6),
    ("file_len", 8),
    ("arch", 12),
    ("task", 13),
    ("input_dtype", 14),
    ("scaling", 15),
    ("n_features", 16),
    ("n_outputs", 18),
    ("n_classes", 20),
    ("n_ops", 22),
    ("input_zp", 24),
    ("label_kind", 28),
    ("out_frac_bits", 29),
    ("reserved0", 30),
    ("ranges_off", 32),
    ("affine_off", 36),
    ("ops_off", 40),
    ("payload_off", 44),
    ("payload_len", 48),
    ("labels_off", 52),
    ("labels_len", 56),
    ("reserved1", 60),
)
OP_FIELDS = (
    ("kind", 0),
    ("dtype", 1),
    ("layout", 2),
    ("mode", 3),
    ("n_in", 4),
    ("n_out", 8),
    ("p0", 12),
    ("p1", 16),
    ("p2", 20),
    ("shift", 24),
    ("reserved", 25),
    ("p3", 26),
    ("zp", 28),
    ("lo", 32),
    ("hi", 36),
    ("off[0]", 40),
    ("off[1]", 44),
    ("off[2]", 48),
    ("off[3]", 52),
    ("off[4]", 56),
    ("off[5]", 60),
)
NODE_DTYPE = np.dtype(
    [
        ("threshold", "<i4"),
        ("feature", "<u2"),
        ("reserved", "<u2"),
        ("left", "<u4"),
        ("right", "<u4"),
    ]
)


# ---------------------------------------------------------------- encoder


@dataclass
class _Writer:
    buf: bytearray = field(default_factory=bytearray)
    spans: list[tuple[int, int, str]] = field(default_factory=list)

    def pad8(self) -> None:
        self.buf.extend(b"\0" * (align8(len(self.buf)) - len(self.buf)))

    def put(self, raw: bytes, name: str) -> int:
        start = len(self.buf)
        self.buf.extend(raw)
        self.spans.append((start, len(self.buf), name))
        return start

    def array(self, values: NDArray[np.integer], dtype: str, name: str) -> int:
        self.pad8()
        return self.put(_checked(values, dtype, name).tobytes(), name)


def _checked(values: NDArray[np.integer], dtype: str, name: str) -> NDArray[np.generic]:
    info = np.iinfo(np.dtype(dtype))
    arr = np.asarray(values)
    if arr.size and (int(arr.min()) < info.min or int(arr.max()) > info.max):
        raise ValueError(f"{name}: values outside {dtype}")
    return arr.astype(dtype)


@dataclass(frozen=True)
class Encoded:
    data: bytes
    spans: tuple[tuple[int, int, str], ...]
    payload_len: int

    def field_at(self, offset: int) -> str:
        for start, end, name in self.spans:
            if start <= offset < end:
                return name
        return "padding"


def _op_arrays(op: QOp) -> list[tuple[I64, str, str]]:
    if isinstance(op, QConv1d):
        return conv.conv1d_arrays(op)
    if isinstance(op, QDense):
        tail = [(op.bias, "<i4", "bias"), (op.multiplier, "<u4", "multiplier")]
        if op.layout is Layout.COMPACT:
            wdt = "u1" if op.dtype is DType.I8 else "<i2"
            return [(compact_encode(op.weight, op.dtype), wdt, "weights"), *tail]
        if op.layout is Layout.PACKED:
            return [(packed_encode(op.weight), "<i8", "weights"), *tail]
        if op.layout is Layout.PACKED3:
            return [(packed3_encode(op.weight), "<i8", "weights"), *tail]
        sp = sparse_encode(op.weight)
        vdt = "i1" if op.dtype is DType.I8 else "<i2"
        return [
            (sp.row_ptr, "<u4", "row_ptr"),
            (sp.idx, "<u2", "indices"),
            (sp.val, vdt, "values"),
            *tail,
        ]
    if isinstance(op, QLut):
        return [(op.table, "i1" if op.dtype is DType.I8 else "<i2", "table")]
    if isinstance(op, QRecurrent):
        perm = unit_major(op.gates, op.hidden)
        wx, wh = op.wx[perm], op.wh[perm]
        if op.dtype is DType.I8:
            wx, wdt = group_encode(wx), "<i8"
            wh = packed3_encode(wh) if op.h8 else group_encode(wh)
        else:
            wdt = "<i2"
        pad = np.zeros(padded_rows(op.rows) - op.rows, dtype=np.int64)
        return [
            (wx, wdt, "wx"),
            (wh, wdt, "wh"),
            (np.concatenate([op.cx[perm], pad, op.ch[perm], pad]), "<i8", "offsets"),
            (np.concatenate([op.mx[perm], pad, op.mh[perm], pad]), "<u4", "multiplier"),
            (op.sigmoid, "<i2", "sigmoid"),
            (op.tanh, "<i2", "tanh"),
        ]
    if isinstance(op, QTrees):
        leaf_dt = "<u4" if op.mode is TreeMode.PROBA else "<i4"
        out: list[tuple[I64, str, str]] = [
            (op.roots, "<u4", "roots"),
            (np.zeros(0, dtype=np.int64), "nodes", "nodes"),
            (op.leaves.reshape(-1), leaf_dt, "leaves"),
        ]
        if op.mode is TreeMode.VALUE:
            out.append((op.base, "<i4", "base"))
        return out
    return []


def _op_record(op: QOp, offsets: list[int]) -> bytes:
    slots = (offsets + [0] * OP_SLOTS)[:OP_SLOTS]
    if isinstance(op, QConv1d | QPool):
        ckind = OpKind.CONV1D if isinstance(op, QConv1d) else OpKind.POOL
        rec = conv.conv1d_record(op) if isinstance(op, QConv1d) else conv.pool_record(op)
        return OP_STRUCT.pack(ckind, *rec[:9], 0, *rec[9:], *slots)
    kind, dtype, layout, mode = 0, 0, 0, 0
    n_in = n_out = p0 = p1 = p2 = shift = p3 = zp = lo = hi = 0
    if isinstance(op, QDense):
        kind, dtype, layout = OpKind.DENSE, op.dtype, op.layout
        n_in, n_out, shift, zp, lo, hi = op.n_in, op.n_out, op.shift, op.zp_out, op.lo, op.hi
        p0 = op.nnz if op.layout is Layout.SPARSE else 0
        if op.layout is Layout.PACKED3:
            if not 1 <= op.span <= op.n_in:
                raise ValueError(
                    f"PACKED3 layer needs a span in 1..{op.n_in} (layouts.packed3_span), "
                    f"got {op.span}"
                )
            p1 = op.span
    elif isinstance(op, QLut):
        kind, dtype, mode, n_in, n_out = OpKind.LUT, op.dtype, op.kind, op.n, op.n
    elif isinstance(op, QSoftmax):
        kind, mode, n_in, n_out = OpKind.SOFTMAX, int(op.binary), op.n_in, op.n_out
        p0, shift = op.k, op.k_shift
    elif isinstance(op, QArgmax):
        kind, mode, n_in, n_out, p0 = OpKind.ARGMAX, op.mode, op.n_in, 2, op.divisor
    elif isinstance(op, QRecurrent):
        kind, dtype, mode, n_in, n_out = op.kind, op.dtype, int(op.sequence), op.n_in, op.n_out
        layout = Layout.PACKED if op.dtype is DType.I8 else Layout.COMPACT
        if op.h8:
            if op.dtype is not DType.I8 or op.hidden > H8_MAX_HIDDEN:
                raise ValueError(f"speed mode needs INT8 weights and <= {H8_MAX_HIDDEN} units")
            layout = Layout.PACKED3
        p0, p1, p2, shift, p3 = op.steps, op.features, op.hidden, op.shift, op.gate_bits
    else:
        kind, mode, n_in, n_out = OpKind.TREES, op.mode, op.n_features, op.n_out
        p0, p1, p2, p3 = op.n_trees, op.n_nodes, op.n_leaves, op.max_depth
    return OP_STRUCT.pack(
        kind, dtype, layout, mode, n_in, n_out, p0, p1, p2, shift, 0, p3, zp, lo, hi, *slots
    )


def _labels_blob(labels: tuple[int | str, ...]) -> list[bytes]:
    out = []
    for v in labels:
        raw = str(v).encode("utf-8")
        if len(raw) > 0xFFFF:
            raise ValueError(f"label {v!r} is longer than 65535 bytes")
        out.append(struct.pack("<H", len(raw)) + raw)
    return out


def encode_with_spans(model: QModel) -> Encoded:
    w = _Writer()
    w.put(b"\0" * HEADER_SIZE, "header")
    spec = model.input
    n = spec.n_features
    ranges_off = w.array(spec.lo, "<i4", "ranges.lo")
    w.array(spec.hi, "<i4", "ranges.hi")
    affine_off = 0
    if spec.dtype is not DType.NONE:
        affine_off = w.array(spec.c, "<i4", "affine.c")
        w.array(spec.m, "<i4", "affine.m")
        w.array(spec.s, "u1", "affine.s")
    w.pad8()
    ops_off = len(w.buf)
    for i in range(len(model.ops)):
        w.put(b"\0" * OP_SIZE, f"op[{i}]")
    w.pad8()
    payload_off = len(w.buf)
    records = []
    for i, op in enumerate(model.ops):
        offsets = []
        for values, dt, name in _op_arrays(op):
            if dt == "nodes":
                assert isinstance(op, QTrees)
                offsets.append(w.array(_tree_nodes(op), "u1", f"op[{i}].nodes"))
            else:
                offsets.append(w.array(values, dt, f"op[{i}].{name}"))
        records.append(_op_record(op, offsets))
    w.pad8()
    payload_len = len(w.buf) - payload_off
    labels_off = labels_len = 0
    if model.labels:
        labels_off = len(w.buf)
        for j, raw in enumerate(_labels_blob(model.labels)):
            w.put(raw, f"labels[{j}]")
        labels_len = len(w.buf) - labels_off
    for i, rec in enumerate(records):
        w.buf[ops_off + i * OP_SIZE : ops_off + (i + 1) * OP_SIZE] = rec
    header = HEADER_STRUCT.pack(
        MAGIC,
        VERSION,
        HEADER_SIZE,
        len(w.buf),
        model.arch,
        model.task,
        spec.dtype,
        spec.scaling,
        n,
        model.n_outputs,
        model.n_classes,
        len(model.ops),
        spec.zp,
        model.label_kind,
        model.out_frac_bits,
        0,
        ranges_off,
        affine_off,
        ops_off,
        payload_off,
        payload_len,
        labels_off,
        labels_len,
        0,
    )
    w.buf[:HEADER_SIZE] = header
    # Placeholder spans ("header", "op[i]") give way to one span per field.
    spans = [s for s in w.spans if "." in s[2] or s[2].startswith("labels")]
    spans += _field_spans(0, HEADER_FIELDS, HEADER_SIZE, "header.")
    for i in range(len(model.ops)):
        spans += _field_spans(ops_off + i * OP_SIZE, OP_FIELDS, OP_SIZE, f"op[{i}].")
    return Encoded(bytes(w.buf), tuple(sorted(spans)), payload_len)


def _field_spans(
    base: int, fields: tuple[tuple[str, int], ...], size: int, prefix: str
) -> list[tuple[int, int, str]]:
    ends = [o for _, o in fields[1:]] + [size]
    return [(base + o, base + e, prefix + n) for (n, o), e in zip(fields, ends, strict=True)]


def _tree_nodes(op: QTrees) -> NDArray[np.uint8]:
    nodes = np.zeros(op.n_nodes, dtype=NODE_DTYPE)
    nodes["threshold"] = _checked(op.threshold, "<i4", "threshold")
    nodes["feature"] = _checked(op.feature, "<u2", "feature")
    nodes["left"] = _checked(op.left, "<u4", "left")
    nodes["right"] = _checked(op.right, "<u4", "right")
    return nodes.view(np.uint8)


def encode(model: QModel) -> bytes:
    return encode_with_spans(model).data


def save(model: QModel, path: str | PathLike[str]) -> bytes:
    data = encode(model)
    with open(path, "wb") as fh:
        fh.write(data)
    return data


def load(path: str | PathLike[str]) -> QModel:
    with open(path, "rb") as fh:
        return decode(fh.read())


def model_sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def chunk_hashes(data: bytes, chunk_size: int) -> list[bytes]:
    """SHA-256 of each ``chunk_size`` slice of the file (the last one may be shorter)."""
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    return [
        hashlib.sha256(data[i : i + chunk_size]).digest() for i in range(0, len(data), chunk_size)
    ]


def payload_bytes(model: QModel) -> int:
    """Bytes of the op arrays section (what docs/model-format.md calls the payload)."""
    return encode_with_spans(model).payload_len


# ---------------------------------------------------------------- decoder


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def fail(self, offset: int, name: str, message: str) -> ModelFormatError:
        return ModelFormatError(offset, name, message)

    def array(
        self,
        off: int,
        count: int,
        dtype: str,
        name: str,
        field_off: int,
        *,
        lo: int = 0,
        hi: int | None = None,
    ) -> I64:
        """Read ``count`` elements at ``off`` after alignment and bounds checks; errors point
        at ``field_off``, where the offending offset is stored."""
        item = np.dtype(dtype).itemsize
        limit = len(self.data) if hi is None else hi
        if off % 8:
            raise self.fail(field_off, name, f"array offset {off} is not 8-byte aligned")
        if off < lo or off + count * item > limit:
            raise self.fail(
                field_off,
                name,
                f"array of {count * item} bytes at offset {off} lies outside [{lo}, {limit})",
            )
        arr: I64 = np.frombuffer(self.data, dtype=dtype, count=count, offset=off).astype(np.int64)
        return arr


def _enum(cls: type, value: int, offset: int, name: str) -> object:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(f"{m.value}={m.name}" for m in cls)  # type: ignore[attr-defined]
        msg = f"bad enum value {value} (allowed: {allowed})"
        raise ModelFormatError(offset, name, msg) from None


def _require(cond: bool, offset: int, name: str, message: str) -> None:
    if not cond:
        raise ModelFormatError(offset, name, message)


def decode(data: bytes) -> QModel:
    """Parse and fully validate a v1 file; any deviation raises ModelFormatError."""
    data = bytes(data)
    if len(data) < HEADER_SIZE:
        raise ModelFormatError(
            len(data), "header", f"truncated: {len(data)} bytes, the header alone needs 64"
        )
    h = HEADER_STRUCT.unpack_from(data, 0)
    (
        magic,
        version,
        header_size,
        file_len,
        arch_v,
        task_v,
        dtype_v,
        scaling_v,
        n_features,
        n_outputs,
        n_classes,
        n_ops,
        input_zp,
        label_kind_v,
        out_frac_bits,
        reserved0,
        ranges_off,
        affine_off,
        ops_off,
        payload_off,
        payload_len,
        labels_off,
        labels_len,
        reserved1,
    ) = h
    _require(magic == MAGIC, 0, "header.magic", f"bad magic {magic!r}, expected {MAGIC!r}")
    _require(
        version == VERSION,
        4,
        "header.version",
        f"version {version} is not supported (this reader handles version {VERSION})",
    )
    _require(
        header_size == HEADER_SIZE,
        6,
        "header.header_size",
        f"header_size {header_size}, expected {HEADER_SIZE}",
    )
    _require(
        file_len <= len(data),
        len(data),
        "header.file_len",
        f"truncated: header says {file_len} bytes, file has {len(data)}",
    )
    _require(
        file_len == len(data),
        file_len,
        "trailing bytes",
        f"{len(data) - file_len} bytes after the declared end of file",
    )
    arch = _enum(Arch, arch_v, 12, "header.arch")
    task = _enum(Task, task_v, 13, "header.task")
    in_dtype = _enum(DType, dtype_v, 14, "header.input_dtype")
    scaling = _enum(Scaling, scaling_v, 15, "header.scaling")
    label_kind = _enum(LabelKind, label_kind_v, 28, "header.label_kind")
    assert isinstance(arch, Arch) and isinstance(task, Task) and isinstance(in_dtype, DType)
    assert isinstance(scaling, Scaling) and isinstance(label_kind, LabelKind)
    _require(reserved0 == 0, 30, "header.reserved0", "reserved field must be 0")
    _require(reserved1 == 0, 60, "header.reserved1", "reserved field must be 0")
    _require(n_features > 0, 16, "header.n_features", "a model needs at least one feature")
    _require(n_ops > 0, 22, "header.n_ops", "a model needs at least one op")
    _require(
        (arch is Arch.TREES) == (in_dtype is DType.NONE),
        14,
        "header.input_dtype",
        f"input_dtype {in_dtype.name} does not match arch {arch.name}",
    )
    r = _Reader(data)
    lo = r.array(ranges_off, n_features, "<i4", "header.ranges_off", 32, lo=HEADER_SIZE)
    hi = r.array(align8(ranges_off + 4 * n_features), n_features, "<i4", "header.ranges_off", 32)
    bad = np.nonzero(lo > hi)[0]
    _require(
        not bad.size,
        ranges_off + 4 * int(bad[0]) if bad.size else 0,
        f"ranges.lo[{int(bad[0]) if bad.size else 0}]",
        "declared range has lo > hi",
    )
    spec = InputSpec(lo=lo, hi=hi, dtype=in_dtype, zp=input_zp, scaling=scaling)
    if in_dtype is DType.NONE:
        _require(affine_off == 0, 36, "header.affine_off", "raw-feature models have no affine")
        _require(input_zp == 0, 24, "header.input_zp", "raw-feature models have input_zp 0")
    else:
        m_off = align8(affine_off + 4 * n_features)
        s_off = align8(m_off + 4 * n_features)
        spec.c = r.array(affine_off, n_features, "<i4", "header.affine_off", 36, lo=HEADER_SIZE)
        spec.m = r.array(m_off, n_features, "<i4", "header.affine_off", 36)
        spec.s = r.array(s_off, n_features, "u1", "header.affine_off", 36)
        _require(
            in_dtype.qmin <= input_zp <= in_dtype.qmax,
            24,
            "header.input_zp",
            f"input_zp {input_zp} outside {in_dtype.name}",
        )
        for j in range(n_features):
            _require(
                1 <= spec.s[j] <= 62,
                s_off + j,
                f"affine.s[{j}]",
                f"shift {int(spec.s[j])} outside 1..62",
            )
            _require(
                abs(int(spec.m[j])) < 1 << 30, m_off + 4 * j, f"affine.m[{j}]", "|m| must be < 2^30"
            )
    _require(ops_off % 8 == 0, 40, "header.ops_off", f"op table offset {ops_off} not aligned")
    _require(
        HEADER_SIZE <= ops_off and ops_off + n_ops * OP_SIZE <= file_len,
        40,
        "header.ops_off",
        f"op table at {ops_off} ({n_ops} ops) lies outside the file",
    )
    _require(payload_off % 8 == 0, 44, "header.payload_off", "payload offset not aligned")
    _require(
        ops_off + n_ops * OP_SIZE <= payload_off and payload_off + payload_len <= file_len,
        44,
        "header.payload_off",
        f"payload [{payload_off}, {payload_off + payload_len}) lies outside the file or "
        "overlaps the op table",
    )
    pay_lo, pay_hi = payload_off, payload_off + payload_len
    ops: list[QOp] = []
    width = n_features
    # The range of the values the next op reads (None: not an integer activation).
    reads: tuple[int, int] | None = (
        None if in_dtype is DType.NONE else (in_dtype.qmin, in_dtype.qmax)
    )
    for i in range(n_ops):
        base = ops_off + i * OP_SIZE
        op = _decode_op(r, i, base, width, in_dtype, reads, n_features, pay_lo, pay_hi)
        if isinstance(op, QDense | QConv1d | QPool):
            reads = (op.lo, op.hi)
        elif isinstance(op, QRecurrent):
            reads = (-32768, 32767)
        elif isinstance(op, QLut):
            reads = (op.dtype.qmin, op.dtype.qmax)
        else:
            reads = None
        if isinstance(op, QArgmax):
            _require(i == n_ops - 1, base, f"op[{i}].kind", "ARGMAX must be the last op")
        if isinstance(op, QTrees):
            _require(
                i == 0 and arch is Arch.TREES,
                base,
                f"op[{i}].kind",
                "TREES must be the first op of a TREES model",
            )
        elif i == 0:
            _require(
                arch is Arch.NEURAL,
                base,
                f"op[{i}].kind",
                "a TREES model must start with a TREES op",
            )
        ops.append(op)
        width = op_n_out(op)
    is_cls = isinstance(ops[-1], QArgmax)
    _require(
        is_cls == (task is Task.CLASSIFICATION),
        13,
        "header.task",
        f"task {task.name} does not match the last op",
    )
    labels = _decode_labels(data, label_kind, labels_off, labels_len, pay_hi, file_len)
    _require(
        len(labels) in (0, n_classes),
        labels_off,
        "header.labels_len",
        f"{len(labels)} labels for {n_classes} classes",
    )
    model = QModel(
        arch=arch,
        task=task,
        input=spec,
        ops=ops,
        n_classes=n_classes,
        labels=labels,
        out_frac_bits=out_frac_bits,
    )
    _require(
        model.n_outputs == n_outputs,
        18,
        "header.n_outputs",
        f"n_outputs {n_outputs}, the ops produce {model.n_outputs}",
    )
    if is_cls:
        _require(
            n_classes == ops[-1].n_in,  # type: ignore[union-attr]
            20,
            "header.n_classes",
            f"n_classes {n_classes} does not match the ARGMAX width",
        )
    else:
        _require(n_classes == 0, 20, "header.n_classes", "regression models have no classes")
    _require_canonical(model, data)
    return model


def _require_canonical(model: QModel, data: bytes) -> None:
    """The only accepted byte string is the one the encoder produces: catches non-zero
    padding, gaps, overlapping or reordered arrays that passed the field checks."""
    enc = encode_with_spans(model)
    if enc.data == data:
        return
    a = np.frombuffer(enc.data[: len(data)], dtype=np.uint8)
    b = np.frombuffer(data[: len(enc.data)], dtype=np.uint8)
    diff = np.nonzero(a != b)[0]
    off = int(diff[0]) if diff.size else min(len(data), len(enc.data))
    raise ModelFormatError(
        off,
        enc.field_at(off),
        "non-canonical layout: sections or arrays are not where v1 puts "
        "them, or padding is not zero",
    )


def _decode_labels(
    data: bytes, kind: LabelKind, off: int, length: int, pay_hi: int, file_len: int
) -> tuple[int | str, ...]:
    if kind is LabelKind.NONE:
        _require(off == 0 and length == 0, 52, "header.labels_off", "label_kind NONE, labels set")
        return ()
    _require(
        off >= pay_hi and off + length <= file_len,
        52,
        "header.labels_off",
        f"labels [{off}, {off + length}) lie outside the file or inside the payload",
    )
    out: list[int | str] = []
    pos = off
    end = off + length
    while pos < end:
        _require(pos + 2 <= end, pos, f"labels[{len(out)}]", "truncated label length")
        (n,) = struct.unpack_from("<H", data, pos)
        _require(pos + 2 + n <= end, pos, f"labels[{len(out)}]", "label runs past labels_len")
        try:
            text = data[pos + 2 : pos + 2 + n].decode("utf-8")
        except UnicodeDecodeError:
            raise ModelFormatError(pos + 2, f"labels[{len(out)}]", "label is not UTF-8") from None
        if kind is LabelKind.INT:
            try:
                out.append(int(text))
            except ValueError:
                raise ModelFormatError(
                    pos + 2, f"labels[{len(out)}]", f"INT label {text!r} is not an integer"
                ) from None
        else:
            out.append(text)
        pos += 2 + n
    return tuple(out)


@dataclass(frozen=True)
class _OpCtx:
    r: _Reader
    name: str
    base: int
    offs: list[int]
    pay_lo: int
    pay_hi: int

    def arr(self, slot: int, count: int, dtype: str) -> I64:
        return self.r.array(
            self.offs[slot],
            count,
            dtype,
            f"{self.name}.off[{slot}]",
            self.base + 40 + 4 * slot,
            lo=self.pay_lo,
            hi=self.pay_hi,
        )

    def unused(self, first: int) -> None:
        for s in range(first, OP_SLOTS):
            _require(
                self.offs[s] == 0,
                self.base + 40 + 4 * s,
                f"{self.name}.off[{s}]",
                "unused slot must be 0",
            )


def _decode_packed3(ctx: _OpCtx, n_in: int, n_out: int, span: int) -> I64:
    """The weights of a PACKED3 array: every word three INT8 lanes, padding rows zero, and the
    lane bound (`128 * sum |w|` over every chunk of every row <= 2^20 - 1) proved."""
    name = ctx.name
    words = ctx.arr(0, packed3_groups(n_out) * n_in * 4, "<i8")
    rows, again = packed3_decode(words, n_out, n_in)
    ok = (rows >= -128) & (rows <= 127)
    _require(
        bool(ok.all()) and bool((again == words).all()),
        ctx.offs[0],
        f"{name}.weights",
        "packed word does not hold three int8 lanes of 21 bits",
    )
    _require(
        not rows[n_out:].any(),
        ctx.offs[0],
        f"{name}.weights",
        "padding rows of a PACKED3 layer must be zero",
    )
    weight = rows[:n_out]
    bound = packed3_chunk_bound(weight, span)
    _require(
        bound <= P3_LANE_LIMIT,
        ctx.base + 16,
        f"{name}.p1",
        f"PACKED3 span {span} lets a lane reach {P3_INPUT_MAX} * sum|w| = {bound} > 2^20 - 1 "
        "(it could carry into the next lane)",
    )
    return weight


def _reads_within(
    reads: tuple[int, int] | None, dtype: DType, base: int, name: str, what: str
) -> None:
    """Per-layer precision: an op may have its own dtype as long as every value it reads (the
    previous op's clamp range, or the input dtype) lies inside that dtype."""
    _require(
        reads is not None and dtype.qmin <= reads[0] and reads[1] <= dtype.qmax,
        base + 1,
        f"{name}.dtype",
        f"{what} dtype {dtype.name} cannot read the previous op's output range {reads}",
    )


def _decode_op(
    r: _Reader,
    i: int,
    base: int,
    width: int,
    in_dtype: DType,
    reads: tuple[int, int] | None,
    n_features: int,
    pay_lo: int,
    pay_hi: int,
) -> QOp:
    f = OP_STRUCT.unpack_from(r.data, base)
    (
        kind_v,
        dtype_v,
        layout_v,
        mode_v,
        n_in,
        n_out,
        p0,
        p1,
        p2,
        shift,
        reserved,
        p3,
        zp,
        lo,
        hi,
        *offs,
    ) = f
    name = f"op[{i}]"
    kind = _enum(OpKind, kind_v, base, f"{name}.kind")
    _require(reserved == 0, base + 25, f"{name}.reserved", "reserved field must be 0")
    _require(
        n_in == width,
        base + 4,
        f"{name}.n_in",
        f"n_in {n_in}, but the previous stage produces {width}",
    )

    ctx = _OpCtx(r, name, base, list(offs), pay_lo, pay_hi)
    arr = ctx.arr
    unused = ctx.unused

    def zero(cond: bool, off: int, fname: str) -> None:
        _require(cond, base + off, f"{name}.{fname}", f"must be 0 for {kind!s}")

    if kind is OpKind.CONV1D:
        dtype = _enum(DType, dtype_v, base + 1, f"{name}.dtype")
        assert isinstance(dtype, DType)
        if i == 0:
            _require(dtype is in_dtype, base + 1, f"{name}.dtype", "differs from input_dtype")
        else:
            _reads_within(reads, dtype, base, name, "CONV1D")
        op_c = conv.decode_conv1d(_require, arr, name, base, tuple(f[:15]), dtype)
        unused(3)
        return op_c
    if kind is OpKind.POOL:
        _require(i > 0, base, f"{name}.kind", "POOL cannot be the first op")
        op_p = conv.decode_pool(_require, name, base, tuple(f[:15]), reads)
        unused(0)
        return op_p
    if kind is OpKind.DENSE:
        dtype = _enum(DType, dtype_v, base + 1, f"{name}.dtype")
        layout = _enum(Layout, layout_v, base + 2, f"{name}.layout")
        assert isinstance(dtype, DType) and isinstance(layout, Layout)
        if i == 0:
            _require(
                dtype is in_dtype,
                base + 1,
                f"{name}.dtype",
                f"dense dtype {dtype.name} differs from input_dtype {in_dtype.name}",
            )
        else:
            _reads_within(reads, dtype, base, name, "dense")
        _require(layout is not Layout.NONE, base + 2, f"{name}.layout", "dense needs a layout")
        _require(n_out > 0, base + 8, f"{name}.n_out", "n_out must be positive")
        _require(1 <= shift <= 62, base + 24, f"{name}.shift", f"shift {shift} outside 1..62")
        _require(lo <= hi, base + 32, f"{name}.lo", f"clamp lo {lo} > hi {hi}")
        zero(mode_v == 0, 3, "mode")
        zero(p2 == 0 and p3 == 0, 20, "p2")
        span = 0
        if layout is Layout.PACKED3:
            _require(
                1 <= p1 <= n_in, base + 16, f"{name}.p1", f"PACKED3 span {p1} outside 1..{n_in}"
            )
            span = p1
        else:
            zero(p1 == 0, 16, "p1")
        if layout is Layout.SPARSE:
            weight = _decode_sparse(ctx, n_in, n_out, p0, dtype)
            slots = 3
        else:
            zero(p0 == 0, 12, "p0")
            if layout is Layout.COMPACT:
                wdt = "u1" if dtype is DType.I8 else "<i2"
                weight = arr(0, n_in * n_out, wdt).reshape(n_out, n_in)
                if dtype is DType.I8:
                    weight = weight - 128
            elif layout is Layout.PACKED3:
                _require(dtype is DType.I8, base + 1, f"{name}.dtype", "PACKED3 is INT8 only")
                weight = _decode_packed3(ctx, n_in, n_out, span)
            else:
                _require(dtype is DType.I8, base + 1, f"{name}.dtype", "PACKED is INT8 only")
                words = arr(0, ((n_out + 1) // 2) * n_in, "<i8").reshape(-1, n_in)
                lo_l = ((words & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000
                hi_l = (words - lo_l) >> 32
                ok = (np.abs(lo_l) <= 128) & (hi_l >= -128) & (hi_l <= 127) & (lo_l <= 127)
                _require(
                    bool(ok.all()),
                    offs[0],
                    f"{name}.weights",
                    "packed word does not hold two int8 lanes",
                )
                weight = np.stack([lo_l, hi_l], axis=1).reshape(-1, n_in)
                if n_out % 2:
                    _require(
                        not weight[-1].any(),
                        offs[0],
                        f"{name}.weights",
                        "padding row of an odd PACKED layer must be zero",
                    )
                weight = weight[:n_out]
            slots = 1
        bias = arr(slots, n_out, "<i4")
        mult = arr(slots + 1, n_out, "<u4")
        bad = np.nonzero((mult == 0) | (mult >= 1 << 31))[0]
        _require(
            not bad.size,
            offs[slots + 1],
            f"{name}.multiplier",
            f"multiplier of channel {int(bad[0]) if bad.size else 0} not in 1..2^31-1",
        )
        unused(slots + 2)
        return QDense(
            dtype=dtype,
            layout=layout,
            weight=weight,
            bias=bias,
            multiplier=mult,
            shift=shift,
            zp_out=zp,
            lo=lo,
            hi=hi,
            span=span,
        )
    if kind in (OpKind.GRU, OpKind.LSTM):
        assert isinstance(kind, OpKind)
        return _decode_recurrent(ctx, kind, dtype_v, layout_v, mode_v, f, reads)
    zero(layout_v == 0, 2, "layout")
    zero(zp == 0 and lo == 0 and hi == 0, 28, "zp")
    if kind is OpKind.LUT:
        dtype = _enum(DType, dtype_v, base + 1, f"{name}.dtype")
        lut = _enum(LutKind, mode_v, base + 3, f"{name}.mode")
        assert isinstance(dtype, DType) and isinstance(lut, LutKind)
        _reads_within(reads, dtype, base, name, "LUT")
        _require(n_out == n_in, base + 8, f"{name}.n_out", "LUT keeps the width")
        zero(p0 == p1 == p2 == p3 == shift == 0, 12, "p0")
        table = arr(0, 256 if dtype is DType.I8 else 513, "i1" if dtype is DType.I8 else "<i2")
        unused(1)
        return QLut(dtype=dtype, kind=lut, table=table, n=n_in)
    zero(dtype_v == 0, 1, "dtype")
    if kind is OpKind.SOFTMAX:
        _require(mode_v in (0, 1), base + 3, f"{name}.mode", f"bad binary flag {mode_v}")
        binary = mode_v == 1
        _require(not binary or n_in == 1, base + 4, f"{name}.n_in", "binary softmax reads 1")
        _require(n_out == (2 if binary else n_in), base + 8, f"{name}.n_out", "wrong width")
        _require(p0 >= 1, base + 12, f"{name}.p0", "K must be >= 1")
        _require(shift <= 63, base + 24, f"{name}.shift", "k_shift must be <= 63")
        zero(p1 == p2 == p3 == 0, 16, "p1")
        unused(0)
        return QSoftmax(n_in=n_in, k=p0, k_shift=shift, binary=binary)
    if kind is OpKind.ARGMAX:
        mode = _enum(ConfMode, mode_v, base + 3, f"{name}.mode")
        assert isinstance(mode, ConfMode)
        _require(n_out == 2, base + 8, f"{name}.n_out", "ARGMAX outputs [class, confidence]")
        _require(n_in >= 1, base + 4, f"{name}.n_in", "ARGMAX needs an input")
        _require(
            mode is not ConfMode.DIV or p0 >= 1, base + 12, f"{name}.p0", "DIV needs divisor >= 1"
        )
        zero(p1 == p2 == p3 == shift == 0, 16, "p1")
        unused(0)
        return QArgmax(n_in=n_in, mode=mode, divisor=p0)
    return _decode_trees(ctx, mode_v, n_features, n_out, p0, p1, p2, p3, shift)


def _decode_recurrent(
    ctx: _OpCtx,
    kind: OpKind,
    dtype_v: int,
    layout_v: int,
    mode_v: int,
    f: tuple[int, ...],
    reads: tuple[int, int] | None,
) -> QRecurrent:
    """A GRU / LSTM record (docs/model-format.md "GRU and LSTM")."""
    name, base = ctx.name, ctx.base
    n_in, n_out, steps, feats, hidden, shift, reserved, gate_bits, zp, lo, hi = f[4:15]
    del reserved
    dtype = _enum(DType, dtype_v, base + 1, f"{name}.dtype")
    assert isinstance(dtype, DType)
    _require(dtype is not DType.NONE, base + 1, f"{name}.dtype", "weights must be I8 or I16")
    _require(
        reads is not None and reads[0] >= -32768 and reads[1] <= 32767,
        base + 1,
        f"{name}.dtype",
        f"a recurrent op reads values inside INT16, the previous op writes {reads}",
    )
    want = Layout.PACKED if dtype is DType.I8 else Layout.COMPACT
    h8 = dtype is DType.I8 and layout_v == Layout.PACKED3
    _require(
        layout_v == want or h8,
        base + 2,
        f"{name}.layout",
        f"{dtype.name} recurrent weights use layout {want.value} ({want.name})"
        + (" or 4 (PACKED3, speed mode)" if dtype is DType.I8 else ""),
    )
    _require(
        not h8 or hidden <= H8_MAX_HIDDEN,
        base + 20,
        f"{name}.p2",
        f"the PACKED3 speed mode takes at most {H8_MAX_HIDDEN} hidden units",
    )
    _require(mode_v in (0, 1), base + 3, f"{name}.mode", f"mode {mode_v}: 0 LAST or 1 SEQUENCE")
    _require(
        steps >= 1 and feats >= 1 and hidden >= 1,
        base + 12,
        f"{name}.p0",
        "steps, features and hidden units must be >= 1",
    )
    _require(n_in == steps * feats, base + 4, f"{name}.n_in", f"n_in {n_in} != steps * features")
    _require(
        n_out == (steps * hidden if mode_v else hidden),
        base + 8,
        f"{name}.n_out",
        f"n_out {n_out} does not match mode {mode_v} (hidden {hidden}, steps {steps})",
    )
    if dtype is DType.I8:
        _require(
            feats <= PAIR_MAX_COLS and hidden <= PAIR_MAX_COLS,
            base + 16,
            f"{name}.p1",
            f"INT8 recurrent weights take at most {PAIR_MAX_COLS} features and hidden units "
            "(the paired lanes must stay exact)",
        )
    _require(1 <= shift <= 62, base + 24, f"{name}.shift", f"shift {shift} outside 1..62")
    _require(1 <= gate_bits <= 14, base + 26, f"{name}.p3", f"gate bits {gate_bits} not in 1..14")
    _require(zp == 0 and lo == 0 and hi == 0, base + 28, f"{name}.zp", f"must be 0 for {kind!s}")
    gates = 3 if kind is OpKind.GRU else 4
    rows = gates * hidden
    prow = padded_rows(rows)
    if dtype is DType.I8:
        mats = []
        for slot, cols, what in ((0, feats, "wx"), (1, hidden, "wh")):
            if slot == 1 and h8:
                mats.append(_decode_h8_weights(ctx, rows, hidden))
                continue
            words = ctx.arr(slot, prow // 2 * cols, "<i8")
            w, ok = group_decode(words, rows, cols)
            _require(
                ok and bool((group_encode(w) == words).all()),
                ctx.offs[slot],
                f"{name}.{what}",
                "paired word does not hold two int8 lanes (or a padding row is not zero)",
            )
            mats.append(w)
        wx, wh = mats
    else:
        wx = ctx.arr(0, rows * feats, "<i2").reshape(rows, feats)
        wh = ctx.arr(1, rows * hidden, "<i2").reshape(rows, hidden)
    offsets = ctx.arr(2, 2 * prow, "<i8").reshape(2, prow)
    mult = ctx.arr(3, 2 * prow, "<u4").reshape(2, prow)
    _require(
        not offsets[:, rows:].any() and not mult[:, rows:].any(),
        ctx.offs[2],
        f"{name}.offsets",
        "offset and multiplier entries of padding rows must be 0",
    )
    bad = np.nonzero((mult[:, :rows] == 0) | (mult[:, :rows] >= 1 << 31))
    _require(
        not bad[0].size,
        ctx.offs[3] + 4 * int(bad[0][0] * prow + bad[1][0]) if bad[0].size else 0,
        f"{name}.multiplier",
        "multipliers must lie in 1..2^31-1",
    )
    # File rows are unit-major; the IR keeps PyTorch's gate-major order.
    inv = np.argsort(unit_major(gates, hidden))
    wx, wh = wx[inv], wh[inv]
    cx, ch = offsets[0, :rows][inv], offsets[1, :rows][inv]
    mx, mh = mult[0, :rows][inv], mult[1, :rows][inv]
    sig = ctx.arr(4, TABLE_LEN, "<i2")
    tanh = ctx.arr(5, TABLE_LEN, "<i2")
    return QRecurrent(
        kind=kind,
        dtype=dtype,
        steps=steps,
        features=feats,
        hidden=hidden,
        sequence=bool(mode_v),
        wx=wx,
        wh=wh,
        cx=cx,
        ch=ch,
        mx=mx,
        mh=mh,
        shift=shift,
        gate_bits=gate_bits,
        sigmoid=sig,
        tanh=tanh,
        h8=h8,
    )


def _decode_h8_weights(ctx: _OpCtx, rows: int, hidden: int) -> I64:
    """The speed mode's Wh (file rows): PACKED3 words of int8 lanes, zero padding rows, and
    the lane bound over one chunk of all H columns (inputs are Q7, |h8| <= 128)."""
    words = ctx.arr(1, packed3_groups(rows) * hidden * 4, "<i8")
    w, again = packed3_decode(words, rows, hidden)
    _require(
        bool(((w >= -128) & (w <= 127)).all()) and bool((again == words).all()),
        ctx.offs[1],
        f"{ctx.name}.wh",
        "packed word does not hold three int8 lanes of 21 bits",
    )
    _require(not w[rows:].any(), ctx.offs[1], f"{ctx.name}.wh", "padding rows of PACKED3 must be 0")
    bound = packed3_chunk_bound(w[:rows], hidden)
    _require(
        bound <= P3_LANE_LIMIT,
        ctx.base + 20,
        f"{ctx.name}.p2",
        f"128 * sum|w| = {bound} over a row could carry into the next PACKED3 lane",
    )
    out: I64 = w[:rows]
    return out


def _decode_sparse(ctx: _OpCtx, n_in: int, n_out: int, nnz: int, dtype: DType) -> I64:
    arr, name, base = ctx.arr, ctx.name, ctx.base
    row_ptr = arr(0, n_out + 1, "<u4")
    _require(
        row_ptr[0] == 0 and row_ptr[-1] == nnz and bool(np.all(np.diff(row_ptr) >= 0)),
        base + 12,
        f"{name}.row_ptr",
        "row offsets must rise from 0 to nnz (p0)",
    )
    idx = arr(1, nnz, "<u2")
    val = arr(2, nnz, "i1" if dtype is DType.I8 else "<i2")
    weight = np.zeros((n_out, n_in), dtype=np.int64)
    for row in range(n_out):
        cols = idx[row_ptr[row] : row_ptr[row + 1]]
        _require(
            bool(np.all(cols < n_in)) and bool(np.all(np.diff(cols) > 0)),
            ctx.offs[1] + 2 * int(row_ptr[row]),
            f"{name}.indices",
            f"row {row}: indices must ascend strictly below n_in",
        )
        weight[row, cols] = val[row_ptr[row] : row_ptr[row + 1]]
    zeros = np.nonzero(val == 0)[0]
    _require(
        not zeros.size,
        ctx.offs[2] + dtype.nbytes * int(zeros[0]) if zeros.size else 0,
        f"{name}.values",
        "stored values must be nonzero",
    )
    return weight


def _decode_trees(
    ctx: _OpCtx,
    mode_v: int,
    n_features: int,
    n_out: int,
    n_trees: int,
    n_nodes: int,
    n_leaves: int,
    max_depth: int,
    shift: int,
) -> QTrees:
    arr, unused, name, base, offs = ctx.arr, ctx.unused, ctx.name, ctx.base, ctx.offs
    mode = _enum(TreeMode, mode_v, base + 3, f"{name}.mode")
    assert isinstance(mode, TreeMode)
    _require(shift == 0, base + 24, f"{name}.shift", "must be 0 for TREES")
    _require(
        n_trees >= 1 and n_nodes >= n_trees and n_leaves >= n_trees,
        base + 12,
        f"{name}.p0",
        "need >= 1 tree, a node and a leaf per tree",
    )
    _require(n_out >= 1, base + 8, f"{name}.n_out", "TREES needs outputs")
    roots = arr(0, n_trees, "<u4")
    raw = arr(1, n_nodes * NODE_SIZE, "u1").astype(np.uint8).tobytes()
    nodes = np.frombuffer(raw, dtype=NODE_DTYPE)
    width = n_out if mode is TreeMode.PROBA else 1
    leaves = arr(2, n_leaves * width, "<u4" if mode is TreeMode.PROBA else "<i4")
    if mode is TreeMode.VALUE:
        _require(
            n_trees % n_out == 0, base + 12, f"{name}.p0", "VALUE trees must be a multiple of n_out"
        )
        base_v = arr(3, n_out, "<i4")
        unused(4)
    else:
        _require(
            bool(np.all(leaves <= 65536)),
            offs[2],
            f"{name}.leaves",
            "PROBA leaf entries must be <= 65536",
        )
        base_v = np.zeros(n_out, dtype=np.int64)
        unused(3)
    feature = nodes["feature"].astype(np.int64)
    thr = nodes["threshold"].astype(np.int64)
    left = nodes["left"].astype(np.int64)
    right = nodes["right"].astype(np.int64)
    ends = np.append(roots[1:], n_nodes)
    _require(
        roots[0] == 0 and bool(np.all(ends > roots)),
        offs[0],
        f"{name}.roots",
        "tree roots must start at 0 and strictly ascend below n_nodes",
    )
    depth = np.zeros(n_nodes, dtype=np.int64)
    for t in range(n_trees):
        for k in range(int(roots[t]), int(ends[t])):
            off = offs[1] + k * NODE_SIZE
            _require(nodes["reserved"][k] == 0, off + 6, f"{name}.nodes[{k}].reserved", "must be 0")
            if feature[k] == LEAF:
                _require(
                    left[k] < n_leaves and right[k] == 0 and thr[k] == 0,
                    off + 8,
                    f"{name}.nodes[{k}].left",
                    "leaf needs left < n_leaves, right 0, threshold 0",
                )
                continue
            _require(
                feature[k] < n_features,
                off + 4,
                f"{name}.nodes[{k}].feature",
                f"feature {int(feature[k])} >= n_features {n_features}",
            )
            for child, coff, cname in ((left[k], 8, "left"), (right[k], 12, "right")):
                _require(
                    k < child < ends[t],
                    off + coff,
                    f"{name}.nodes[{k}].{cname}",
                    f"child {int(child)} must lie in ({k}, {int(ends[t])})",
                )
                depth[child] = depth[k] + 1
                _require(
                    depth[child] <= max_depth,
                    off + coff,
                    f"{name}.nodes[{k}].{cname}",
                    f"tree deeper than max_depth {max_depth}",
                )
    return QTrees(
        mode=mode,
        n_features=n_features,
        n_out=n_out,
        max_depth=max_depth,
        roots=roots,
        feature=feature,
        threshold=thr,
        left=left,
        right=right,
        leaves=leaves.reshape(n_leaves, width),
        base=base_v,
    )


__all__ = [
    "HEADER_SIZE",
    "OP_SIZE",
    "Encoded",
    "chunk_hashes",
    "decode",
    "encode",
    "encode_with_spans",
    "load",
    "model_sha256",
    "payload_bytes",
    "save",
]
