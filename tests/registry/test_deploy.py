"""Registry happy paths on LiteSVM through the async API: deploy, resume, versions, authority,
freeze, close, tampering, and the size/compute targets."""

from __future__ import annotations

import hashlib

import pytest
from solders.compute_budget import set_compute_unit_limit
from solders.keypair import Keypair
from solders.transaction import Transaction

from client.chain.litesvm import LiteSvmChain
from client.program import parse_events
from client.registry import ModelRegistry
from client.registry.layout import (
    FILE_HASH_MAX_BYTES,
    MAX_CHUNK_SIZE,
    MAX_PAGES_PER_COMMIT,
    WeightsLayout,
    page_address,
)

from .helpers import Upload, funded, model_bytes, set_account_data

MIB = 1 << 20


@pytest.mark.parametrize("size", [1, 700, 1012, 1013, 50_000, MIB])
async def test_deploy_uploads_finalizes_activates_and_verifies(
    registry: ModelRegistry, size: int
) -> None:
    data = model_bytes(size, seed=size)
    d = await registry.deploy(data)
    assert d.verified and not d.resumed and not d.already_active
    assert d.sha256 == hashlib.sha256(data).hexdigest()
    assert (d.bytes, d.version) == (size, 1)
    layout = WeightsLayout.for_model(size)
    assert d.chunks == layout.chunk_count
    # create (+ the first pages) | two page openings per transaction | one write per chunk |
    # commits of 22 pages, the last one with finalize+activate.
    pages = layout.page_count
    assert d.transactions <= 1 + -(-pages // 2) + layout.chunk_count + -(-pages // 22)
    assert d.file_hash_verified_on_chain
    # Every page was committed and closed: only the weights and header hold rent.
    assert (
        await registry.chain.get_multiple_accounts(
            [page_address(d.weights, registry.authority.pubkey(), p) for p in range(pages)]
        )
        == [None] * pages
    )

    info = await registry.fetch_model(d.model)
    assert info is not None and info.status == "ready"
    assert (info.active_weights, info.active_version, info.staged_weights) == (d.weights, 1, None)
    assert info.model_sha256 == hashlib.sha256(data).digest()
    v = await registry.fetch_version(d.weights)
    assert v is not None and v.status == "active" and v.data == data
    assert v.data_offset % 8 == 0
    assert v.lamports == await registry.chain.minimum_balance_for_rent_exemption(layout.space)
    assert v.arch.kind == 0  # opaque bytes: no model-file header to summarise


async def test_tiny_model_takes_three_transactions(registry: ModelRegistry) -> None:
    d = await registry.deploy(b"tiny model")
    assert d.transactions == 3  # create+open page, write, commit+finalize+activate
    assert d.fee_lamports == 4 * 5000  # the create transaction has two signatures


async def test_deploy_twice_is_idempotent(registry: ModelRegistry) -> None:
    data = model_bytes(5000)
    first = await registry.deploy(data)
    again = await registry.deploy(data)
    assert again.already_active and again.transactions == 0 and again.rent_lamports == 0
    assert (again.model, again.weights, again.version) == (first.model, first.weights, 1)


async def test_interrupted_upload_resumes_from_chain_state(
    svm: LiteSvmChain, payer: Keypair, registry: ModelRegistry
) -> None:
    data = model_bytes(40_000, seed=3)  # 40 chunks in 5 pages
    u = Upload(svm, payer, data, model_id=11)
    await u.create()
    await u.open_all()
    await u.write_all(range(18))  # pages 0 and 1 complete
    await svm.send([u.commit_ix([0])], payer)  # page 0 committed, page 1 not yet
    await u.write_all([18, 20, 39])  # page 2 and 4 partly written
    d = await registry.deploy(data, model_id=11)
    assert d.resumed and d.verified and d.weights == u.weights
    # Only what was missing was sent: 40 - 21 chunks, then 4 pages in one commit transaction
    # with finalize+activate; no page needed opening.
    assert d.transactions == 19 + 1
    assert d.rent_lamports == 0


async def test_rewriting_a_chunk_with_the_same_bytes_is_harmless(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    u = Upload(svm, payer, model_bytes(3000))
    await u.create()
    await u.open_all()
    first = await svm.send([u.write_ix(1)], payer)
    again = await svm.send([u.write_ix(1)], payer)
    for r in (first, again):
        (e,) = parse_events(r.logs)
        assert (e.name, e.data.index, e.data.page_written) == ("ChunkWritten", 1, 0b10)
    # Committing a page again (reopened with the same hashes and bytes) changes nothing.
    await u.write_all([0, 2])
    await svm.send([u.commit_ix([0])], payer)
    await svm.send([u.open_ix(0)], payer)
    await u.write_all([0, 1, 2])
    res = await svm.send([u.commit_ix([0]), u.finalize_ix()], payer)
    names = [e.name for e in parse_events(res.logs)]
    assert names == ["PagesCommitted", "VersionFinalized"]


async def test_new_version_uploads_while_old_serves_then_activates(
    svm: LiteSvmChain, payer: Keypair, registry: ModelRegistry
) -> None:
    v1_data, v2_data = model_bytes(30_000, 1), model_bytes(25_000, 2)
    v1 = await registry.deploy(v1_data, model_id=5)
    v2 = Upload(svm, payer, v2_data, model_id=5)
    await v2.create(new_model=False)
    await v2.open_all()
    await v2.write_all(range(18))
    await svm.send([v2.commit_ix([0, 1])], payer)

    async def served() -> bytes:
        info = await registry.fetch_model(v1.model)
        assert info is not None and info.active_weights is not None
        report = await registry.verify(v1.model)
        assert report.ok, report.problems
        v = await registry.fetch_version(info.active_weights)
        assert v is not None and v.data is not None
        return v.data

    # Half-uploaded v2 is staged; readers still get all of v1.
    assert await served() == v1_data
    info = await registry.fetch_model(v1.model)
    assert info is not None and (info.staged_weights, info.staged_version) == (v2.weights, 2)
    await v2.write_all(range(18, v2.layout.chunk_count))
    await svm.send([v2.commit_ix([2]), v2.finalize_ix()], payer)
    assert await served() == v1_data  # finalized but not active: still v1

    res = await svm.send([v2.activate_ix(previous=v1.weights)], payer)
    (e,) = parse_events(res.logs)
    assert (e.name, e.data.version, e.data.previous_weights) == (
        "VersionActivated",
        2,
        v1.weights,
    )
    assert await served() == v2_data
    old = await registry.fetch_version(v1.weights)
    assert old is not None and old.status == "retired"

    # The SDK does the same for a third version through deploy().
    v3_data = model_bytes(2000, 3)
    v3 = await registry.deploy(v3_data, model_id=5)
    assert v3.version == 3 and await served() == v3_data


async def test_close_returns_all_rent_to_the_authority(
    svm: LiteSvmChain, payer: Keypair, registry: ModelRegistry
) -> None:
    me = payer.pubkey()
    start = await svm.get_balance(me)
    d1 = await registry.deploy(model_bytes(20_000, 1), model_id=9)
    d2 = await registry.deploy(model_bytes(10_000, 2), model_id=9)
    spent = start - await svm.get_balance(me)
    assert spent == d1.rent_lamports + d1.fee_lamports + d2.rent_lamports + d2.fee_lamports

    # Closing the model needs the retired v1 gone first; the SDK is told which it is.
    before = await svm.get_balance(me)
    returned = await registry.close_model(d1.model, retired=[d1.weights])
    # All of it except the rent of the 96-byte tombstone the header shrinks to, which keeps
    # the model id from ever being created again (issue 11).
    tomb = await svm.get_account(d1.model)
    assert tomb is not None and len(bytes(tomb.data)) == 96
    assert tomb.lamports == await svm.minimum_balance_for_rent_exemption(96)
    assert returned == d1.rent_lamports + d2.rent_lamports - tomb.lamports
    assert await svm.get_balance(me) == before + returned - 2 * 5000
    for address in (d1.weights, d2.weights):
        assert await svm.get_account(address) is None


async def test_close_version_of_a_staged_upload(
    svm: LiteSvmChain, payer: Keypair, registry: ModelRegistry
) -> None:
    u = Upload(svm, payer, model_bytes(20_000), model_id=4)  # 20 chunks, 3 pages
    await u.create()
    await svm.send([u.open_ix(0), u.open_ix(2)], payer)
    held = [await svm.get_account(k) for k in (u.weights, u.page_key(0), u.page_key(2))]
    returned = await registry.close_version(u.weights)
    # The version's open pages are found (their addresses derive from it) and closed too.
    assert returned == sum(a.lamports for a in held if a is not None)
    assert await svm.get_account(u.page_key(0)) is None
    info = await registry.fetch_model(u.model)
    assert info is not None and info.staged_weights is None and info.live_versions == 0
    # With nothing staged, a new version can be uploaded into the same model.
    d = await registry.deploy(model_bytes(6000), model_id=4)
    assert d.version == 2 and d.verified


async def test_two_step_authority_transfer(
    svm: LiteSvmChain, payer: Keypair, registry: ModelRegistry
) -> None:
    d = await registry.deploy(model_bytes(3000), model_id=1)
    new = funded(svm)
    # A staged upload moves to the new authority with the model.
    u = Upload(svm, payer, model_bytes(4000, 9), model_id=1)
    await u.create(new_model=False)
    res = await registry.propose_authority(d.model, new.pubkey())
    assert [e.name for e in parse_events(res.logs)] == ["AuthorityProposed"]
    info = await registry.fetch_model(d.model)
    assert info is not None
    assert (info.authority, info.pending_authority) == (payer.pubkey(), new.pubkey())

    res = await ModelRegistry(svm, new).accept_authority(d.model)
    (e,) = parse_events(res.logs)
    assert (e.name, e.data.previous_authority, e.data.authority) == (
        "AuthorityAccepted",
        payer.pubkey(),
        new.pubkey(),
    )
    info = await registry.fetch_model(d.model)
    assert info is not None and (info.authority, info.pending_authority) == (new.pubkey(), None)
    staged = await registry.fetch_version(u.weights)
    assert staged is not None and staged.authority == new.pubkey()

    # The new authority resumes the staged upload in the same model (the PDA keeps the
    # creator's key) and activates it.
    done = await ModelRegistry(svm, new).deploy(u.data, target=d.model)
    assert done.resumed and done.version == 2 and done.weights == u.weights
    report = await registry.verify(d.model, u.data)
    assert report.ok and report.version == 2


async def test_freeze_makes_the_model_immutable(
    svm: LiteSvmChain, payer: Keypair, registry: ModelRegistry
) -> None:
    d1 = await registry.deploy(model_bytes(3000, 1), model_id=2)
    d2 = await registry.deploy(model_bytes(3000, 2), model_id=2)
    before = await svm.get_account(d1.model)
    res = await registry.freeze(d1.model)
    (e,) = parse_events(res.logs)
    assert (e.name, e.data.version) == ("ModelFrozen", 2)
    info = await registry.fetch_model(d1.model)
    assert info is not None and info.status == "frozen"
    # Retired versions still return their rent, and the frozen header does not change a byte.
    frozen = await svm.get_account(d1.model)
    await registry.close_version(d1.weights)
    assert (await svm.get_account(d1.model)) == frozen != before
    assert (await registry.verify(d2.model)).ok
    # Deploying the same content again is a no-op on a frozen model.
    again = await registry.deploy(model_bytes(3000, 2), model_id=2)
    assert again.already_active and again.transactions == 0


async def test_verify_detects_tampering(
    svm: LiteSvmChain, payer: Keypair, registry: ModelRegistry
) -> None:
    data = model_bytes(10_000)
    d = await registry.deploy(data)
    acc = await svm.get_account(d.weights)
    assert acc is not None
    v = await registry.fetch_version(d.weights)
    assert v is not None
    raw = bytearray(bytes(acc.data))
    raw[v.data_offset + 3 * v.chunk_size + 5] ^= 0x01  # one bit of chunk 3
    set_account_data(svm, d.weights, bytes(raw))

    report = await registry.verify(d.model)
    assert not report.ok and report.bad_chunks == [3]
    assert report.computed_sha256 != report.declared_sha256
    # A local file that differs from what the chain declares is reported too.
    clean = await registry.verify(d.model, data + b"x")
    assert any("local file" in p for p in clean.problems)


async def test_write_transaction_fills_the_packet(svm: LiteSvmChain, payer: Keypair) -> None:
    u = Upload(svm, payer, model_bytes(3 * MAX_CHUNK_SIZE))
    tx = Transaction.new_signed_with_payer(
        [u.write_ix(0)], payer.pubkey(), [payer], await svm.latest_blockhash()
    )
    assert len(u.chunk(0)) == MAX_CHUNK_SIZE >= 950
    assert len(bytes(tx)) == 1232


async def test_compute_budget_per_byte(svm: LiteSvmChain, payer: Keypair) -> None:
    """Writes cost ~1.1 CU per payload byte in all; on-chain hashing stays under 0.6 CU/byte."""
    size = FILE_HASH_MAX_BYTES // 2
    u = Upload(svm, payer, model_bytes(size))
    await u.create()
    await u.open_all()
    writes = await u.write_all()
    await u.commit_all()
    full = max(r.compute_units for r in writes)
    assert full <= 1300, full
    fin = await svm.send([set_compute_unit_limit(1_400_000), u.finalize_ix()], payer)
    # Finalize hashes the whole file and the hash table: < 0.6 CU per model byte in total.
    assert fin.compute_units / size < 0.6, fin.compute_units


async def test_one_commit_takes_max_pages_per_commit(svm: LiteSvmChain, payer: Keypair) -> None:
    # The entrypoint silently drops accounts past its limit; this fails if it ever parses fewer
    # than the client packs into one commit.
    u = Upload(svm, payer, model_bytes(MAX_PAGES_PER_COMMIT * 9 * 1012))
    await u.create()
    await u.open_all()
    await u.write_all()
    res = await svm.send([u.commit_ix(list(range(MAX_PAGES_PER_COMMIT)))], payer)
    (e,) = parse_events(res.logs)
    assert (e.name, e.data.pages, e.data.chunks_written) == (
        "PagesCommitted",
        MAX_PAGES_PER_COMMIT,
        u.layout.chunk_count,
    )


async def test_an_unverified_file_hash_is_never_shown_as_the_models_hash(
    svm: LiteSvmChain, registry: ModelRegistry
) -> None:
    """Over 2 MiB, finalize checks the chunk root but cannot afford the whole-file SHA-256:
    the header then carries no file hash (zero), the activation event neither, the version
    keeps the upload's declaration marked unverified, and `inspect` says "unverified"."""
    from client.cli.registry import _describe_model, _describe_version

    data = model_bytes(FILE_HASH_MAX_BYTES + 1000, seed=3)
    d = await registry.deploy(data, model_id=21)
    assert d.verified and not d.file_hash_verified_on_chain
    header = await registry.fetch_model(d.model)
    version = await registry.fetch_version(d.weights)
    assert header is not None and version is not None
    assert header.model_sha256 == bytes(32) and not header.file_hash_verified
    assert header.chunk_root == version.chunk_root == bytes.fromhex(d.chunk_root)
    assert version.model_sha256 == hashlib.sha256(data).digest()
    assert not version.file_hash_verified
    text = _describe_model(header)
    assert "sha256         unverified" in text and hashlib.sha256(data).hexdigest() not in text
    assert "sha256         unverified (declared " in _describe_version(version)
    # The same file again is recognised as already active through the (verified) chunk root.
    again = await registry.deploy(data, model_id=21)
    assert again.already_active and again.version == 1
    # A small model's verified hash is shown as is.
    small = await registry.deploy(model_bytes(5000, seed=4), model_id=22)
    info = await registry.fetch_model(small.model)
    assert info is not None and info.file_hash_verified
    assert f"sha256         {small.sha256}" in _describe_model(info)


async def test_the_activation_event_carries_no_unverified_hash(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    """The same rule for the VersionActivated event, on a version whose whole-file hash was not
    recomputed (the flag cleared before activation, as finalize leaves it over 2 MiB)."""
    u = Upload(svm, payer, model_bytes(5000, seed=5), model_id=23)
    await u.create()
    await u.upload()
    await svm.send([u.finalize_ix()], payer)
    acc = await svm.get_account(u.weights)
    assert acc is not None
    raw = bytearray(bytes(acc.data))
    # ModelWeights.file_hash_verified: the byte after status, right before padding (220).
    assert raw[219] == 1
    raw[219] = 0
    set_account_data(svm, u.weights, bytes(raw))
    res = await svm.send([u.activate_ix()], payer)
    ev = [e for e in parse_events(res.logs) if e.name == "VersionActivated"]
    assert len(ev) == 1 and bytes(ev[0].data.model_sha256) == bytes(32)
