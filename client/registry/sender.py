"""Bulk transaction sender for uploads over JSON-RPC.

`RpcChain.send_many` tracks every transaction on its own (its own status polls and a
`getTransaction` for details), several requests per transaction. For the ~1,100 independent
transactions of a 1 MiB upload that is most of the client's and the node's work, so this sender
keeps a window of signed transactions in flight and tracks them together:

* each transaction is signed (with a blockhash at most `blockhash_reuse` seconds old) and sent
  once, with preflight off;
* one `getSignatureStatuses` call per poll covers up to 256 in-flight signatures;
* a transaction not yet seen after `rebroadcast_interval` is re-sent *as signed* (same
  signature, so it can land at most once) until its blockhash expires; only when the block height
  has passed its `lastValidBlockHeight` and a history lookup still does not find it is it
  re-signed with a fresh blockhash (bounded by `max_resigns`);
* transport errors are retried with backoff by `RpcChain.call`; what still fails propagates, and
  the uploader resumes from the chain's state;
* a transaction that lands with an error is fetched with `getTransaction` and raised as
  `TransactionFailed` carrying its logs and program error code.

Compute units come back for the first transaction of each batch only (one `getTransaction`):
enough to report what a phase costs without a request per transaction.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.signature import Signature
from solders.transaction import Transaction

from ..chain.base import ChainError, TransactionFailed, TxResult
from ..chain.errors import (
    BlockhashExpired,
    RpcError,
    TransactionDetailsUnavailable,
    describe_transaction_error,
)

STATUS_BATCH = 256
_LEVELS = {"processed": 0, "confirmed": 1, "finalized": 2}


class RawRpc(Protocol):
    """What the bulk sender needs from a JSON-RPC chain (`RpcChain` provides it)."""

    url: str
    commitment: str

    async def call(self, method: str, params: Sequence[Any] = (), *, retry: bool = True) -> Any: ...

    async def latest_blockhash_with_expiry(self) -> tuple[Hash, int]: ...

    async def block_height(self) -> int: ...

    async def transaction_result(self, signature: str, status: dict[str, Any]) -> TxResult: ...


def supports_bulk(chain: object) -> bool:
    return all(
        hasattr(chain, name) for name in ("call", "latest_blockhash_with_expiry", "block_height")
    )


@dataclass
class _Entry:
    index: int
    instructions: Sequence[Instruction]
    signers: Sequence[Keypair]
    signature: str = ""
    wire: str = ""
    last_valid: int = 0
    sent_at: float = 0.0
    resigns: int = 0


@dataclass
class BulkSender:
    chain: RawRpc
    payer: Keypair
    window: int = 64
    poll_interval: float = 0.1
    rebroadcast_interval: float = 1.0
    blockhash_reuse: float = 1.0
    max_resigns: int = 3

    _blockhash: tuple[Hash, int, float] | None = None

    async def send(
        self,
        items: Sequence[tuple[Sequence[Instruction], Sequence[Keypair]]],
        on_result: Callable[[int, TxResult], None],
    ) -> None:
        """Land every transaction of `items` (in any order); `on_result(index, result)` as each
        is confirmed. Raises `TransactionFailed` for the first one that fails on chain."""
        queue = deque(_Entry(i, ixs, signers) for i, (ixs, signers) in enumerate(items))
        pending: dict[str, _Entry] = {}
        detailed = False
        while queue or pending:
            fresh: list[_Entry] = []
            while queue and len(pending) + len(fresh) < self.window:
                entry = queue.popleft()
                await self._sign(entry)
                fresh.append(entry)
            await asyncio.gather(*(self._broadcast(e, first=True) for e in fresh))
            pending.update((e.signature, e) for e in fresh)

            await asyncio.sleep(self.poll_interval)
            statuses = await self._statuses(list(pending), history=False)
            for signature, status in statuses.items():
                if status is None:
                    continue
                if status.get("err") is not None:
                    raise TransactionFailed(await self._details(signature, status))
                if _LEVELS.get(str(status.get("confirmationStatus")), -1) < _LEVELS.get(
                    self.chain.commitment, 1
                ):
                    continue
                entry = pending.pop(signature)
                if not detailed:
                    result = await self._details(signature, status)
                    detailed = True
                else:
                    result = TxResult(
                        signature=Signature.from_string(signature),
                        ok=True,
                        compute_units=0,
                        slot=status.get("slot"),
                    )
                on_result(entry.index, result)
            await self._retry_stale(pending, queue, statuses)

    async def _retry_stale(
        self,
        pending: dict[str, _Entry],
        queue: deque[_Entry],
        statuses: dict[str, dict[str, Any] | None],
    ) -> None:
        now = time.monotonic()
        stale = [
            e
            for sig, e in pending.items()
            if statuses.get(sig) is None and now - e.sent_at >= self.rebroadcast_interval
        ]
        if not stale:
            return
        height = await self.chain.block_height()
        expired = [e for e in stale if height > e.last_valid]
        if expired:
            # A last look with history: "not found" now means it can never land.
            final = await self._statuses([e.signature for e in expired], history=True)
            for e in expired:
                if final.get(e.signature) is not None:
                    continue  # it landed after all; the next poll picks it up
                del pending[e.signature]
                e.resigns += 1
                if e.resigns > self.max_resigns:
                    raise BlockhashExpired(e.signature, e.last_valid, height)
                self._blockhash = None
                queue.appendleft(e)
        live = [e for e in stale if height <= e.last_valid]
        await asyncio.gather(*(self._broadcast(e, first=False) for e in live))

    async def _sign(self, entry: _Entry) -> None:
        now = time.monotonic()
        if self._blockhash is None or now - self._blockhash[2] > self.blockhash_reuse:
            blockhash, last_valid = await self.chain.latest_blockhash_with_expiry()
            self._blockhash = (blockhash, last_valid, now)
        blockhash, last_valid, _ = self._blockhash
        signers = [self.payer, *[s for s in entry.signers if s.pubkey() != self.payer.pubkey()]]
        tx = Transaction.new_signed_with_payer(
            list(entry.instructions), self.payer.pubkey(), signers, blockhash
        )
        entry.signature = str(tx.signatures[0])
        entry.wire = base64.b64encode(bytes(tx)).decode()
        entry.last_valid = last_valid

    async def _broadcast(self, entry: _Entry, *, first: bool) -> None:
        entry.sent_at = time.monotonic()
        params = [entry.wire, {"encoding": "base64", "skipPreflight": True}]
        try:
            await self.chain.call("sendTransaction", params, retry=first)
        except RpcError as e:
            text = e.rpc_message.lower()
            if not first or "already been processed" in text or "blockhash not found" in text:
                return  # landed already, or the status/expiry checks decide
            raise
        except ChainError:
            if first:
                raise
            # A failed rebroadcast is retried at the next interval.

    async def _statuses(
        self, signatures: list[str], *, history: bool
    ) -> dict[str, dict[str, Any] | None]:
        out: dict[str, dict[str, Any] | None] = {}
        for start in range(0, len(signatures), STATUS_BATCH):
            batch = signatures[start : start + STATUS_BATCH]
            params: list[Any] = [batch]
            if history:
                params.append({"searchTransactionHistory": True})
            values = (await self.chain.call("getSignatureStatuses", params))["value"]
            for signature, value in zip(batch, values, strict=True):
                out[signature] = value if isinstance(value, dict) else None
        return out

    async def _details(self, signature: str, status: dict[str, Any]) -> TxResult:
        """The landed transaction's logs, compute units and error. A node that never serves
        the details still told us the outcome in `status`, which is all an upload needs."""
        try:
            return await self.chain.transaction_result(signature, status)
        except TransactionDetailsUnavailable:
            err = status.get("err")
            message, custom = (
                describe_transaction_error(err, []) if err is not None else (None, None)
            )
            return TxResult(
                signature=Signature.from_string(signature),
                ok=err is None,
                compute_units=0,
                custom_error=custom,
                error=message,
                slot=status.get("slot"),
            )
