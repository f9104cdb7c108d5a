"""On-file encodings of dense weight matrices (COMPACT, PACKED, SPARSE).

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


def sparse_bytes(n_out: int, nnz: int, dtype: DType) -> int:
    return align8(4 * (n_out + 1)) + align8(2 * nnz) + align8(dtype.nbytes * nnz)
