"""The `infer` instruction end to end on LiteSVM through the async SDK: golden vectors (every
model kind), return data and event, CU profile, and each rejection with its exact error code."""

from __future__ import annotations

import asyncio
import struct

import pytest
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from client.chain.litesvm import LiteSvmChain
from client.inference import (
    InferenceClient,
    InferenceError,
    ReturnData,
    infer,
    infer_instruction,
)
from client.model.errors import InputRangeError
from client.model.format import OP_SIZE
from client.model.qmodel import Layout, OpKind
from client.program import anchor_error, build_ix, error_name
from client.registry import ModelRegistry

from .conftest import Fleet, golden_bytes, golden_doc, golden_names


def test_every_golden_case_returns_the_golden_numbers(fleet: Fleet) -> None:
    async def run() -> int:
        checked = 0
        for name in golden_names():
            handle = fleet.handles[name]
            doc = golden_doc(name)
            for i, case in enumerate(doc["cases"]):
                r = await fleet.client.infer(
                    handle, features_fx=case["features_fx"], cross_check=True, log_cu=i == 0
                )
                label = f"{name}/{case['name']}"
                assert list(r.outputs) == case["outputs"], label
                assert r.class_id == case["class"], label
                assert r.confidence_q16 == case["confidence_q16"], label
                assert r.version == 1 and r.model == handle.address, label
                if i == 0:
                    # One cost per op, plus the feature load, all positive and inside the whole.
                    prof = r.cu_profile
                    assert prof is not None and len(prof.ops) == len(doc["ops"]), label
                    assert prof.inputs > 0 and all(c > 0 for c in prof.ops), label
                    assert prof.inputs + sum(prof.ops) <= prof.forward < r.compute_units
                else:
                    assert r.cu_profile is None
                checked += 1
        return checked

    assert asyncio.run(run()) >= 19 * 10


async def test_result_is_typed_labelled_and_sized_from_simulation(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    deployed = await ModelRegistry(svm, payer).deploy(golden_bytes("mlp_int8_packed"))
    case = golden_doc("mlp_int8_packed")["cases"][0]
    client = InferenceClient(svm, payer)
    r = await client.infer(deployed.model, features_fx=case["features_fx"], priority_fee=1000)
    handle = await client.model(deployed.model)
    assert r.label == str(handle.qmodel.labels[r.class_id])
    assert r.confidence == pytest.approx(case["confidence_q16"] / 65536)
    assert sum(r.values) == pytest.approx(1.0, abs=1e-3)  # Q16 softmax probabilities
    assert r.signature is not None and r.compute_units > 0

    # The raw float path: floats are rounded to Q16.16 like the golden features were.
    floats = [v / 65536 for v in case["features_fx"]]
    r2 = await infer(svm, payer, deployed.model, floats, cross_check=True)
    assert r2.outputs == r.outputs

    # Return data decodes through the IDL type, and is exactly the borsh layout.
    ix = infer_instruction(deployed.model, deployed.weights, case["features_fx"])
    res = await svm.send([ix], payer)
    assert res.return_data is not None
    rd = ReturnData.decode(res.return_data)
    n = len(rd.outputs)
    assert res.return_data == struct.pack(
        f"<IIi{n}q", rd.class_id, rd.confidence_q16, n, *rd.outputs
    )


async def test_regression_outputs_scale_by_out_frac_bits(svm: LiteSvmChain, payer: Keypair) -> None:
    doc = golden_doc("linear_regression_int16")
    deployed = await ModelRegistry(svm, payer).deploy(golden_bytes("linear_regression_int16"))
    r = await InferenceClient(svm, payer).infer(
        deployed.model, features_fx=doc["cases"][0]["features_fx"], cross_check=True
    )
    assert (r.class_id, r.confidence_q16, r.label) == (0, 0, None)
    assert r.values[0] == r.outputs[0] * 2.0 ** -doc["out_frac_bits"]


# ---------------------------------------------------------------- rejections


async def expect(svm: LiteSvmChain, payer: Keypair, ix: Instruction, name: str) -> list[str]:
    res = await svm.send([ix], payer, check=False)
    assert not res.ok and res.custom_error is not None, res.logs
    assert error_name(res.custom_error) == name, (res.custom_error, res.logs)
    logged = anchor_error(res.logs)  # the line Anchor clients raise their typed error from
    assert logged is not None and (logged.name, logged.number) == (name, res.custom_error)
    return res.logs


async def test_feature_out_of_range_names_the_feature(svm: LiteSvmChain, payer: Keypair) -> None:
    client = InferenceClient(svm, payer)
    deployed = await ModelRegistry(svm, payer).deploy(golden_bytes("decision_tree"))
    rejects = golden_doc("decision_tree")["reject_cases"]
    assert rejects
    for case in rejects:
        with pytest.raises(InferenceError) as ei:
            await client.infer(deployed.model, features_fx=case["features_fx"], check_inputs=False)
        assert ei.value.name == "FeatureOutOfRange" and ei.value.code == 6029
        assert ei.value.result is not None
        assert any(f"feature {case['feature']} is outside" in line for line in ei.value.result.logs)
        # The SDK refuses the same input before sending it.
        with pytest.raises(InputRangeError) as ri:
            await client.infer(deployed.model, features_fx=case["features_fx"])
        assert ri.value.feature == case["feature"]


async def test_wrong_feature_count_and_bad_flags(svm: LiteSvmChain, payer: Keypair) -> None:
    deployed = await ModelRegistry(svm, payer).deploy(golden_bytes("mlp_int8_compact"))
    x = golden_doc("mlp_int8_compact")["cases"][0]["features_fx"]
    await expect(
        svm,
        payer,
        infer_instruction(deployed.model, deployed.weights, x[:-1]),
        "FeatureCountMismatch",
    )
    await expect(
        svm,
        payer,
        infer_instruction(deployed.model, deployed.weights, [*x, 0]),
        "FeatureCountMismatch",
    )
    bad_flags = build_ix(
        "infer", {"features": x, "flags": 4}, {"model": deployed.model, "weights": deployed.weights}
    )
    await expect(svm, payer, bad_flags, "InvalidArgument")
    # Bit 1 (FLAG_FEATURES_ACCOUNT) with features in the argument: two sources.
    both = build_ix(
        "infer", {"features": x, "flags": 2}, {"model": deployed.model, "weights": deployed.weights}
    )
    await expect(svm, payer, both, "FeaturesSource")


async def test_model_not_ready_and_wrong_accounts(svm: LiteSvmChain, payer: Keypair) -> None:
    registry = ModelRegistry(svm, payer)
    x = golden_doc("mlp_int8_compact")["cases"][0]["features_fx"]
    a = await registry.deploy(golden_bytes("mlp_int8_compact"))
    b = await registry.deploy(golden_bytes("mlp_int8_packed"))
    staged = await registry.deploy(golden_bytes("mlp_int16"), activate=False)

    # Uploaded and finalized but never activated: not ready.
    await expect(svm, payer, infer_instruction(staged.model, staged.weights, x), "NoActiveVersion")
    # Another model's weights, or the weights account in the model slot.
    await expect(svm, payer, infer_instruction(a.model, b.weights, x), "NotActiveVersion")
    await expect(
        svm, payer, infer_instruction(a.weights, a.weights, x), "AccountDiscriminatorMismatch"
    )
    # Not a program account at all.
    await expect(
        svm, payer, infer_instruction(payer.pubkey(), a.weights, x), "AccountOwnedByWrongProgram"
    )
    # Too few accounts.
    ix = infer_instruction(a.model, a.weights, x)
    short = Instruction(ix.program_id, ix.data, ix.accounts[:1])
    await expect(svm, payer, short, "AccountNotEnoughKeys")


async def test_retired_version_is_rejected_after_activation(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    registry = ModelRegistry(svm, payer)
    x = golden_doc("mlp_int8_compact")["cases"][0]["features_fx"]
    v1 = await registry.deploy(golden_bytes("mlp_int8_compact"), model_id=7)
    v2 = await registry.deploy(golden_bytes("mlp_int8_packed"), model_id=7)
    assert v2.model == v1.model and v2.version == 2
    await expect(svm, payer, infer_instruction(v1.model, v1.weights, x), "NotActiveVersion")
    r = await InferenceClient(svm, payer).infer(v2.model, features_fx=x, cross_check=True)
    assert r.version == 2 and r.weights == v2.weights


def corrupt_op_field(data: bytes, op: int, offset: int, value: int) -> bytes:
    ops_off = struct.unpack_from("<I", data, 40)[0]
    out = bytearray(data)
    out[ops_off + op * OP_SIZE + offset] = value
    return bytes(out)


@pytest.mark.parametrize(
    ("what", "mutate", "reason"),
    [
        ("not a model file", lambda d: b"\x00" * len(d), "not a v1 model file"),
        (
            "unknown dense layout",
            lambda d: corrupt_op_field(d, 0, 2, 9),
            "unsupported dense layout or dtype",
        ),
        ("unknown op kind", lambda d: corrupt_op_field(d, 1, 0, 77), "unknown op kind"),
        (
            "dense shift 0",
            lambda d: corrupt_op_field(d, 0, 24, 0),
            "dense shift outside 1..62 or clamp lo > hi",
        ),
    ],
)
async def test_models_the_kernels_cannot_execute(
    svm: LiteSvmChain, payer: Keypair, what: str, mutate: object, reason: str
) -> None:
    data = golden_bytes("mlp_int8_compact")
    assert callable(mutate)
    bad: bytes = mutate(data)
    assert bad != data, what
    # The registry stores any bytes; a deploy of a non-model only lacks the summary.
    deployed = await ModelRegistry(svm, payer).deploy(bad, verify=False)
    x = golden_doc("mlp_int8_compact")["cases"][0]["features_fx"]
    logs = await expect(
        svm, payer, infer_instruction(deployed.model, deployed.weights, x), "UnsupportedModel"
    )
    assert any(reason in line for line in logs), (what, logs)


async def test_packed3_with_span_0_is_refused_not_looped(svm: LiteSvmChain, payer: Keypair) -> None:
    """A PACKED3 layer whose span (columns per lane chunk) is 0 would never advance; finalize's
    dry run fails on it, so the version stays unmarked and infer's checked pass refuses it."""
    data = golden_bytes("mlp_int8_packed3")
    ops_off = struct.unpack_from("<I", data, 40)[0]
    assert data[ops_off + 2] == Layout.PACKED3
    bad = bytearray(data)
    struct.pack_into("<I", bad, ops_off + 16, 0)
    deployed = await ModelRegistry(svm, payer).deploy(bytes(bad), verify=False)
    x = golden_doc("mlp_int8_packed3")["cases"][0]["features_fx"]
    logs = await expect(
        svm, payer, infer_instruction(deployed.model, deployed.weights, x), "UnsupportedModel"
    )
    assert any("PACKED3 span (columns per chunk) is 0" in line for line in logs), logs


async def test_deep_tree_walk_is_bounded(svm: LiteSvmChain, payer: Keypair) -> None:
    """A tree whose declared max_depth is smaller than its real depth is refused, not walked."""
    data = golden_bytes("decision_tree")
    ops_off = struct.unpack_from("<I", data, 40)[0]
    assert data[ops_off] == OpKind.TREES
    bad = bytearray(data)
    struct.pack_into("<H", bad, ops_off + 26, 1)  # max_depth 4 -> 1
    deployed = await ModelRegistry(svm, payer).deploy(bytes(bad), verify=False)
    # A sample that is not setosa: its leaf lies deeper than one step from the root.
    x = next(c for c in golden_doc("decision_tree")["cases"] if c["class"] != 0)["features_fx"]
    logs = await expect(
        svm, payer, infer_instruction(deployed.model, deployed.weights, x), "UnsupportedModel"
    )
    assert any("tree deeper than its max_depth" in line for line in logs)


async def test_infer_is_read_only_and_needs_no_signer(svm: LiteSvmChain, payer: Keypair) -> None:
    deployed = await ModelRegistry(svm, payer).deploy(golden_bytes("rf_classifier"))
    ix = infer_instruction(
        deployed.model, deployed.weights, golden_doc("rf_classifier")["cases"][0]["features_fx"]
    )
    assert all(not m.is_signer and not m.is_writable for m in ix.accounts)
    before = await svm.get_account(deployed.weights)
    await svm.send([ix], payer)
    after = await svm.get_account(deployed.weights)
    assert before is not None and after is not None and bytes(before.data) == bytes(after.data)
    assert isinstance(ix.accounts[0], AccountMeta) and isinstance(ix.accounts[0].pubkey, Pubkey)
