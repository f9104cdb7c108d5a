"""Pipelined, resumable chunk upload through staging pages.

The chain is the upload's only state. Each round reads which chunks the weights account already
holds (its bitmap) and, for the pages still needed, which page accounts exist and which of their
chunks are written; then it opens the missing pages (declaring their chunks' hashes), writes the
missing chunks, and commits the complete pages into the weights account. A killed or failed
upload therefore resumes by running the same code again, and rewriting a chunk that did land
after all is harmless (the program treats an identical rewrite as a no-op).

Writes go to 10 KiB pages, never to the weights account: a validator charges every transaction
that touches (even reads) a large account in proportion to its size, so only the few commit
transactions touch it. Sending goes through `Chain.send_many` where the backend has it
(JSON-RPC: bounded concurrency, rebroadcast of the same signed transaction until its blockhash
expires, re-signing after expiry, retries with backoff on transport errors); the in-process SVM
sends one by one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from solders.compute_budget import set_compute_unit_limit
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from ..chain.base import Chain, ChainError, TransactionFailed, TxResult
from . import instructions as ix
from .accounts import PageInfo, VersionInfo
from .layout import MAX_PAGES_PER_COMMIT, ModelHashes, PageLayout, WeightsLayout, page_address
from .progress import UploadProgress
from .sender import BulkSender, supports_bulk

log = logging.getLogger(__name__)

SendItem = tuple[Sequence[Instruction], Sequence[Keypair]]
ProgressFn = Callable[[UploadProgress], None]
LAMPORTS_PER_SIGNATURE = 5000
PACKET_DATA_SIZE = 1232
MAX_COMPUTE_UNITS = 1_400_000
# Compute units per committed page (hash-table merge, memcpy, close), with headroom.
COMMIT_UNITS_PER_PAGE = 6_000


class UploadIncomplete(ChainError):
    """Rounds of sending did not complete the upload (the chain kept failing)."""


@dataclass
class TxStats:
    """What a deploy cost: transactions, signatures (fees) and compute units by kind."""

    transactions: int = 0
    signatures: int = 0
    compute_units: dict[str, list[int]] = field(default_factory=dict)

    def add(self, kind: str, result: TxResult, signers: int = 1) -> None:
        self.transactions += 1
        self.signatures += signers
        self.compute_units.setdefault(kind, []).append(result.compute_units)

    @property
    def fee_lamports(self) -> int:
        return self.signatures * LAMPORTS_PER_SIGNATURE

    def count(self, kind: str) -> int:
        return len(self.compute_units.get(kind, []))


def fits(instructions: Sequence[Instruction], payer: Keypair, signers: Sequence[Keypair]) -> bool:
    """Whether a transaction of these instructions fits the 1,232-byte packet."""
    tx = Transaction.new_signed_with_payer(
        list(instructions), payer.pubkey(), [payer, *signers], Hash.default()
    )
    return len(bytes(tx)) <= PACKET_DATA_SIZE


def pack(
    instructions: Sequence[Instruction], payer: Keypair, prefix: Sequence[Instruction] = ()
) -> list[list[Instruction]]:
    """Greedily group instructions into as few transactions as fit (each starting `prefix`)."""
    groups: list[list[Instruction]] = []
    current: list[Instruction] = []
    for instruction in instructions:
        if current and not fits([*prefix, *current, instruction], payer, ()):
            groups.append([*prefix, *current])
            current = []
        current.append(instruction)
    if current:
        groups.append([*prefix, *current])
    return groups


async def send_all(
    chain: Chain,
    payer: Keypair,
    items: Sequence[SendItem],
    *,
    concurrency: int,
    on_result: Callable[[int, TxResult], None],
) -> list[TxResult]:
    """Send independent transactions, pipelined when the backend supports it: JSON-RPC chains
    through the bulk sender (batched status polling, see `sender.py`), other backends with a
    `send_many` through it, the in-process SVM one by one."""
    if supports_bulk(chain):
        results: dict[int, TxResult] = {}

        def record(i: int, result: TxResult) -> None:
            results[i] = result
            on_result(i, result)

        sender = BulkSender(chain, payer, window=concurrency)  # type: ignore[arg-type]
        await sender.send(items, record)
        return [results[i] for i in range(len(items))]
    send_many = getattr(chain, "send_many", None)
    if send_many is not None:
        landed: list[TxResult] = await send_many(
            items, payer, concurrency=concurrency, on_result=on_result
        )
        return landed
    out: list[TxResult] = []
    for i, (instructions, signers) in enumerate(items):
        result = await chain.send(instructions, payer, signers)
        on_result(i, result)
        out.append(result)
    return out


@dataclass
class Uploader:
    """Uploads one version. `tail` (finalize, activate...) rides in the last commit transaction
    when it fits, so the large weights account is touched as few times as possible."""

    chain: Chain
    authority: Keypair
    weights: Pubkey
    data: bytes
    layout: WeightsLayout
    hashes: ModelHashes
    stats: TxStats
    concurrency: int = 32
    progress: ProgressFn | None = None
    max_rounds: int = 6
    tail: list[Instruction] = field(default_factory=list)
    tail_units: int = 0
    tail_sent: bool = False

    @property
    def me(self) -> Pubkey:
        return self.authority.pubkey()

    def page_key(self, index: int) -> Pubkey:
        return page_address(self.weights, self.me, index)

    def open_page_ix(self, page: PageLayout) -> Instruction:
        return ix.open_page(self.me, self.weights, page, self.layout, self.hashes.chunk_hashes)

    async def fetch(self) -> VersionInfo:
        acc = await self.chain.get_account(self.weights)
        if acc is None:
            raise ChainError(f"weights account {self.weights} does not exist")
        return VersionInfo.decode(self.weights, bytes(acc.data), acc.lamports, len(acc.data))

    async def run(self) -> VersionInfo:
        """Open, write and commit until the weights account holds every chunk. Program errors
        abort at once; transport errors retry from the chain's state."""
        for attempt in range(self.max_rounds):
            v = await self.fetch()
            if v.status != "uploading":
                return v
            missing = v.missing()
            if not missing:
                await self._commit([])  # nothing to commit; still send the tail
                return await self.fetch()
            if attempt:
                log.info("upload round %d: %d chunks still missing", attempt + 1, len(missing))
            try:
                await self._round(missing)
            except TransactionFailed:
                raise
            except ChainError as e:
                log.warning(
                    "upload round %d interrupted: %s; resuming from chain state", attempt, e
                )
                await asyncio.sleep(min(0.5 * 2**attempt, 5.0))
        v = await self.fetch()
        if v.status == "uploading" and v.missing():
            raise UploadIncomplete(
                f"{len(v.missing())} of {v.chunk_count} chunks still missing after "
                f"{self.max_rounds} rounds; rerun the same command to resume"
            )
        return v

    async def _round(self, missing: list[int]) -> None:
        needed = sorted({WeightsLayout.page_of(i) for i in missing})
        keys = [self.page_key(p) for p in needed]
        accounts = await self.chain.get_multiple_accounts(keys)
        pages: dict[int, PageInfo | None] = {}
        for p, key, acc in zip(needed, keys, accounts, strict=True):
            pages[p] = None if acc is None else PageInfo.decode(key, bytes(acc.data), acc.lamports)

        to_open = [self.layout.page(p) for p in needed if pages[p] is None]
        if to_open:
            groups = pack([self.open_page_ix(p) for p in to_open], self.authority)
            await self._send(
                "pages", [(g, []) for g in groups], [32 * len(g) for g in groups], "open"
            )

        writes: list[int] = []
        for p in needed:
            info = pages[p]
            writes += [c for c in self.layout.page(p).chunks if info is None or not info.written(c)]
        if writes:
            items: list[SendItem] = [
                (
                    [
                        ix.write_chunk(
                            self.me, self.page_key(WeightsLayout.page_of(c)), c, self._chunk(c)
                        )
                    ],
                    [],
                )
                for c in writes
            ]
            await self._send("chunks", items, [self.layout.chunk_len(c) for c in writes], "write")
        await self._commit(needed)

    def _chunk(self, index: int) -> bytes:
        cs = self.layout.chunk_size
        return self.data[index * cs : (index + 1) * cs]

    async def _commit(self, pages: list[int]) -> None:
        """Commit `pages` in as few transactions as fit; the tail joins the last one."""
        keys = [self.page_key(p) for p in pages]
        limit = [set_compute_unit_limit(MAX_COMPUTE_UNITS)]
        batches: list[list[Pubkey]] = []
        for key in keys:
            if (
                batches
                and len(batches[-1]) < MAX_PAGES_PER_COMMIT
                and fits(
                    [*limit, ix.commit_pages(self.me, self.weights, [*batches[-1], key])],
                    self.authority,
                    (),
                )
            ):
                batches[-1].append(key)
            else:
                batches.append([key])
        txs: list[list[Instruction]] = [
            [
                set_compute_unit_limit(COMMIT_UNITS_PER_PAGE * len(b) + 20_000),
                ix.commit_pages(self.me, self.weights, b),
            ]
            for b in batches
        ]
        if self.tail and not self.tail_sent:
            units = self.tail_units + (COMMIT_UNITS_PER_PAGE * len(batches[-1]) if batches else 0)
            last = (
                [set_compute_unit_limit(min(units, MAX_COMPUTE_UNITS)), *txs[-1][1:]] if txs else []
            )
            if txs and fits([*last, *self.tail], self.authority, ()):
                txs[-1] = [*last, *self.tail]
            else:
                txs.append(
                    [set_compute_unit_limit(min(self.tail_units, MAX_COMPUTE_UNITS)), *self.tail]
                )
        if not txs:
            return
        # Commits all lock the weights account, so they land one after another anyway; the tail
        # must come after every other commit.
        head, last_tx = txs[:-1], txs[-1]
        if head:
            await self._send("commit", [(t, []) for t in head], [0] * len(head), "commit")
        result = await self.chain.send(last_tx, self.authority)
        self.stats.add("finalize" if self.tail and not self.tail_sent else "commit", result)
        if self.tail:
            self.tail_sent = True

    async def _send(self, phase: str, items: list[SendItem], sizes: list[int], kind: str) -> None:
        started = time.monotonic()
        total_bytes = sum(sizes)
        done = 0
        done_bytes = 0

        def on_result(i: int, result: TxResult) -> None:
            nonlocal done, done_bytes
            self.stats.add(kind, result)
            done += 1
            done_bytes += sizes[i]
            if self.progress is not None:
                self.progress(
                    UploadProgress(
                        phase,
                        done,
                        len(items),
                        done_bytes,
                        total_bytes,
                        time.monotonic() - started,
                    )
                )

        await send_all(
            self.chain, self.authority, items, concurrency=self.concurrency, on_result=on_result
        )
