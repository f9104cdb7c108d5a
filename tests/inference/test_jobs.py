"""Features accounts and inference jobs on LiteSVM: `infer` reading its input from an account,
jobs bit-exact with `infer` and the numpy reference whatever the split, and each attack of
docs/security.md "Features accounts and inference jobs" performed and shown to gain nothing."""

from __future__ import annotations

import random
import struct

import numpy as np
from solders.compute_budget import set_compute_unit_limit
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from client.bench.models import random_mlp
from client.chain.litesvm import LiteSvmChain
from client.inference import InferenceClient, ReturnData
from client.inference.client import infer_instruction, reference_result
from client.inference.features import (
    close_features_ix,
    create_features,
    features_address,
    read_features,
    write_features,
    write_features_ix,
)
from client.inference.jobs import (
    close_job_ix,
    create_job_ix,
    infer_step_ix,
    job_address,
    read_job,
    step_to_completion,
)
from client.model import compile_model, encode
from client.program import PROGRAM_ID, anchor_error, error_name
from client.registry import ModelRegistry

from .conftest import golden_bytes, golden_doc, golden_names


async def expect(
    chain: LiteSvmChain,
    payer: Keypair,
    ixs: list[Instruction],
    name: str,
    signers: tuple[Keypair, ...] = (),
) -> None:
    res = await chain.send(ixs, payer, signers, check=False)
    assert not res.ok and res.custom_error is not None, res.logs
    assert error_name(res.custom_error) == name, (res.custom_error, res.logs)
    logged = anchor_error(res.logs)
    assert logged is not None and logged.name == name


async def funded(chain: LiteSvmChain) -> Keypair:
    kp = Keypair()
    await chain.airdrop(kp.pubkey(), 100 * 10**9)
    return kp


def return_bytes(class_id: int, confidence: int, outputs: tuple[int, ...]) -> bytes:
    """`infer`'s return data: class u32, confidence u32, borsh Vec<i64>."""
    return struct.pack(f"<III{len(outputs)}q", class_id, confidence, len(outputs), *outputs)


def mlp_bytes(widths: list[int], seed: int) -> bytes:
    fm, x = random_mlp(widths, seed=seed)
    return encode(compile_model(fm, x, 8, prefer="speed", check_feasible=False))


# ---------------------------------------------------------------- features accounts


async def test_infer_from_a_features_account_equals_infer_from_the_argument(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    client = InferenceClient(svm, payer)
    registry = ModelRegistry(svm, payer)
    reader = await funded(svm)  # anyone may infer from anyone's features account
    for name in ("mlp_int8_packed3", "gb_multiclass", "mlp_int16_sparse"):
        deployed = await registry.deploy(golden_bytes(name))
        for case in golden_doc(name)["cases"][:3]:
            acc = await create_features(svm, payer, case["features_fx"])
            info = await read_features(svm, acc)
            assert list(info.values_fx) == case["features_fx"] and info.owner == payer.pubkey()
            by_arg = await client.infer(deployed.model, features_fx=case["features_fx"])
            by_acc = await InferenceClient(svm, reader).infer(
                deployed.model, features_account=acc, cross_check=True
            )
            assert (by_acc.class_id, by_acc.confidence_q16, by_acc.outputs) == (
                by_arg.class_id,
                by_arg.confidence_q16,
                by_arg.outputs,
            )
            assert list(by_acc.outputs) == case["outputs"]


async def test_features_account_errors_are_specific(svm: LiteSvmChain, payer: Keypair) -> None:
    registry = ModelRegistry(svm, payer)
    deployed = await registry.deploy(golden_bytes("mlp_int8_packed"))
    case = golden_doc("mlp_int8_packed")["cases"][0]
    x = case["features_fx"]
    acc = await create_features(svm, payer, x)
    m, w = deployed.model, deployed.weights
    # Both sources, or the flag without an account.
    both = infer_instruction(m, w, x, features_account=acc)
    both = Instruction(both.program_id, _with_features_arg(both.data, x), both.accounts)
    await expect(svm, payer, [both], "FeaturesSource")
    no_account = infer_instruction(m, w, (), features_account=acc)
    no_account = Instruction(no_account.program_id, no_account.data, no_account.accounts[:2])
    await expect(svm, payer, [no_account], "FeaturesSource")
    placeholder = infer_instruction(m, w, (), features_account=acc)
    placeholder = Instruction(
        placeholder.program_id,
        placeholder.data,
        [*placeholder.accounts[:2], AccountMeta(PROGRAM_ID, False, False)],
    )
    await expect(svm, payer, [placeholder], "FeaturesSource")
    # Not a features account (the model header), and a count other than the model's.
    await expect(
        svm,
        payer,
        [infer_instruction(m, w, (), features_account=m)],
        "AccountDiscriminatorMismatch",
    )
    short = await create_features(svm, payer, x[:-1])
    await expect(
        svm, payer, [infer_instruction(m, w, (), features_account=short)], "FeatureCountMismatch"
    )
    # Writes: bounds, owner; creation: count bounds.
    await expect(
        svm,
        payer,
        [write_features_ix(payer.pubkey(), acc, len(x) - 1, [1, 2])],
        "FeaturesOutOfBounds",
    )
    from client.inference.features import create_features_ix

    await expect(svm, payer, [create_features_ix(payer.pubkey(), 7, 0)], "FeaturesOutOfBounds")
    await expect(svm, payer, [create_features_ix(payer.pubkey(), 7, 2543)], "FeaturesOutOfBounds")
    # An out-of-range value written to the account is refused by infer like an argument is.
    handle = await InferenceClient(svm, payer).model(m)
    await svm.send([write_features_ix(payer.pubkey(), acc, 0, [int(handle.lo_fx[0]) - 1])], payer)
    await expect(
        svm, payer, [infer_instruction(m, w, (), features_account=acc)], "FeatureOutOfRange"
    )


def _with_features_arg(data: bytes, x: list[int]) -> bytes:
    """`infer` data with the features argument filled in (the flag still set)."""
    disc, flags = data[:8], data[-1:]
    return disc + struct.pack(f"<I{len(x)}i", len(x), *x) + flags


async def test_only_the_owner_writes_or_closes_a_features_account(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    mallory = await funded(svm)
    acc = await create_features(svm, payer, [1, 2, 3])
    await expect(
        svm, mallory, [write_features_ix(mallory.pubkey(), acc, 0, [9])], "NotFeaturesOwner"
    )
    await expect(svm, mallory, [close_features_ix(mallory.pubkey(), acc)], "NotFeaturesOwner")
    assert (await read_features(svm, acc)).values_fx == (1, 2, 3)
    # Written in pieces larger than one transaction carries.
    values = list(range(-300, 300))
    big = await create_features(svm, payer, values)
    info = await read_features(svm, big)
    assert list(info.values_fx) == values and info.writes == 3
    before = await svm.get_balance(payer.pubkey())
    rent = info.lamports
    await svm.send([close_features_ix(payer.pubkey(), big)], payer)
    assert await svm.get_account(big) is None
    # The rent comes back, less at most the transaction fee.
    assert before + rent - 10_000 <= await svm.get_balance(payer.pubkey()) <= before + rent
    assert features_address(payer.pubkey(), 1) != features_address(mallory.pubkey(), 1)


# ---------------------------------------------------------------- jobs: parity


async def test_a_job_returns_what_infer_returns_for_every_golden_model(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    client = InferenceClient(svm, payer)
    registry = ModelRegistry(svm, payer)
    rng = random.Random(15)
    for name in golden_names():
        deployed = await registry.deploy(golden_bytes(name))
        for case in golden_doc(name)["cases"][:2]:
            want = await client.infer(deployed.model, features_fx=case["features_fx"])
            max_units = rng.choice([0, 1, 2, 3, 5])
            got, run = await client.run_job(
                deployed.model,
                features_fx=case["features_fx"],
                max_units=max_units,
                cross_check=True,
            )
            label = f"{name} max_units={max_units}"
            assert (got.class_id, got.confidence_q16, got.outputs) == (
                want.class_id,
                want.confidence_q16,
                want.outputs,
            ), label
            assert got.outputs_sha256 == want.outputs_sha256 and got.version == want.version
            assert run.final.return_data == return_bytes(
                want.class_id, want.confidence_q16, want.outputs
            ), label
            # Closed after the run: the rent is back.
            assert await svm.get_account(run.job) is None


async def test_random_splits_of_a_multi_layer_model_are_bit_exact(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    client = InferenceClient(svm, payer)
    deployed = await ModelRegistry(svm, payer).deploy(mlp_bytes([48, 120, 96, 60, 5], seed=3))
    handle = await client.model(deployed.model)
    rng = np.random.default_rng(15)
    lo, hi = handle.lo_fx, handle.hi_fx
    for trial in range(4):
        x = [int(v) for v in rng.integers(lo, hi + 1)]
        want = reference_result(handle, x)
        one_tx = await client.infer(handle, features_fx=x)
        assert one_tx.same_numbers(want)
        max_units = int(rng.integers(1, 40))
        got, run = await client.run_job(
            handle, features_fx=x, max_units=max_units, keep_job=trial == 0
        )
        assert got.same_numbers(want), max_units
        assert len(run.step_cus) > 1, "the split must take several steps"
        if trial == 0:
            info = await read_job(svm, run.job)
            assert info.done and info.steps == len(run.step_cus)
            assert (info.class_id, info.outputs) == (want.class_id, want.outputs)
            assert list(info.input_fx) == x and info.version == handle.version


async def test_a_model_larger_than_one_transaction_finishes_as_a_job(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    client = InferenceClient(svm, payer)
    data = mlp_bytes([128, 560, 560, 560, 560, 560, 10], seed=5)
    deployed = await ModelRegistry(svm, payer).deploy(data, check_runnable=False)
    handle = await client.model(deployed.model)
    x = [int(v) for v in (handle.lo_fx + handle.hi_fx) // 2]
    one = await svm.simulate(
        [set_compute_unit_limit(1_400_000), infer_instruction(handle.address, handle.weights, x)],
        payer,
    )
    assert not one.ok and "exceeded" in " ".join(one.logs).lower()
    got, run = await client.run_job(handle, features_fx=x, cross_check=True)
    assert len(run.step_cus) >= 2 and all(c <= 1_400_000 for c in run.step_cus)
    assert got.same_numbers(reference_result(handle, x))


# ---------------------------------------------------------------- jobs: threats


async def _job(
    svm: LiteSvmChain, owner: Keypair, model: Pubkey, weights: Pubkey, x: list[int], jid: int
) -> Pubkey:
    await svm.send(
        [
            set_compute_unit_limit(1_400_000),
            create_job_ix(owner.pubkey(), jid, model, weights, features_fx=x),
        ],
        owner,
    )
    return job_address(owner.pubkey(), jid)


async def test_cranking_with_other_weights_or_a_replaced_version_never_finishes_the_job(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    registry = ModelRegistry(svm, payer)
    crank = await funded(svm)
    v1 = mlp_bytes([16, 40, 3], seed=1)
    v2 = mlp_bytes([16, 40, 3], seed=2)
    deployed = await registry.deploy(v1, model_id=77)
    other = await registry.deploy(golden_bytes("mlp_int8_packed3"))
    x = [0] * 16
    job = await _job(svm, payer, deployed.model, deployed.weights, x, 1)
    # Another model's accounts, a mixed pair, the model with another model's weights.
    for m, w in [
        (other.model, other.weights),
        (deployed.model, other.weights),
        (other.model, deployed.weights),
    ]:
        await expect(svm, crank, [infer_step_ix(job, m, w, 1)], "JobModelMismatch")
    # The author activates a new version and closes the one the job pinned.
    new = await registry.deploy(v2, model_id=77)
    assert new.model == deployed.model and new.version == 2
    await registry.close_version(deployed.weights)
    assert await svm.get_account(deployed.weights) is None
    await expect(
        svm, crank, [infer_step_ix(job, deployed.model, deployed.weights)], "JobModelMismatch"
    )
    await expect(svm, crank, [infer_step_ix(job, deployed.model, new.weights)], "JobModelMismatch")
    info = await read_job(svm, job)
    assert not info.done and info.units_done == 0


async def test_a_retired_but_open_version_still_finishes_its_job(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    registry = ModelRegistry(svm, payer)
    client = InferenceClient(svm, payer)
    deployed = await registry.deploy(mlp_bytes([16, 40, 3], seed=1), model_id=78)
    handle = await client.model(deployed.model)
    x = [int(v) for v in handle.lo_fx]
    job = await _job(svm, payer, deployed.model, deployed.weights, x, 2)
    await registry.deploy(mlp_bytes([16, 40, 3], seed=2), model_id=78)
    final, _ = await step_to_completion(svm, payer, job, deployed.model, deployed.weights)
    assert (
        ReturnData.decode(final.return_data or b"").class_id == reference_result(handle, x).class_id
    )


async def test_a_features_account_changed_after_create_job_changes_nothing(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    client = InferenceClient(svm, payer)
    deployed = await ModelRegistry(svm, payer).deploy(mlp_bytes([24, 64, 4], seed=4))
    handle = await client.model(deployed.model)
    x = [int(v) for v in handle.lo_fx]
    y = [int(v) for v in handle.hi_fx]
    assert reference_result(handle, x).outputs != reference_result(handle, y).outputs
    acc = await create_features(svm, payer, x)
    await svm.send(
        [
            set_compute_unit_limit(1_400_000),
            create_job_ix(payer.pubkey(), 3, handle.address, handle.weights, features_account=acc),
        ],
        payer,
    )
    job = job_address(payer.pubkey(), 3)
    await write_features(svm, payer, acc, y)
    final, _ = await step_to_completion(
        svm, payer, job, handle.address, handle.weights, max_units=2
    )
    got = ReturnData.decode(final.return_data or b"")
    assert got.outputs == reference_result(handle, x).outputs
    info = await read_job(svm, job)
    assert info.source == acc and list(info.input_fx) == x


async def test_finished_closed_foreign_and_underfunded_jobs_are_refused(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    mallory = await funded(svm)
    deployed = await ModelRegistry(svm, payer).deploy(mlp_bytes([16, 40, 3], seed=1))
    m, w = deployed.model, deployed.weights
    x = [0] * 16
    job = await _job(svm, payer, m, w, x, 4)
    # Too little compute: the transaction fails and the job is exactly as it was.
    before = (await svm.get_account(job)).data  # type: ignore[union-attr]
    res = await svm.send(
        [set_compute_unit_limit(3_000), infer_step_ix(job, m, w)], mallory, check=False
    )
    assert not res.ok
    assert (await svm.get_account(job)).data == before  # type: ignore[union-attr]
    # Only the owner closes it; stepping after the finish is an error.
    await expect(svm, mallory, [close_job_ix(mallory.pubkey(), job)], "NotJobOwner")
    await step_to_completion(svm, mallory, job, m, w)
    await expect(svm, mallory, [infer_step_ix(job, m, w)], "JobFinished")
    await svm.send([close_job_ix(payer.pubkey(), job)], payer)
    await expect(svm, mallory, [infer_step_ix(job, m, w)], "AccountNotInitialized")
    # A job at another owner's PDA: the seeds do not match the signer.
    ix = create_job_ix(mallory.pubkey(), 5, m, w, features_fx=x)
    metas = list(ix.accounts)
    metas[1] = type(metas[1])(job_address(payer.pubkey(), 5), False, True)
    await expect(svm, mallory, [Instruction(ix.program_id, ix.data, metas)], "ConstraintSeeds")
    # An input the model refuses fails at creation, before any step is paid for.
    lo = int((await InferenceClient(svm, payer).model(m)).lo_fx[0])
    bad = [lo - 1, *x[1:]]
    await expect(
        svm, payer, [create_job_ix(payer.pubkey(), 6, m, w, features_fx=bad)], "FeatureOutOfRange"
    )
    assert await svm.get_account(job_address(payer.pubkey(), 6)) is None
