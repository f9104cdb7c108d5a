"""Bit-exact parity: the program on LiteSVM against the numpy reference, 10,000 random inputs per
golden model (every op kind, layout and dtype) plus edge cases, many inferences per transaction.

Edge cases: every corner of the declared range, each feature alone at its bounds, the all-zero
vector (when in range), and for trees every threshold hit exactly and one unit above.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from numpy.typing import NDArray

from client.inference import ModelHandle
from client.model.qmodel import LEAF, QTrees
from client.model.reference import execute

from .conftest import Fleet, golden_names

N_RANDOM = 10_000
I64 = NDArray[np.int64]


def random_rows(handle: ModelHandle, n: int, seed: int) -> I64:
    rng = np.random.default_rng(seed)
    lo, hi = handle.lo_fx, handle.hi_fx
    rows: I64 = rng.integers(lo, hi + 1, size=(n, lo.size), dtype=np.int64)
    return rows


def edge_rows(handle: ModelHandle) -> I64:
    lo, hi = handle.lo_fx, handle.hi_fx
    n = lo.size
    mid = lo + (hi - lo) // 2
    rows = [lo, hi, np.where(np.arange(n) % 2 == 0, lo, hi), np.where(np.arange(n) % 2, lo, hi)]
    for j in range(n):
        for v in (lo[j], hi[j]):
            r = mid.copy()
            r[j] = v
            rows.append(r)
    zero = np.zeros(n, dtype=np.int64)
    if np.all((lo <= 0) & (hi >= 0)):
        rows.append(zero)
    op = handle.qmodel.ops[0]
    if isinstance(op, QTrees):
        for k in np.nonzero(op.feature != LEAF)[0]:
            f, t = int(op.feature[k]), int(op.threshold[k])
            for v in (t, t + 1):
                r = mid.copy()
                r[f] = np.clip(v, lo[f], hi[f])
                rows.append(r)
    return np.asarray(rows, dtype=np.int64)


def threshold_snapped(handle: ModelHandle, rows: I64, seed: int) -> I64:
    """For trees, put one feature of every other row exactly on a threshold that tests it."""
    op = handle.qmodel.ops[0]
    if not isinstance(op, QTrees):
        return rows
    rng = np.random.default_rng(seed)
    internal = np.nonzero(op.feature != LEAF)[0]
    out = rows.copy()
    picks = rng.choice(internal, size=out.shape[0] // 2)
    for i, k in enumerate(picks):
        f = int(op.feature[k])
        out[2 * i, f] = np.clip(op.threshold[k], handle.lo_fx[f], handle.hi_fx[f])
    return out


@pytest.mark.parametrize("name", golden_names())
def test_chain_matches_reference_bit_for_bit(fleet: Fleet, name: str) -> None:
    handle = fleet.handles[name]
    seed = sum(name.encode())
    x = np.vstack(
        [threshold_snapped(handle, random_rows(handle, N_RANDOM, seed), seed), edge_rows(handle)]
    )
    want = execute(handle.qmodel, x)
    got, txs = asyncio.run(fleet.client.infer_many(handle, x))
    assert len(got) == x.shape[0] >= N_RANDOM
    # Many inferences per transaction keep 10k+ rows per model to a few hundred transactions.
    assert len(txs) * 3 < len(got)
    bad = [
        i
        for i, r in enumerate(got)
        if r.outputs != tuple(int(v) for v in want.outputs[i])
        or r.class_id != int(want.classes[i])
        or r.confidence_q16 != int(want.confidence[i]) & 0xFFFF_FFFF
    ]
    assert not bad, (
        f"{len(bad)} of {len(got)} differ; first: features {x[bad[0]].tolist()}, "
        f"chain {got[bad[0]]}, reference {want.outputs[bad[0]].tolist()} "
        f"class {int(want.classes[bad[0]])} confidence {int(want.confidence[bad[0]])}"
    )
