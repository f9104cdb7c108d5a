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
from client.program import PROGRAM_ID, build_ix, idl_json
from client.registry import instructions as ix
from client.registry.layout import MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, PageLayout

from .helpers import Upload, expect_error, funded, model_bytes, unsigned

DATA = model_bytes(5 * 1012 + 100)  # 6 chunks in one page, the last one short


@pytest.fixture
async def created(svm: LiteSvmChain, payer: Keypair) -> Upload:
    """A model whose version 1 is created, nothing uploaded yet."""
    u = Upload(svm, payer, DATA)
    await u.create()
    return u


@pytest.fixture
async def opened(created: Upload) -> Upload:
    """... with its (single) upload page open."""
    await created.open_all()
    return created


@pytest.fixture
async def active(svm: LiteSvmChain, payer: Keypair) -> Upload:
    """A model with version 1 uploaded and active."""
    u = Upload(svm, payer, DATA)
    await u.run()
    return u


def test_every_registry_error_is_in_the_idl() -> None:
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
        "PageAlreadyOpen",
        "PageIncomplete",
        "PageMismatch",
    } <= names


# ---------------------------------------------------------------- signer, owner, type


async def test_write_needs_the_authority_signature(svm: LiteSvmChain, opened: Upload) -> None:
    # Someone else pays and signs; the authority's key is in the instruction but unsigned.
    other = funded(svm)
    await expect_error(svm, [unsigned(opened.write_ix(0), opened.me)], other, "ConstraintSigner")
    await opened.write_all()
    await expect_error(svm, [unsigned(opened.commit_ix([0]), opened.me)], other, "ConstraintSigner")


async def test_upload_by_another_signer_is_rejected(svm: LiteSvmChain, opened: Upload) -> None:
    other = funded(svm)
    me = other.pubkey()
    page = opened.page_key(0)
    await expect_error(svm, [ix.write_chunk(me, page, 0, opened.chunk(0))], other, "WrongAuthority")
    await expect_error(svm, [ix.close_page(me, page)], other, "WrongAuthority")
    await opened.write_all()
    await expect_error(svm, [ix.commit_pages(me, opened.weights, [page])], other, "WrongAuthority")


async def test_someone_elses_page_cannot_be_committed(
    svm: LiteSvmChain, payer: Keypair, created: Upload
) -> None:
    # Another signer opens and fills a page for my version: its address is bound to them, and
    # my commit refuses it.
    other = funded(svm)
    squat = Upload(svm, other, DATA, weights_kp=created.weights_kp)
    await squat.open_all()
    await squat.write_all()
    commit = ix.commit_pages(payer.pubkey(), created.weights, [squat.page_key(0)])
    await expect_error(svm, [commit], payer, "WrongAuthority")


async def test_lifecycle_by_another_signer_is_rejected(svm: LiteSvmChain, active: Upload) -> None:
    other = funded(svm)
    me, model = other.pubkey(), active.model
    for bad in (
        ix.freeze_model(me, model),
        ix.propose_authority(me, model, me),
        ix.close_model(me, model, active.weights, None),
        ix.close_version(me, model, active.weights),
        ix.activate_version(me, model, active.weights, None),
        ix.finalize_version(me, model, active.weights),
    ):
        await expect_error(svm, [bad], other, "WrongAuthority")
    v2 = Upload(svm, other, DATA, model_id=active.model_id)
    claim = ix.create_version(me, model, v2.weights, v2.params())
    create = (await v2.create_ixs(new_model=False))[0]
    await expect_error(svm, [create, claim], other, "WrongAuthority", [v2.weights_kp])


async def test_accounts_owned_by_another_program(
    svm: LiteSvmChain, payer: Keypair, opened: Upload
) -> None:
    await opened.write_all()
    fake = Pubkey.new_unique()
    for source in (opened.weights, opened.page_key(0)):
        acc = await svm.get_account(source)
        assert acc is not None
        svm.svm.set_account(
            fake, Account(acc.lamports, bytes(acc.data), SYSTEM_PROGRAM_ID, False, 0)
        )
        if source == opened.weights:
            bad = ix.commit_pages(payer.pubkey(), fake, [opened.page_key(0)])
        else:
            bad = ix.write_chunk(payer.pubkey(), fake, 0, opened.chunk(0))
        await expect_error(svm, [bad], payer, "AccountOwnedByWrongProgram")


async def test_weights_created_for_another_owner_cannot_be_claimed(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    u = Upload(svm, payer, DATA)
    create, claim = await u.create_ixs()
    data = bytearray(bytes(create.data))
    data[20:52] = bytes(SYSTEM_PROGRAM_ID)  # CreateAccount's owner field
    create = Instruction(create.program_id, bytes(data), list(create.accounts))
    await expect_error(svm, [create, claim], payer, "AccountOwnedByWrongProgram", [u.weights_kp])


async def test_wrong_account_type_is_rejected(
    svm: LiteSvmChain, payer: Keypair, opened: Upload
) -> None:
    me = payer.pubkey()
    for bad in (
        ix.write_chunk(me, opened.model, 0, opened.chunk(0)),  # header as a page
        ix.write_chunk(me, opened.weights, 0, opened.chunk(0)),  # weights as a page
        ix.commit_pages(me, opened.model, [opened.page_key(0)]),  # header as weights
        ix.freeze_model(me, opened.weights),  # weights as a header
    ):
        await expect_error(svm, [bad], payer, "AccountDiscriminatorMismatch")


async def test_weights_of_another_model_are_rejected(
    svm: LiteSvmChain, payer: Keypair, opened: Upload
) -> None:
    other = Upload(svm, payer, DATA, model_id=99)
    await other.run()
    finalize = ix.finalize_version(payer.pubkey(), other.model, opened.weights)
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


# ---------------------------------------------------------------- pages, hashes and chunks


async def test_opening_a_page_twice(svm: LiteSvmChain, payer: Keypair, opened: Upload) -> None:
    await expect_error(svm, [opened.open_ix(0)], payer, "PageAlreadyOpen")


async def test_page_not_at_its_pda(svm: LiteSvmChain, payer: Keypair, created: Upload) -> None:
    open_ = created.open_ix(0)
    metas = list(open_.accounts)
    metas[1] = AccountMeta(Pubkey.new_unique(), False, True)
    bad = Instruction(open_.program_id, open_.data, metas)
    await expect_error(svm, [bad], payer, "ConstraintSeeds")


async def test_page_index_out_of_range(svm: LiteSvmChain, payer: Keypair, created: Upload) -> None:
    beyond = PageLayout(1, 9, 1, 100, 0)  # the model has one page
    bad = ix.open_page(payer.pubkey(), created.weights, beyond, created.layout, [b"\x01" * 32] * 10)
    await expect_error(svm, [bad], payer, "ChunkIndexOutOfRange")


@pytest.mark.parametrize("hashes", [[b"\x01" * 32] * 5, [b"\x01" * 32] * 7, [bytes(32)] * 6])
async def test_page_needs_one_nonzero_hash_per_chunk(
    svm: LiteSvmChain, payer: Keypair, created: Upload, hashes: list[bytes]
) -> None:
    # Six chunks need exactly six hashes, none all-zero (the "undeclared" marker).
    args = {
        "weights": created.weights,
        "page_index": 0,
        "model_size": len(DATA),
        "chunk_size": 1012,
        "hashes": hashes,
    }
    bad = build_ix("open_page", args, {"authority": payer.pubkey(), "page": created.page_key(0)})
    await expect_error(svm, [bad], payer, "InvalidArgument")


async def test_chunk_index_out_of_range(svm: LiteSvmChain, payer: Keypair) -> None:
    u = Upload(svm, payer, model_bytes(12 * 1012))  # two pages
    await u.create()
    await u.open_all()
    # Chunk 9 belongs to page 1, not page 0; chunk 12 does not exist.
    await expect_error(svm, [u.write_ix(9, page=0)], payer, "ChunkIndexOutOfRange")
    await expect_error(svm, [u.write_ix(12, u.chunk(0), page=1)], payer, "ChunkIndexOutOfRange")


@pytest.mark.parametrize(("index", "length"), [(0, 1011), (0, 1013), (5, 99), (5, 101), (2, 0)])
async def test_bad_chunk_length(
    svm: LiteSvmChain, payer: Keypair, opened: Upload, index: int, length: int
) -> None:
    await expect_error(svm, [opened.write_ix(index, bytes(length))], payer, "BadChunkLength")


async def test_chunk_hash_mismatch(svm: LiteSvmChain, payer: Keypair, opened: Upload) -> None:
    tampered = bytearray(opened.chunk(2))
    tampered[100] ^= 0xFF
    await expect_error(svm, [opened.write_ix(2, bytes(tampered))], payer, "ChunkHashMismatch")
    # The right chunk in the wrong slot also fails its slot's declared hash.
    await expect_error(svm, [opened.write_ix(1, opened.chunk(2))], payer, "ChunkHashMismatch")


async def test_commit_with_a_conflicting_hash(
    svm: LiteSvmChain, payer: Keypair, opened: Upload
) -> None:
    await opened.write_all()
    await svm.send([opened.commit_ix([0])], payer)
    # Reopen page 0 declaring other content for chunk 3, write that content, commit: refused.
    other = bytearray(opened.data)
    other[3 * 1012] ^= 1
    liar = Upload(svm, payer, bytes(other), weights_kp=opened.weights_kp)
    await svm.send([liar.open_ix(0)], payer)
    await liar.write_all()
    await expect_error(svm, [liar.commit_ix([0])], payer, "ChunkHashConflict")


async def test_commit_an_incomplete_page(svm: LiteSvmChain, payer: Keypair, opened: Upload) -> None:
    await opened.write_all([0, 1, 2, 3, 5])
    await expect_error(svm, [opened.commit_ix([0])], payer, "PageIncomplete")


async def test_commit_a_page_of_another_version(
    svm: LiteSvmChain, payer: Keypair, opened: Upload
) -> None:
    other = Upload(svm, payer, DATA, model_id=99)
    await other.create()
    await other.open_all()
    await other.write_all()
    commit = ix.commit_pages(payer.pubkey(), opened.weights, [other.page_key(0)])
    await expect_error(svm, [commit], payer, "PageMismatch")
    # A page of this version, opened with other sizes.
    resized = Upload(svm, payer, DATA + b"x", weights_kp=opened.weights_kp)
    await svm.send([ix.close_page(payer.pubkey(), opened.page_key(0))], payer)
    await svm.send([resized.open_ix(0)], payer)
    await resized.write_all()
    await expect_error(svm, [resized.commit_ix([0])], payer, "PageMismatch")


async def test_writing_after_finalize(svm: LiteSvmChain, payer: Keypair, active: Upload) -> None:
    # A page can be refilled, but nothing reaches a finalized version.
    await svm.send([active.open_ix(0)], payer)
    await active.write_all()
    await expect_error(svm, [active.commit_ix([0])], payer, "UploadFinalized")
    await expect_error(svm, [active.finalize_ix()], payer, "UploadFinalized")
    # Once closed, a page takes no writes at all.
    await svm.send([ix.close_page(payer.pubkey(), active.page_key(0))], payer)
    await expect_error(svm, [active.write_ix(0)], payer, "AccountNotInitialized")


# ---------------------------------------------------------------- finalize


async def test_finalize_with_chunks_missing(svm: LiteSvmChain, payer: Keypair) -> None:
    u = Upload(svm, payer, model_bytes(12 * 1012))  # two pages
    await u.create()
    await u.open_all()
    await u.write_all(range(9))
    await svm.send([u.commit_ix([0])], payer)
    await expect_error(svm, [u.finalize_ix()], payer, "ChunksMissing")


async def test_finalize_with_a_wrong_chunk_root(svm: LiteSvmChain, payer: Keypair) -> None:
    u = Upload(svm, payer, DATA, root=b"\x01" * 32)
    await u.create()
    await u.upload()
    await expect_error(svm, [u.finalize_ix()], payer, "ChunkRootMismatch")


async def test_finalize_with_a_wrong_file_hash(svm: LiteSvmChain, payer: Keypair) -> None:
    u = Upload(svm, payer, DATA, sha256=b"\x02" * 32)
    await u.create()
    await u.upload()
    await expect_error(
        svm, [set_compute_unit_limit(400_000), u.finalize_ix()], payer, "ModelHashMismatch"
    )


# ---------------------------------------------------------------- activate, freeze, authority


async def test_activate_before_finalize(svm: LiteSvmChain, payer: Keypair, opened: Upload) -> None:
    await opened.write_all()
    await opened.commit_all()
    await expect_error(svm, [opened.activate_ix()], payer, "VersionNotFinalized")


async def test_activate_something_not_staged(
    svm: LiteSvmChain, payer: Keypair, active: Upload
) -> None:
    await expect_error(svm, [active.activate_ix()], payer, "WeightsNotStaged")


async def test_activate_without_retiring_the_active_version(
    svm: LiteSvmChain, payer: Keypair, active: Upload
) -> None:
    v2 = Upload(svm, payer, model_bytes(3000, 2), model_id=active.model_id)
    await v2.create(new_model=False)
    await v2.upload()
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
    assert await svm.get_account(v2.weights) is None
    # The header is a tombstone now: every registry instruction on it, and a new model or
    # version under its id, fails with ModelClosed.
    v3 = Upload(svm, payer, model_bytes(3000, 3), model_id=active.model_id)
    for new_model in (True, False):
        await expect_error(
            svm, await v3.create_ixs(new_model=new_model), payer, "ModelClosed", [v3.weights_kp]
        )
    for bad in (
        ix.freeze_model(me, active.model),
        ix.propose_authority(me, active.model, me),
        ix.close_model(me, active.model, None, None),
        ix.activate_version(me, active.model, v2.weights, None),
    ):
        await expect_error(svm, [bad], payer, "ModelClosed")


async def test_program_id_is_the_idl_address() -> None:
    assert str(PROGRAM_ID) == idl_json()["address"]
