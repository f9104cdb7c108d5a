"""finalize_version's validation hook: a file the kernels accept is marked HEADER_CHECKED
(`ModelWeights.padding[0]`), so `infer` skips the header check; anything else stays unmarked,
and an unmarked valid model still runs (the check then happens in `infer`)."""

from __future__ import annotations

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from client.bench.models import iris_mlp
from client.chain.litesvm import LiteSvmChain
from client.inference import InferenceClient
from client.registry import ModelRegistry

from .helpers import model_bytes, set_account_data

# offset_of!(ModelWeights, padding) (asserted in programs/ml_agent/src/state/model.rs).
FLAG_OFFSET = 220
HEADER_CHECKED = 1


async def _flag(svm: LiteSvmChain, weights: Pubkey) -> int:
    acc = await svm.get_account(weights)
    assert acc is not None
    return bytes(acc.data)[FLAG_OFFSET]


async def test_finalize_marks_a_valid_model_and_infer_runs_with_or_without_the_mark(
    svm: LiteSvmChain, payer: Keypair, registry: ModelRegistry
) -> None:
    model = iris_mlp()
    d = await registry.deploy(model.data)
    assert await _flag(svm, d.weights) == HEADER_CHECKED

    client = InferenceClient(svm, payer)
    row = [int(v) for v in model.samples[0]]
    marked = await client.infer(d.model, features_fx=row, cross_check=True)

    # A version sealed without the mark (e.g. before it existed) takes the checked path.
    acc = await svm.get_account(d.weights)
    assert acc is not None
    raw = bytearray(bytes(acc.data))
    raw[FLAG_OFFSET] = 0
    set_account_data(svm, d.weights, bytes(raw))
    unmarked = await client.infer(d.model, features_fx=row, cross_check=True)
    assert (unmarked.class_id, unmarked.outputs) == (marked.class_id, marked.outputs)
    assert unmarked.compute_units > marked.compute_units


async def test_finalize_leaves_a_file_the_kernels_refuse_unmarked(
    svm: LiteSvmChain, registry: ModelRegistry
) -> None:
    d = await registry.deploy(model_bytes(2_000, seed=7))
    assert await _flag(svm, d.weights) == 0
