"""finalize_version's validation hook: a file the kernels accept is marked HEADER_CHECKED
(`ModelWeights.padding[0]`), so `infer` skips the header check, plus OPS_CHECKED when a checked
forward pass also succeeds (files up to 4 KiB), so `infer` skips the op checks; anything else
stays unmarked, and an unmarked valid model still runs (the checks then happen in `infer`).
Marks carry the program's CHECKS_EPOCH (`padding[1]`); marks from another epoch are ignored."""

from __future__ import annotations

import copy
import struct

import numpy as np
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from client.bench.models import iris_mlp
from client.chain.litesvm import LiteSvmChain
from client.inference import InferenceClient, infer_instruction
from client.model import encode
from client.model.qmodel import DType, LutKind, QDense, QLut
from client.program import error_name
from client.registry import DeployedModel, ModelRegistry

from .helpers import (
    CHECKS_EPOCH,
    HEADER_CHECKED,
    MARKS_OFFSET,
    OPS_CHECKED,
    model_bytes,
    set_account_data,
)


async def _flag(svm: LiteSvmChain, weights: Pubkey) -> int:
    acc = await svm.get_account(weights)
    assert acc is not None
    return bytes(acc.data)[MARKS_OFFSET]


async def _refused(
    svm: LiteSvmChain, payer: Keypair, d: DeployedModel, row: list[int], reason: str
) -> None:
    """`infer` refuses the model with UnsupportedModel and logs `reason`. Sent raw: the SDK
    would refuse such a file before sending."""
    res = await svm.send([infer_instruction(d.model, d.weights, row)], payer, check=False)
    assert not res.ok and res.custom_error is not None, res.logs
    assert error_name(res.custom_error) == "UnsupportedModel", res.logs
    assert any(reason in line for line in res.logs), res.logs


async def test_finalize_marks_a_valid_model_and_infer_runs_with_or_without_the_mark(
    svm: LiteSvmChain, payer: Keypair, registry: ModelRegistry
) -> None:
    model = iris_mlp()
    d = await registry.deploy(model.data)
    assert await _flag(svm, d.weights) == HEADER_CHECKED | OPS_CHECKED

    client = InferenceClient(svm, payer)
    row = [int(v) for v in model.samples[0]]
    marked = await client.infer(d.model, features_fx=row, cross_check=True)

    # A version sealed without a mark (e.g. before it existed) takes the checked path.
    acc = await svm.get_account(d.weights)
    assert acc is not None
    raw = bytearray(bytes(acc.data))
    last = marked
    for flag in (HEADER_CHECKED, 0):
        raw[MARKS_OFFSET] = flag
        set_account_data(svm, d.weights, bytes(raw))
        unmarked = await client.infer(d.model, features_fx=row, cross_check=True)
        assert (unmarked.class_id, unmarked.outputs) == (marked.class_id, marked.outputs)
        assert unmarked.compute_units > last.compute_units
        last = unmarked


async def test_a_structurally_invalid_op_is_not_ops_checked_and_infer_refuses_it(
    svm: LiteSvmChain, payer: Keypair, registry: ModelRegistry
) -> None:
    model = iris_mlp()
    data = bytearray(model.data)
    # Op 0 is a DENSE layer; shift 0 is outside 1..62. The header and array placement stay
    # valid, so only the op check catches it.
    (ops_off,) = struct.unpack_from("<I", data, 40)
    assert data[ops_off] == 1
    data[ops_off + 24] = 0
    d = await registry.deploy(bytes(data))
    assert await _flag(svm, d.weights) == HEADER_CHECKED

    await _refused(svm, payer, d, [int(v) for v in model.samples[0]], "dense shift")


async def test_finalize_leaves_a_file_the_kernels_refuse_unmarked(
    svm: LiteSvmChain, registry: ModelRegistry
) -> None:
    d = await registry.deploy(model_bytes(2_000, seed=7))
    assert await _flag(svm, d.weights) == 0


async def test_a_lut_fed_by_a_lut_outside_its_table_is_refused_not_marked(
    svm: LiteSvmChain, payer: Keypair, registry: ModelRegistry
) -> None:
    # DENSE (INT8 out) -> LUT INT16 whose entries are all 30,000 -> LUT INT8: the second table
    # would be indexed with 30,000 + 128. The numpy reference cannot run it (an index error);
    # the program must refuse it too, at finalize (no OPS_CHECKED) and in `infer`.
    model = iris_mlp()
    qm = copy.deepcopy(model.qmodel)
    dense = qm.ops[0]
    assert isinstance(dense, QDense)
    width = dense.n_out
    qm.ops[1:1] = [
        QLut(DType.I16, LutKind.TANH, np.full(513, 30_000, dtype=np.int64), width),
        QLut(DType.I8, LutKind.TANH, np.zeros(256, dtype=np.int64), width),
    ]
    d = await registry.deploy(encode(qm))
    assert await _flag(svm, d.weights) == HEADER_CHECKED

    await _refused(svm, payer, d, [int(v) for v in model.samples[0]], "LUT input")


async def test_marks_from_another_checks_epoch_are_not_trusted(
    svm: LiteSvmChain, payer: Keypair, registry: ModelRegistry
) -> None:
    model = iris_mlp()
    d = await registry.deploy(model.data)
    acc = await svm.get_account(d.weights)
    assert acc is not None
    raw = bytearray(bytes(acc.data))
    assert raw[MARKS_OFFSET + 1] == CHECKS_EPOCH

    client = InferenceClient(svm, payer)
    row = [int(v) for v in model.samples[0]]
    marked = await client.infer(d.model, features_fx=row, cross_check=True)
    # The same marks under another epoch (an older program's): the checked path runs.
    raw[MARKS_OFFSET + 1] = CHECKS_EPOCH + 1
    set_account_data(svm, d.weights, bytes(raw))
    other = await client.infer(d.model, features_fx=row, cross_check=True)
    assert (other.class_id, other.outputs) == (marked.class_id, marked.outputs)
    assert other.compute_units > marked.compute_units + 200
