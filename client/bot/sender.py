"""Send one step's transaction exactly once: size it, price it, land it, never double it.

The rule (see docs/bots.md):

1. Simulate with the maximum compute limit; set the limit to the simulated units + margin
   (at least the plan's ``min_compute_units``).
2. Sign once. Broadcast that *same* signed transaction, rebroadcasting while polling its status
   (``RpcChain.send_transaction``). A signature can land at most once, so resending it after a
   timeout, a 5xx, a dropped connection or a node restart can never double the step.
3. Only when its blockhash has expired *and* a final status look-up with history shows it did
   not land (``BlockhashExpired``), and the step counter on chain has not moved, sign again with
   a fresh blockhash.

Backends without raw-transaction access (LiteSVM) are sent with ``Chain.send`` directly; they
execute synchronously, so there is nothing in flight to lose.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import httpx
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from ..chain.base import Chain, ChainError, TxResult
from ..chain.errors import (
    BlockhashExpired,
    ConfirmationTimeout,
    RpcError,
    RpcUnavailable,
    TransactionDetailsUnavailable,
)
from .logs import EventLogger
from .metrics import BotMetrics
from .steps import StepPlan

MAX_TX_CU = 1_400_000
CU_MARGIN = 0.10

# Failures after which the same signed transaction may still land: resend it, never re-sign.
TRANSIENT = (RpcUnavailable, ConfirmationTimeout, TransactionDetailsUnavailable, httpx.HTTPError)


class SendFailed(ChainError):
    """A step could not be landed within the sender's bounds (the message says why)."""

    def __init__(self, message: str, result: TxResult | None = None) -> None:
        super().__init__(message)
        self.result = result


class CounterMoved(ChainError):
    """The step counter advanced without our transaction: someone else cranked this step."""


@runtime_checkable
class RawTransactionChain(Protocol):
    """A backend that can send a pre-signed transaction (``RpcChain``)."""

    async def latest_blockhash_with_expiry(self) -> tuple[Hash, int]: ...

    async def send_transaction(
        self, tx: Transaction, last_valid_block_height: int | None, *, check: bool = True
    ) -> TxResult: ...


class FeePolicy(Protocol):
    async def micro_lamports(self, chain: Chain, writable: Sequence[Pubkey]) -> int:
        """Priority fee for the next transaction, in micro-lamports per compute unit."""
        ...


@dataclass(frozen=True)
class FixedFee:
    micro_lamports_per_cu: int = 0

    async def micro_lamports(self, chain: Chain, writable: Sequence[Pubkey]) -> int:
        return self.micro_lamports_per_cu


@dataclass(frozen=True)
class RecentFeePercentile:
    """A percentile of ``getRecentPrioritizationFees`` for the writable accounts, clamped to
    ``floor..cap``; ``floor`` when the node has no data or the backend is not JSON-RPC."""

    percentile: float = 75.0
    floor: int = 0
    cap: int = 1_000_000

    async def micro_lamports(self, chain: Chain, writable: Sequence[Pubkey]) -> int:
        call: Callable[..., Awaitable[Any]] | None = getattr(chain, "call", None)
        if call is None:
            return self.floor
        try:
            rows = await call("getRecentPrioritizationFees", [[str(a) for a in writable[:128]]])
        except (RpcError, RpcUnavailable):
            return self.floor
        fees = sorted(int(r.get("prioritizationFee", 0)) for r in rows or [])
        if not fees:
            return self.floor
        rank = max(1, math.ceil(self.percentile / 100 * len(fees)))
        return max(self.floor, min(self.cap, fees[rank - 1]))


@dataclass(frozen=True)
class SendReceipt:
    result: TxResult
    # First broadcast of the step to confirmed, across retries and re-signs (seconds).
    latency: float
    compute_unit_limit: int
    priority_fee: int
    resigns: int
    retries: int


@dataclass
class StepSender:
    chain: Chain
    payer: Keypair
    fee_policy: FeePolicy = FixedFee()
    cu_margin: float = CU_MARGIN
    # Fresh signatures allowed per step after provable expiry.
    max_resigns: int = 10
    # Total time a step may spend retrying transport failures before giving up.
    max_retry_seconds: float = 300.0
    retry_backoff: tuple[float, float] = (0.1, 3.0)
    metrics: BotMetrics | None = None
    log: EventLogger | None = None

    async def size(self, plan: StepPlan, fee: int) -> int:
        """The compute-unit limit for ``plan``: simulated units plus the margin."""
        ixs = self._with_budget(plan.instructions, MAX_TX_CU, fee)
        sim = await self.retrying(
            "simulate", lambda: self.chain.simulate(ixs, self.payer, plan.signers)
        )
        if not sim.ok:
            raise SendFailed(f"step {plan.step}: simulation failed: {sim.error}", sim)
        limit = math.ceil(max(sim.compute_units, 1) * (1 + self.cu_margin))
        return min(MAX_TX_CU, max(limit, plan.min_compute_units))

    async def send(
        self, plan: StepPlan, counter: Callable[[], Awaitable[int]] | None = None
    ) -> SendReceipt:
        """Land ``plan`` once. ``counter`` reads the on-chain step counter; it is consulted
        before any re-sign (a counter past ``plan.step`` means another sender landed it)."""
        writable = _writable(plan.instructions)
        fee = await self.fee_policy.micro_lamports(self.chain, writable)
        limit = await self.size(plan, fee)
        ixs = self._with_budget(plan.instructions, limit, fee)
        if not isinstance(self.chain, RawTransactionChain):
            start = time.perf_counter()
            result = await self.chain.send(ixs, self.payer, plan.signers, check=False)
            return SendReceipt(result, time.perf_counter() - start, limit, fee, 0, 0)
        return await self._send_raw(self.chain, plan, ixs, limit, fee, counter)

    async def _send_raw(
        self,
        chain: RawTransactionChain,
        plan: StepPlan,
        ixs: list[Instruction],
        limit: int,
        fee: int,
        counter: Callable[[], Awaitable[int]] | None,
    ) -> SendReceipt:
        resigns = retries = 0
        start: float | None = None
        retry_deadline: float | None = None
        tx, last_valid = await self._sign(chain, plan, ixs)
        while True:
            if start is None:
                start = time.perf_counter()
            try:
                result = await chain.send_transaction(tx, last_valid, check=False)
            except BlockhashExpired as exc:
                # Provably not landed under this signature. Check the counter before signing
                # anew: if it moved, someone else's transaction did the step.
                if counter is not None:
                    now = await self.retrying("read step counter", counter)
                    if now != plan.step:
                        raise CounterMoved(
                            f"step {plan.step}: counter is {now} after our transaction "
                            f"{exc.signature} expired unlanded"
                        ) from exc
                resigns += 1
                self._count("resigns")
                self._note("resign", step=plan.step, expired=exc.signature, resigns=resigns)
                if resigns > self.max_resigns:
                    raise SendFailed(
                        f"step {plan.step}: blockhash expired {resigns} times without landing"
                    ) from exc
                tx, last_valid = await self._sign(chain, plan, ixs)
                continue
            except TRANSIENT as exc:
                retries += 1
                self._count("send_retries")
                now_t = time.perf_counter()
                retry_deadline = retry_deadline or now_t + self.max_retry_seconds
                if now_t > retry_deadline:
                    raise SendFailed(
                        f"step {plan.step}: transport kept failing for "
                        f"{self.max_retry_seconds:.0f}s; transaction {tx.signatures[0]} may "
                        f"still land (last error: {exc})"
                    ) from exc
                self._note(
                    "resend_same_signature",
                    step=plan.step,
                    signature=str(tx.signatures[0]),
                    error=type(exc).__name__,
                )
                await asyncio.sleep(self._backoff(retries))
                continue
            return SendReceipt(result, time.perf_counter() - start, limit, fee, resigns, retries)

    async def _sign(
        self, chain: RawTransactionChain, plan: StepPlan, ixs: list[Instruction]
    ) -> tuple[Transaction, int]:
        blockhash, last_valid = await self.retrying(
            "getLatestBlockhash", chain.latest_blockhash_with_expiry
        )
        message = Message.new_with_blockhash(ixs, self.payer.pubkey(), blockhash)
        required = list(message.account_keys[: message.header.num_required_signatures])
        available = {kp.pubkey(): kp for kp in (self.payer, *plan.signers)}
        missing = [str(k) for k in required if k not in available]
        if missing:
            raise SendFailed(f"step {plan.step}: missing signers {', '.join(missing)}")
        return Transaction([available[k] for k in required], message, blockhash), last_valid

    async def retrying(self, what: str, op: Callable[[], Awaitable[Any]]) -> Any:
        """Run a read-only ``op``, retrying transport failures within ``max_retry_seconds``."""
        deadline = time.perf_counter() + self.max_retry_seconds
        attempt = 0
        while True:
            try:
                return await op()
            except (RpcUnavailable, httpx.HTTPError) as exc:
                attempt += 1
                self._count("send_retries")
                if time.perf_counter() > deadline:
                    raise SendFailed(f"{what} kept failing: {exc}") from exc
                await asyncio.sleep(self._backoff(attempt))

    def _backoff(self, attempt: int) -> float:
        low, high = self.retry_backoff
        return min(high, low * 2 ** min(attempt - 1, 16)) * (0.5 + random.random() / 2)

    @staticmethod
    def _with_budget(ixs: Sequence[Instruction], limit: int, fee: int) -> list[Instruction]:
        budget = [set_compute_unit_limit(limit)]
        if fee:
            budget.append(set_compute_unit_price(fee))
        return [*budget, *ixs]

    def _count(self, name: str) -> None:
        if self.metrics is not None:
            setattr(self.metrics, name, getattr(self.metrics, name) + 1)

    def _note(self, event: str, **fields: Any) -> None:
        if self.log is not None:
            self.log.info(event, **fields)


def _writable(ixs: Sequence[Instruction]) -> list[Pubkey]:
    seen: dict[Pubkey, None] = {}
    for ix in ixs:
        for meta in ix.accounts:
            if meta.is_writable:
                seen[meta.pubkey] = None
    return list(seen)
