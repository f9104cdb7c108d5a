"""Pipelined, resumable chunk upload.

The chain is the upload's only state: each round reads which chunk hashes are declared and which
chunks are written (the weights account's table and bitmap), then sends just the rest. A killed
or failed upload therefore resumes by running the same code again, and rewriting a chunk that
did land after all is harmless (the program treats an identical rewrite as a no-op).

Sending goes through `Chain.send_many` where the backend has it (JSON-RPC: bounded concurrency,
rebroadcast of the same signed transaction until its blockhash expires, re-signing after
expiry, retries with backoff on transport errors); the in-process SVM sends one by one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from ..chain.base import Chain, ChainError, TransactionFailed, TxResult
from . import instructions as ix
from .accounts import VersionInfo
from .layout import MAX_HASHES_PER_DECLARE, ModelHashes, WeightsLayout
from .progress import UploadProgress

log = logging.getLogger(__name__)

SendItem = tuple[Sequence[Instruction], Sequence[Keypair]]
ProgressFn = Callable[[UploadProgress], None]
LAMPORTS_PER_SIGNATURE = 5000


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


async def send_all(
    chain: Chain,
    payer: Keypair,
    items: Sequence[SendItem],
    *,
    concurrency: int,
    on_result: Callable[[int, TxResult], None],
) -> list[TxResult]:
    """Send independent transactions, pipelined when the backend supports it."""
    send_many = getattr(chain, "send_many", None)
    if send_many is not None:
        results: list[TxResult] = await send_many(
            items, payer, concurrency=concurrency, on_result=on_result
        )
        return results
    out: list[TxResult] = []
    for i, (instructions, signers) in enumerate(items):
        result = await chain.send(instructions, payer, signers)
        on_result(i, result)
        out.append(result)
    return out


def declare_runs(indices: list[int], max_per_tx: int = MAX_HASHES_PER_DECLARE) -> list[range]:
    """Split sorted chunk indices into consecutive runs of at most `max_per_tx`."""
    runs: list[range] = []
    start = prev = -2
    for i in indices:
        if i == prev + 1 and i - start < max_per_tx:
            prev = i
            continue
        if start >= 0:
            runs.append(range(start, prev + 1))
        start = prev = i
    if start >= 0:
        runs.append(range(start, prev + 1))
    return runs


@dataclass
class Uploader:
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

    async def fetch(self) -> VersionInfo:
        acc = await self.chain.get_account(self.weights)
        if acc is None:
            raise ChainError(f"weights account {self.weights} does not exist")
        return VersionInfo.decode(self.weights, bytes(acc.data), acc.lamports, len(acc.data))

    async def run(self) -> VersionInfo:
        """Declare every missing chunk hash, then write every missing chunk; repeat until the
        chain shows none missing. Program errors abort at once; transport errors retry."""
        for attempt in range(self.max_rounds):
            v = await self.fetch()
            if v.status != "uploading":
                return v
            undeclared, missing = v.undeclared(), v.missing()
            if not undeclared and not missing:
                return v
            if attempt:
                log.info(
                    "upload round %d: %d hashes and %d chunks still missing",
                    attempt + 1,
                    len(undeclared),
                    len(missing),
                )
            try:
                if undeclared:
                    await self._declare(undeclared)
                if missing:
                    await self._write(missing)
            except TransactionFailed:
                raise
            except ChainError as e:
                log.warning(
                    "upload round %d interrupted: %s; resuming from chain state", attempt, e
                )
                await asyncio.sleep(min(0.5 * 2**attempt, 5.0))
        v = await self.fetch()
        if v.undeclared() or v.missing():
            raise UploadIncomplete(
                f"{len(v.missing())} of {v.chunk_count} chunks still missing after "
                f"{self.max_rounds} rounds; rerun the same command to resume"
            )
        return v

    async def _declare(self, undeclared: list[int]) -> None:
        me = self.authority.pubkey()
        runs = declare_runs(undeclared)
        items: list[SendItem] = [
            (
                [
                    ix.declare_chunk_hashes(
                        me, self.weights, r.start, [self.hashes.chunk_hashes[i] for i in r]
                    )
                ],
                [],
            )
            for r in runs
        ]
        await self._send("hashes", items, [32 * len(r) for r in runs])

    async def _write(self, missing: list[int]) -> None:
        me = self.authority.pubkey()
        cs = self.layout.chunk_size
        items: list[SendItem] = [
            ([ix.write_chunk(me, self.weights, i, self.data[i * cs : (i + 1) * cs])], [])
            for i in missing
        ]
        await self._send("chunks", items, [self.layout.chunk_len(i) for i in missing])

    async def _send(self, phase: str, items: list[SendItem], sizes: list[int]) -> None:
        kind = "declare" if phase == "hashes" else "write"
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
