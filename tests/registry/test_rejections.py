"""Every registry rejection, each asserting its specific error (IDL program errors 6002+ and the
Anchor framework codes for framework-type violations)."""

from __future__ import annotations

import pytest
from solders.account import Account
from solders.compute_budget import set_compute_unit_limit
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM_ID

from client.chain.litesvm import LiteSvmChain
from client.program import PROGRAM_ID, idl_json
from client.registry import instructions as ix
from client.registry.layout import MAX_CHUNK_SIZE, MIN_CHUNK_SIZE

from .helpers import Upload, expect_error, funded, model_bytes, unsigned

DATA = model_bytes(5 * 1012 + 100)  # 6 chunks, the last one short


@pytest.fixture
async def created(svm: LiteSvmChain, payer: Keypair) -> Upload:
    """A model whose version 1 is created, nothing declared or written."""
    u = Upload(svm, payer, DATA)
    await u.create()
    return u


@pytest.fixture
async def declared(created: Upload) -> Upload:
    await created.declare_all()
    return created


@pytest.fixture
async def active(svm: LiteSvmChain, payer: Keypair) -> Upload:
    """A model with version 1 uploaded and active."""
    u = Upload(svm, payer, DATA)
    await u.run()
    return u


def test_every_program_error_is_in_the_idl() -> None:
    names = {e["name"] for e in idl_json()["errors"]}
    assert {
        "WrongAuthority",
        "ChunkIndexOutOfRange",
        "BadChunkLength",
        "ChunkHashMismatch",
        "UploadFinalized",
        "ChunksMissing",
        "ModelAlreadyExists",
        "WeightsAlreadyInitialized",
    } <= names


# ---------------------------------------------------------------- signer, owner, type


async def test_write_needs_the_authority_signature(svm: LiteSvmChain, declared: Upload) -> None:
    # Someone else pays and signs; the authority's key is in the instruction but unsigned.
    other = funded(svm)
    await expect_error(
        svm, [unsigned(declared.write_ix(0), declared.me)], other, "ConstraintSigner"
    )


async def test_write_by_another_signer_is_rejected(svm: LiteSvmChain, declared: Upload) -> None:
    other = funded(svm)
    forged = ix.write_chunk(other.pubkey(), declared.weights, 0, declared.chunk(0))
    await expect_error(svm, [forged], other, "WrongAuthority")
    forged = ix.declare_chunk_hashes(other.pubkey(), declared.weights, 0, [b"\x01" * 32])
    await expect_error(svm, [forged], other, "WrongAuthority")


async def test_lifecycle_by_another_signer_is_rejected(svm: LiteSvmChain, active: Upload) -> None:
    other = funded(svm)
    me, model = other.pubkey(), active.model
    for bad in (
        ix.freeze_model(me, model),
        ix.propose_authority(me, model, me),
        ix.close_model(me, model, active.weights, None),
        ix.close_version(me, model, active.weights),
        ix.activate_version(me, model, active.weights, None),
    ):
        await expect_error(svm, [bad], other, "WrongAuthority")
    v2 = Upload(svm, other, DATA, model_id=active.model_id)
    claim = ix.create_version(me, model, v2.weights, v2.params())
    create = (await v2.create_ixs(new_model=False))[0]
    await expect_error(svm, [create, claim], other, "WrongAuthority", [v2.weights_kp])


async def test_weights_owned_by_another_program(
    svm: LiteSvmChain, payer: Keypair, declared: Upload
) -> None:
    fake = Pubkey.new_unique()
    acc = await svm.get_account(declared.weights)
    assert acc is not None
    svm.svm.set_account(fake, Account(acc.lamports, bytes(acc.data), SYSTEM_PROGRAM_ID, False, 0))
    write = ix.write_chunk(payer.pubkey(), fake, 0, declared.chunk(0))
    await expect_error(svm, [write], payer, "AccountOwnedByWrongProgram")


async def test_weights_created_for_another_owner_cannot_be_claimed(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    u = Upload(svm, payer, DATA)
    create, claim = await u.create_ixs()
    metas = list(create.accounts)
    data = bytearray(bytes(create.data))
    data[20:52] = bytes(SYSTEM_PROGRAM_ID)  # CreateAccount's owner field
    create = Instruction(create.program_id, bytes(data), metas)
    await expect_error(svm, [create, claim], payer, "AccountOwnedByWrongProgram", [u.weights_kp])


async def test_wrong_account_type_is_rejected(
    svm: LiteSvmChain, payer: Keypair, declared: Upload
) -> None:
    # The header where a weights account belongs, and a weights account for a header.
    write = ix.write_chunk(payer.pubkey(), declared.model, 0, declared.chunk(0))
    await expect_error(svm, [write], payer, "AccountDiscriminatorMismatch")
    freeze = ix.freeze_model(payer.pubkey(), declared.weights)
    await expect_error(svm, [freeze], payer, "AccountDiscriminatorMismatch")


async def test_weights_of_another_model_are_rejected(
    svm: LiteSvmChain, payer: Keypair, declared: Upload
) -> None:
    other = Upload(svm, payer, DATA, model_id=99)
    await other.run()
    finalize = ix.finalize_version(payer.pubkey(), other.model, declared.weights)
    await expect_error(svm, [finalize], payer, "WeightsModelMismatch")


# ---------------------------------------------------------------- create / reinitialise


async def test_create_model_twice_is_rejected(svm: LiteSvmChain, created: Upload) -> None:
    again = Upload(svm, created.authority, DATA, model_id=created.model_id)
    await expect_error(
        svm, await again.create_ixs(), created.authority, "ModelAlreadyExists", [again.weights_kp]
    )


async def test_claiming_claimed_weights_is_rejected(
    svm: LiteSvmChain, payer: Keypair, active: Upload
) -> None:
    claim = ix.create_version(payer.pubkey(), active.model, active.weights, active.params())
    await expect_error(svm, [claim], payer, "WeightsAlreadyInitialized", [active.weights_kp])


async def test_weights_must_sign_their_claim(svm: LiteSvmChain, payer: Keypair) -> None:
    u = Upload(svm, payer, DATA)
    create, claim = await u.create_ixs()
    await svm.send([create], payer, [u.weights_kp])
    await expect_error(svm, [unsigned(claim, u.weights)], payer, "ConstraintSigner")


async def test_header_not_at_its_pda_is_rejected(svm: LiteSvmChain, payer: Keypair) -> None:
    u = Upload(svm, payer, DATA)
    create, claim = await u.create_ixs()
    metas = list(claim.accounts)
    metas[1] = AccountMeta(Pubkey.new_unique(), False, True)
    claim = Instruction(claim.program_id, claim.data, metas)
    await expect_error(svm, [create, claim], payer, "ConstraintSeeds", [u.weights_kp])


async def test_weights_account_of_the_wrong_size(svm: LiteSvmChain, payer: Keypair) -> None:
    u = Upload(svm, payer, DATA)
    u.space = u.layout.space + 8
    await expect_error(svm, await u.create_ixs(), payer, "WeightsAccountSize", [u.weights_kp])


@pytest.mark.parametrize(
    ("size", "chunk_size", "error"),
    [
        (0, MAX_CHUNK_SIZE, "BadModelSize"),
        (11 << 20, MAX_CHUNK_SIZE, "BadModelSize"),
        (5000, MAX_CHUNK_SIZE + 1, "BadChunkSize"),
        (5000, MIN_CHUNK_SIZE - 1, "BadChunkSize"),
    ],
)
async def test_bad_declared_sizes(
    svm: LiteSvmChain, payer: Keypair, size: int, chunk_size: int, error: str
) -> None:
    u = Upload(svm, payer, DATA)
    params = u.params() | {"model_size": size, "chunk_size": chunk_size}
    claim = ix.create_model(payer.pubkey(), u.model, u.weights, u.model_id, params)
    create = (await u.create_ixs())[0]
    await expect_error(svm, [create, claim], payer, error, [u.weights_kp])


async def test_create_version_while_one_is_staged(
    svm: LiteSvmChain, payer: Keypair, created: Upload
) -> None:
    v2 = Upload(svm, payer, DATA, model_id=created.model_id)
    await expect_error(
        svm, await v2.create_ixs(new_model=False), payer, "VersionPending", [v2.weights_kp]
    )


# ---------------------------------------------------------------- hashes and chunks


async def test_chunk_index_out_of_range(
    svm: LiteSvmChain, payer: Keypair, declared: Upload
) -> None:
    await expect_error(
        svm, [declared.write_ix(6, declared.chunk(0))], payer, "ChunkIndexOutOfRange"
    )
    await expect_error(
        svm,
        [ix.declare_chunk_hashes(payer.pubkey(), declared.weights, 5, [b"\x01" * 32] * 2)],
        payer,
        "ChunkIndexOutOfRange",
    )


@pytest.mark.parametrize(("index", "length"), [(0, 1011), (0, 1013), (5, 99), (5, 101), (2, 0)])
async def test_bad_chunk_length(
    svm: LiteSvmChain, payer: Keypair, declared: Upload, index: int, length: int
) -> None:
    await expect_error(svm, [declared.write_ix(index, bytes(length))], payer, "BadChunkLength")


async def test_chunk_hash_mismatch(svm: LiteSvmChain, payer: Keypair, declared: Upload) -> None:
    tampered = bytearray(declared.chunk(2))
    tampered[100] ^= 0xFF
    await expect_error(svm, [declared.write_ix(2, bytes(tampered))], payer, "ChunkHashMismatch")
    # The right chunk in the wrong slot also fails its slot's declared hash.
    await expect_error(svm, [declared.write_ix(1, declared.chunk(2))], payer, "ChunkHashMismatch")


async def test_write_before_its_hash_is_declared(
    svm: LiteSvmChain, payer: Keypair, created: Upload
) -> None:
    await svm.send([created.declare_ix(0, 2)], payer)
    await expect_error(svm, [created.write_ix(2)], payer, "ChunkHashNotDeclared")


async def test_redeclaring_a_different_hash(
    svm: LiteSvmChain, payer: Keypair, declared: Upload
) -> None:
    hashes = [*declared.hashes.chunk_hashes[:2], b"\x07" * 32]
    redeclare = ix.declare_chunk_hashes(payer.pubkey(), declared.weights, 0, hashes)
    await expect_error(svm, [redeclare], payer, "ChunkHashConflict")


@pytest.mark.parametrize("hashes", [[], [bytes(32)]])
async def test_empty_or_zero_hash_declarations(
    svm: LiteSvmChain, payer: Keypair, created: Upload, hashes: list[bytes]
) -> None:
    bad = ix.declare_chunk_hashes(payer.pubkey(), created.weights, 0, hashes)
    await expect_error(svm, [bad], payer, "InvalidArgument")


async def test_writing_after_finalize(svm: LiteSvmChain, payer: Keypair, active: Upload) -> None:
    await expect_error(svm, [active.write_ix(0)], payer, "UploadFinalized")
    await expect_error(svm, [active.declare_ix(0, 1)], payer, "UploadFinalized")
    await expect_error(svm, [active.finalize_ix()], payer, "UploadFinalized")


# ---------------------------------------------------------------- finalize


async def test_finalize_with_chunks_missing(
    svm: LiteSvmChain, payer: Keypair, declared: Upload
) -> None:
    await declared.write_all([0, 1, 2, 3, 5])
    await expect_error(svm, [declared.finalize_ix()], payer, "ChunksMissing")


async def test_finalize_with_a_wrong_chunk_root(svm: LiteSvmChain, payer: Keypair) -> None:
    u = Upload(svm, payer, DATA, root=b"\x01" * 32)
    await u.create()
    await u.declare_all()
    await u.write_all()
    await expect_error(svm, [u.finalize_ix()], payer, "ChunkRootMismatch")


async def test_finalize_with_a_wrong_file_hash(svm: LiteSvmChain, payer: Keypair) -> None:
    u = Upload(svm, payer, DATA, sha256=b"\x02" * 32)
    await u.create()
    await u.declare_all()
    await u.write_all()
    await expect_error(
        svm, [set_compute_unit_limit(400_000), u.finalize_ix()], payer, "ModelHashMismatch"
    )


# ---------------------------------------------------------------- activate, freeze, authority


async def test_activate_before_finalize(
    svm: LiteSvmChain, payer: Keypair, declared: Upload
) -> None:
    await declared.write_all()
    await expect_error(svm, [declared.activate_ix()], payer, "VersionNotFinalized")


async def test_activate_something_not_staged(
    svm: LiteSvmChain, payer: Keypair, active: Upload
) -> None:
    await expect_error(svm, [active.activate_ix()], payer, "WeightsNotStaged")


async def test_activate_without_retiring_the_active_version(
    svm: LiteSvmChain, payer: Keypair, active: Upload
) -> None:
    v2 = Upload(svm, payer, model_bytes(3000, 2), model_id=active.model_id)
    await v2.create(new_model=False)
    await v2.declare_all()
    await v2.write_all()
    await svm.send([v2.finalize_ix()], payer)
    await expect_error(svm, [v2.activate_ix(previous=None)], payer, "NotActiveVersion")
    await expect_error(
        svm, [v2.activate_ix(previous=Pubkey.new_unique())], payer, "NotActiveVersion"
    )


async def test_freeze_without_an_active_version(
    svm: LiteSvmChain, payer: Keypair, created: Upload
) -> None:
    await expect_error(
        svm, [ix.freeze_model(payer.pubkey(), created.model)], payer, "NoActiveVersion"
    )


async def test_freeze_with_a_staged_version(
    svm: LiteSvmChain, payer: Keypair, active: Upload
) -> None:
    v2 = Upload(svm, payer, model_bytes(3000, 2), model_id=active.model_id)
    await v2.create(new_model=False)
    await expect_error(
        svm, [ix.freeze_model(payer.pubkey(), active.model)], payer, "VersionPending"
    )


async def test_frozen_model_rejects_every_change(
    svm: LiteSvmChain, payer: Keypair, active: Upload
) -> None:
    me, model = payer.pubkey(), active.model
    await svm.send([ix.freeze_model(me, model)], payer)
    v2 = Upload(svm, payer, model_bytes(3000, 2), model_id=active.model_id)
    await expect_error(
        svm, await v2.create_ixs(new_model=False), payer, "ModelFrozen", [v2.weights_kp]
    )
    for bad in (
        ix.freeze_model(me, model),
        ix.propose_authority(me, model, Pubkey.new_unique()),
        ix.close_model(me, model, active.weights, None),
        ix.accept_authority(me, model, None),
    ):
        await expect_error(svm, [bad], payer, "ModelFrozen")
    await expect_error(svm, [ix.close_version(me, model, active.weights)], payer, "VersionActive")


async def test_accept_authority_rejections(
    svm: LiteSvmChain, payer: Keypair, active: Upload
) -> None:
    stranger = funded(svm)
    accept = ix.accept_authority(stranger.pubkey(), active.model, None)
    await expect_error(svm, [accept], stranger, "NoPendingAuthority")
    await svm.send([ix.propose_authority(payer.pubkey(), active.model, Keypair().pubkey())], payer)
    await expect_error(svm, [accept], stranger, "NotPendingAuthority")
    await expect_error(svm, [unsigned(accept, stranger.pubkey())], payer, "ConstraintSigner")


async def test_accept_needs_the_staged_version(
    svm: LiteSvmChain, payer: Keypair, active: Upload
) -> None:
    new = funded(svm)
    v2 = Upload(svm, payer, model_bytes(3000, 2), model_id=active.model_id)
    await v2.create(new_model=False)
    await svm.send([ix.propose_authority(payer.pubkey(), active.model, new.pubkey())], payer)
    await expect_error(
        svm, [ix.accept_authority(new.pubkey(), active.model, None)], new, "WeightsNotStaged"
    )


# ---------------------------------------------------------------- close


async def test_close_the_active_version_alone(
    svm: LiteSvmChain, payer: Keypair, active: Upload
) -> None:
    close = ix.close_version(payer.pubkey(), active.model, active.weights)
    await expect_error(svm, [close], payer, "VersionActive")


async def test_close_model_with_versions_outstanding(
    svm: LiteSvmChain, payer: Keypair, active: Upload
) -> None:
    v2 = Upload(svm, payer, model_bytes(3000, 2), model_id=active.model_id)
    await v2.run(new_model=False, previous=active.weights)
    me = payer.pubkey()
    # v1 is retired and still holds rent; so does the active v2 if it is left out.
    await expect_error(
        svm, [ix.close_model(me, active.model, v2.weights, None)], payer, "VersionsOutstanding"
    )
    await svm.send([ix.close_version(me, active.model, active.weights)], payer)
    await expect_error(
        svm, [ix.close_model(me, active.model, None, None)], payer, "VersionsOutstanding"
    )
    await svm.send([ix.close_model(me, active.model, v2.weights, None)], payer)
    assert await svm.get_account(active.model) is None


async def test_program_id_is_the_idl_address() -> None:
    assert str(PROGRAM_ID) == idl_json()["address"]
