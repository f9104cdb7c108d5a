"""On-file encodings of dense weight matrices (COMPACT, PACKED, PACKED3, SPARSE).

Shared by the format writer and the reference executor so that the executor runs each
layout's kernel on exactly the integers stored in the file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .qmodel import DType

I64 = NDArray[np.int64]


def align8(n: int) -> int:
    return (n + 7) & ~7


def compact_encode(weight: I64, dtype: DType) -> I64:
    """Row-major codes: offset-binary u8 (w + 128) for INT8, the i16 itself for INT16."""
    flat = weight.reshape(-1).astype(np.int64)
    return flat + 128 if dtype is DType.I8 else flat


def packed_encode(weight: I64) -> I64:
    """Pair-major i64 words ``w[2p][j] + w[2p+1][j] * 2^32`` (rows padded to even with zeros)."""
    n_out, n_in = weight.shape
    rows = weight.astype(np.int64)
    if n_out % 2:
        rows = np.vstack([rows, np.zeros((1, n_in), dtype=np.int64)])
    lo = rows[0::2]
    hi = rows[1::2]
    # hi * 2^32 fits: |hi| <= 128 for INT8.
    out: I64 = (lo + hi * (1 << 32)).reshape(-1)
    return out


# PACKED3: three 21-bit lanes per i64 word, four words per column for a group of 12 rows.
P3_ROWS = 12
P3_WORDS = 4
P3_LANE_BITS = 21
# A lane is exact while its chunk sum stays in [-2^20, 2^20): the compiler proves
# 128 * sum_{j in chunk} |w_ij| <= 2^20 - 1 for every row and chunk (INT8 inputs, |q| <= 128).
P3_LANE_LIMIT = (1 << 20) - 1
P3_INPUT_MAX = 128
_LANE_MASK = (1 << 21) - 1
_LANE_SIGN = 1 << 20


def packed3_groups(n_out: int) -> int:
    return -(-n_out // P3_ROWS)


def packed3_encode(weight: I64) -> I64:
    """Words ``w[r][j] + w[r+1][j] * 2^21 + w[r+2][j] * 2^42`` with ``r = 12g + 3k``, stored
    group by group, column by column, k = 0..3 (rows padded to a multiple of 12 with zeros)."""
    n_out, n_in = weight.shape
    groups = packed3_groups(n_out)
    rows = np.zeros((groups * P3_ROWS, n_in), dtype=np.int64)
    rows[:n_out] = weight
    r = rows.reshape(groups, P3_WORDS, 3, n_in)
    words = r[:, :, 0, :] + r[:, :, 1, :] * (1 << 21) + r[:, :, 2, :] * (1 << 42)  # (g, k, j)
    out: I64 = np.ascontiguousarray(words.transpose(0, 2, 1)).reshape(-1)
    return out


def lanes3(t: I64) -> tuple[I64, I64, I64]:
    """Split ``T = A + B * 2^21 + C * 2^42`` (int64, wrapped) into A, B (sign-extended 21-bit
    fields) and C (the top 22 bits), as the kernel does with shifts."""
    a = ((t & _LANE_MASK) ^ _LANE_SIGN) - _LANE_SIGN
    t1 = (t - a) >> 21
    b = ((t1 & _LANE_MASK) ^ _LANE_SIGN) - _LANE_SIGN
    c = (t1 - b) >> 21
    return a, b, c


def packed3_decode(words: I64, n_out: int, n_in: int) -> tuple[I64, I64]:
    """(all rows including padding, (groups*12, n_in); the re-encoded words) of a PACKED3 array;
    the words are canonical iff the re-encoding equals them."""
    groups = packed3_groups(n_out)
    w = words.reshape(groups, n_in, P3_WORDS).transpose(0, 2, 1)  # (g, k, j)
    a, b, c = lanes3(w)
    rows: I64 = np.stack([a, b, c], axis=2).reshape(groups * P3_ROWS, n_in)
    return rows, packed3_encode(rows)


def packed3_chunk_bound(weight: I64, span: int) -> int:
    """max over rows and chunks of ``128 * sum_{j in chunk} |w_ij|``: a lane's largest |sum|."""
    n_out, n_in = weight.shape
    if n_out == 0 or n_in == 0:
        return 0
    cum = np.zeros((n_out, n_in + 1), dtype=np.int64)
    cum[:, 1:] = np.cumsum(np.abs(weight.astype(np.int64)), axis=1)
    starts = np.arange(0, n_in, span)
    ends = np.minimum(starts + span, n_in)
    return int((cum[:, ends] - cum[:, starts]).max()) * P3_INPUT_MAX


def packed3_span(weight: I64) -> int:
    """The longest chunk (columns between lane splits) the bound allows: the whole row if it
    fits, else the longest multiple of 4 (the kernel's unroll) that does. 64 always fits INT8
    weights (64 * 127 * 128 < 2^20), 1 any |w| <= 128."""
    n_in = int(weight.shape[1])
    if packed3_chunk_bound(weight, n_in) <= P3_LANE_LIMIT:
        return max(n_in, 1)
    for span in range((n_in - 1) // 4 * 4, 0, -4):
        if packed3_chunk_bound(weight, span) <= P3_LANE_LIMIT:
            return span
    for span in range(min(n_in - 1, 3), 0, -1):
        if packed3_chunk_bound(weight, span) <= P3_LANE_LIMIT:
            return span
    raise ValueError("PACKED3 needs |w| <= 128")


@dataclass(frozen=True)
class SparseRows:
    row_ptr: I64  # (n_out + 1,) u32 offsets into idx/val
    idx: I64  # (nnz,) u16 column indices, ascending within a row
    val: I64  # (nnz,) signed weights

    @property
    def nnz(self) -> int:
        return int(self.idx.shape[0])


def sparse_encode(weight: I64) -> SparseRows:
    rows, cols = np.nonzero(weight)
    counts = np.bincount(rows, minlength=weight.shape[0])
    row_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return SparseRows(
        row_ptr=row_ptr,
        idx=cols.astype(np.int64),
        val=weight[rows, cols].astype(np.int64),
    )


def compact_bytes(n_out: int, n_in: int, dtype: DType) -> int:
    return align8(n_out * n_in * dtype.nbytes)


def packed_bytes(n_out: int, n_in: int) -> int:
    return 8 * ((n_out + 1) // 2) * n_in


def packed3_bytes(n_out: int, n_in: int) -> int:
    return 8 * P3_WORDS * packed3_groups(n_out) * n_in


def sparse_bytes(n_out: int, nnz: int, dtype: DType) -> int:
    return align8(4 * (n_out + 1)) + align8(2 * nnz) + align8(dtype.nbytes * nnz)
