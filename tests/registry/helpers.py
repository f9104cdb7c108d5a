"""Step-by-step helpers for the registry tests.

`ModelRegistry.deploy` drives the happy paths; the negative tests need to stop between steps,
so `Upload` exposes each instruction of a deploy separately (built with the same SDK builders).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from solders.account import Account
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from client.chain.base import TransactionFailed, TxResult
from client.chain.litesvm import LiteSvmChain
from client.program import PROGRAM_ID, anchor_error, error_name
from client.registry import ArchSummary
from client.registry import instructions as ix
from client.registry.layout import (
    MAX_PAGES_PER_COMMIT,
    PAGE_CHUNKS,
    ModelHashes,
    WeightsLayout,
    model_address,
    page_address,
)


def model_bytes(size: int, seed: int = 0) -> bytes:
    """Deterministic pseudo-random model content."""
    out = bytearray()
    block = seed.to_bytes(8, "little")
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


async def expect_error(
    chain: LiteSvmChain,
    instructions: Sequence[Instruction],
    payer: Keypair,
    name: str,
    signers: Sequence[Keypair] = (),
) -> TxResult:
    """Send and assert the transaction fails with the error called `name` (IDL or Anchor)."""
    with pytest.raises(TransactionFailed) as ei:
        await chain.send(list(instructions), payer, signers)
    result = ei.value.result
    code = result.custom_error
    assert code is not None, (result.error, result.logs)
    assert error_name(code) == name, (code, error_name(code), result.logs)
    # ... and logged it as anchor-lang does, which is what Anchor clients raise typed errors from.
    logged = anchor_error(result.logs)
    assert logged is not None and logged.program == PROGRAM_ID, result.logs
    assert (logged.name, logged.number) == (name, code), result.logs
    return result


def unsigned(instruction: Instruction, who: Pubkey) -> Instruction:
    """The same instruction with `who` demoted from signer."""
    metas = [
        AccountMeta(m.pubkey, False, m.is_writable) if m.pubkey == who else m
        for m in instruction.accounts
    ]
    return Instruction(instruction.program_id, instruction.data, metas)


@dataclass
class Upload:
    """One version's upload, instruction by instruction."""

    chain: LiteSvmChain
    authority: Keypair
    data: bytes
    model_id: int = 7
    chunk_size: int = 1012
    weights_kp: Keypair = field(default_factory=Keypair)
    # Overrides of the declared values (to test their rejection).
    sha256: bytes | None = None
    root: bytes | None = None
    space: int | None = None

    def __post_init__(self) -> None:
        self.layout = WeightsLayout.for_model(len(self.data), self.chunk_size)
        self.hashes = ModelHashes.of(self.data, self.chunk_size)

    @property
    def me(self) -> Pubkey:
        return self.authority.pubkey()

    @property
    def model(self) -> Pubkey:
        return model_address(self.me, self.model_id)

    @property
    def weights(self) -> Pubkey:
        return self.weights_kp.pubkey()

    def params(self) -> dict[str, object]:
        p = ix.version_params(self.layout, self.hashes, ArchSummary(1, 8, 2, 4, 3, 99), 1)
        if self.sha256 is not None:
            p["model_sha256"] = self.sha256
        if self.root is not None:
            p["chunk_root"] = self.root
        return p

    async def create_ixs(self, *, new_model: bool = True) -> list[Instruction]:
        space = self.space if self.space is not None else self.layout.space
        lamports = await self.chain.minimum_balance_for_rent_exemption(space)
        create = ix.create_weights_account(self.me, self.weights, self.layout, lamports)
        if self.space is not None:
            create = _with_space(create, space)
        claim = (
            ix.create_model(self.me, self.model, self.weights, self.model_id, self.params())
            if new_model
            else ix.create_version(self.me, self.model, self.weights, self.params())
        )
        return [create, claim]

    async def create(self, *, new_model: bool = True) -> TxResult:
        return await self.chain.send(
            await self.create_ixs(new_model=new_model), self.authority, [self.weights_kp]
        )

    def page_key(self, page: int) -> Pubkey:
        return page_address(self.weights, self.me, page)

    def open_ix(self, page: int, hashes: list[bytes] | None = None) -> Instruction:
        return ix.open_page(
            self.me,
            self.weights,
            self.layout.page(page),
            self.layout,
            self.hashes.chunk_hashes if hashes is None else hashes,
        )

    async def open_all(self) -> None:
        for p in range(self.layout.page_count):
            await self.chain.send([self.open_ix(p)], self.authority)

    def chunk(self, i: int) -> bytes:
        return self.data[i * self.chunk_size : (i + 1) * self.chunk_size]

    def write_ix(self, i: int, data: bytes | None = None, page: int | None = None) -> Instruction:
        key = self.page_key(i // PAGE_CHUNKS if page is None else page)
        return ix.write_chunk(self.me, key, i, self.chunk(i) if data is None else data)

    async def write_all(self, indices: Sequence[int] | None = None) -> list[TxResult]:
        out = []
        for i in range(self.layout.chunk_count) if indices is None else indices:
            out.append(await self.chain.send([self.write_ix(i)], self.authority))
        return out

    def commit_ix(self, pages: Sequence[int]) -> Instruction:
        return ix.commit_pages(self.me, self.weights, [self.page_key(p) for p in pages])

    async def commit_all(self) -> None:
        pages = list(range(self.layout.page_count))
        step = MAX_PAGES_PER_COMMIT
        for start in range(0, len(pages), step):
            await self.chain.send([self.commit_ix(pages[start : start + step])], self.authority)

    async def upload(self) -> None:
        """Open every page, write every chunk, commit every page."""
        await self.open_all()
        await self.write_all()
        await self.commit_all()

    def finalize_ix(self) -> Instruction:
        return ix.finalize_version(self.me, self.model, self.weights)

    def activate_ix(self, previous: Pubkey | None = None) -> Instruction:
        return ix.activate_version(self.me, self.model, self.weights, previous)

    async def run(self, *, new_model: bool = True, previous: Pubkey | None = None) -> None:
        """Create, upload, finalize and activate."""
        await self.create(new_model=new_model)
        await self.upload()
        await self.chain.send([self.finalize_ix(), self.activate_ix(previous)], self.authority)


def _with_space(create: Instruction, space: int) -> Instruction:
    """A system CreateAccount with another `space` (bytes 12..20 of its bincode data)."""
    data = bytearray(bytes(create.data))
    data[12:20] = space.to_bytes(8, "little")
    return Instruction(create.program_id, bytes(data), list(create.accounts))


# ModelWeights.padding[0..2] (offset asserted in programs/ml_agent/src/state/model.rs): the
# marks finalize_version sets, then the CHECKS_EPOCH they were set under.
MARKS_OFFSET = 220
HEADER_CHECKED = 1
OPS_CHECKED = 2
CHECKS_EPOCH = 1


def set_account_data(chain: LiteSvmChain, address: Pubkey, data: bytes) -> None:
    """Overwrite an account's data in the in-process SVM (tampering tests)."""
    acc = chain.svm.get_account(address)
    assert acc is not None
    chain.svm.set_account(address, Account(acc.lamports, data, acc.owner, acc.executable, 0))


def funded(chain: LiteSvmChain) -> Keypair:
    kp = Keypair()
    chain.svm.airdrop(kp.pubkey(), 10 * 10**9)
    return kp
