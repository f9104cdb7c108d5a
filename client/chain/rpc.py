"""JSON-RPC backend: the ``Chain`` protocol against any Solana RPC node.

Works unchanged against Surfpool, solana-test-validator, devnet and mainnet.

Transport: requests go out as plain JSON over ``httpx`` (what solana-py's ``AsyncClient`` uses
underneath) instead of through ``AsyncClient``'s typed methods, because solders' response
parsers *panic* (pyo3 ``PanicException``, a ``BaseException`` that escapes ``except
Exception``) on JSON-RPC error objects without a ``data`` field, which Surfpool sends when a
transaction is rebroadcast. A real ``AsyncClient`` on the same URL is still available as
``RpcChain.client`` for code that wants solana-py/anchorpy types.

Sending: ``skipPreflight`` is on by default. A preflight simulation runs against the node's
*preflight commitment* bank, which on a real cluster can lag the bank our previous transaction
landed in (e.g. an account created one transaction earlier looks missing), giving spurious
failures; and a failed preflight returns an RPC error shaped differently from an on-chain
failure. With it off, a failing transaction lands (and pays its fee) and its error, logs and
compute units come back from ``getTransaction`` exactly as for a successful one. Use
``simulate`` when a dry run is wanted.

Landing: the signed transaction is rebroadcast every ``rebroadcast_interval`` seconds while
``getSignatureStatuses`` is polled, until it reaches the commitment or its blockhash expires
(block height > ``lastValidBlockHeight``). Expiry is only declared after one more status look-up
(with transaction history), so ``BlockhashExpired`` means it can no longer land and re-signing
is safe.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import httpx
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Commitment
from solders.account import Account
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction, VersionedTransaction

from client.chain.base import ChainError, TransactionFailed, TxResult
from client.chain.errors import (
    BlockhashExpired,
    ConfirmationTimeout,
    InsufficientFunds,
    RpcError,
    RpcUnavailable,
    TransactionDetailsUnavailable,
    ValidatorStartError,
    describe_transaction_error,
)

# The base fee per signature on every Solana cluster.
LAMPORTS_PER_SIGNATURE: Final = 5_000

if TYPE_CHECKING:
    from client.chain.base import Chain
    from client.chain.loader import DeployResult

__all__ = [
    "PACKET_DATA_SIZE",
    "BlockhashExpired",
    "ConfirmationTimeout",
    "RpcChain",
    "RpcError",
    "RpcUnavailable",
    "TransactionDetailsUnavailable",
    "wait_for_health",
]

log = logging.getLogger(__name__)

# Largest serialized transaction a validator accepts (IPv6 MTU minus headers).
PACKET_DATA_SIZE: Final = 1232
COMMITMENTS: Final = ("processed", "confirmed", "finalized")
# "Node is unhealthy / behind": worth retrying, unlike other JSON-RPC errors.
_TRANSIENT_RPC_CODES: Final = frozenset({-32005})
_MAX_ACCOUNTS_PER_CALL: Final = 100
# Enough to recognise a repeat of any transaction sent in the last minutes of heavy uploading.
_SENT_SIGNATURES_KEPT: Final = 100_000

SendItem = tuple[Sequence[Instruction], Sequence[Keypair]]


@dataclass(frozen=True)
class _Blockhash:
    blockhash: Hash
    last_valid_block_height: int
    fetched_at: float


class RpcChain:
    """``Chain`` over JSON-RPC.

    ``commitment`` is the level every read and confirmation waits for. Retries of transport
    errors (connection refused, timeouts, HTTP 429/5xx, "node unhealthy") back off exponentially
    from ``backoff_base`` up to ``backoff_max`` for at most ``max_retries`` retries, then raise
    ``RpcUnavailable`` naming the URL and method.
    """

    def __init__(
        self,
        url: str,
        commitment: Commitment | str = "confirmed",
        *,
        name: str | None = None,
        timeout: float = 10.0,
        max_retries: int = 4,
        backoff_base: float = 0.1,
        backoff_max: float = 2.0,
        rebroadcast_interval: float = 0.5,
        poll_interval: tuple[float, float] = (0.03, 0.4),
        confirm_timeout: float = 120.0,
        tx_details_timeout: float = 10.0,
        skip_preflight: bool = True,
        send_concurrency: int = 16,
        blockhash_reuse: float = 1.0,
    ) -> None:
        if commitment not in COMMITMENTS:
            raise ValueError(f"commitment must be one of {COMMITMENTS}, got {commitment!r}")
        if max_retries < 0 or send_concurrency < 1:
            raise ValueError("max_retries must be >= 0 and send_concurrency >= 1")
        self.url = url
        self.commitment: str = str(commitment)
        self.name = name or f"rpc:{url}"
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._rebroadcast_interval = rebroadcast_interval
        self._poll_min, self._poll_max = poll_interval
        self._confirm_timeout = confirm_timeout
        self._tx_details_timeout = tx_details_timeout
        self._skip_preflight = skip_preflight
        self._send_concurrency = send_concurrency
        self._blockhash_reuse = blockhash_reuse
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)))
        self._ids = itertools.count(1)
        self._blockhash_lock = asyncio.Lock()
        self._blockhash_cache: _Blockhash | None = None
        self._rent_cache: dict[int, int] = {}
        self._sent: OrderedDict[Signature, None] = OrderedDict()
        self._client: AsyncClient | None = None
        # Fee payers whose balance was checked once before their first send.
        self._funded_payers: set[Pubkey] = set()

    # ------------------------------------------------------------------ lifecycle

    @property
    def client(self) -> AsyncClient:
        """A solana-py ``AsyncClient`` on the same URL (for anchorpy and typed extras)."""
        if self._client is None:
            self._client = AsyncClient(self.url, commitment=Commitment(self.commitment))
        return self._client

    async def close(self) -> None:
        await self._http.aclose()
        if self._client is not None:
            await self._client.close()

    async def __aenter__(self) -> RpcChain:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ raw JSON-RPC

    async def call(self, method: str, params: Sequence[Any] = (), *, retry: bool = True) -> Any:
        """One JSON-RPC request; returns ``result``.

        Raises ``RpcError`` for an error answer, ``RpcUnavailable`` when no answer came.
        """
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        attempts = self._max_retries + 1 if retry else 1
        last: BaseException | str = "no attempt made"
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(self._backoff(attempt))
            try:
                resp = await self._http.post(self.url, json=body)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                continue
            except httpx.InvalidURL as exc:
                raise RpcUnavailable(self.url, method, attempt + 1, f"invalid URL: {exc}") from exc
            if resp.status_code == 429 or resp.status_code >= 500:
                last = f"HTTP {resp.status_code} {resp.reason_phrase}"
                continue
            if resp.status_code != 200:
                raise RpcUnavailable(
                    self.url, method, attempt + 1, f"HTTP {resp.status_code}: {resp.text[:200]}"
                )
            try:
                payload = resp.json()
            except ValueError:
                last = f"response is not JSON: {resp.text[:200]!r}"
                continue
            if not isinstance(payload, dict):
                last = f"unexpected response: {str(payload)[:200]}"
                continue
            error = payload.get("error")
            if error is not None:
                code = int(error.get("code", 0)) if isinstance(error, dict) else 0
                message = (
                    str(error.get("message", error)) if isinstance(error, dict) else str(error)
                )
                if code in _TRANSIENT_RPC_CODES:
                    last = f"error {code}: {message}"
                    continue
                data = error.get("data") if isinstance(error, dict) else None
                raise RpcError(self.url, method, code, message, data)
            return payload.get("result")
        raise RpcUnavailable(self.url, method, attempts, last)

    def _backoff(self, attempt: int) -> float:
        delay = min(self._backoff_base * 2 ** (attempt - 1), self._backoff_max)
        # Jitter keeps concurrent senders from retrying in lockstep against a struggling node.
        return delay * (0.5 + random.random() / 2)

    # ------------------------------------------------------------------ reads

    async def get_account(self, address: Pubkey) -> Account | None:
        value = (
            await self.call(
                "getAccountInfo",
                [str(address), {"encoding": "base64", "commitment": self.commitment}],
            )
        )["value"]
        return _parse_account(value)

    async def get_multiple_accounts(self, addresses: Sequence[Pubkey]) -> list[Account | None]:
        out: list[Account | None] = []
        for start in range(0, len(addresses), _MAX_ACCOUNTS_PER_CALL):
            chunk = addresses[start : start + _MAX_ACCOUNTS_PER_CALL]
            values = (
                await self.call(
                    "getMultipleAccounts",
                    [
                        [str(a) for a in chunk],
                        {"encoding": "base64", "commitment": self.commitment},
                    ],
                )
            )["value"]
            out.extend(_parse_account(v) for v in values)
        return out

    async def get_balance(self, address: Pubkey) -> int:
        result = await self.call("getBalance", [str(address), {"commitment": self.commitment}])
        return int(result["value"])

    async def latest_blockhash(self) -> Hash:
        return (await self._fresh_blockhash()).blockhash

    async def latest_blockhash_with_expiry(self) -> tuple[Hash, int]:
        """The latest blockhash and its ``lastValidBlockHeight`` (for ``send_transaction``)."""
        bh = await self._fresh_blockhash()
        return bh.blockhash, bh.last_valid_block_height

    async def minimum_balance_for_rent_exemption(self, size: int) -> int:
        if size not in self._rent_cache:
            self._rent_cache[size] = int(
                await self.call("getMinimumBalanceForRentExemption", [size])
            )
        return self._rent_cache[size]

    async def slot(self) -> int:
        return int(await self.call("getSlot", [{"commitment": self.commitment}]))

    async def block_height(self) -> int:
        return int(await self.call("getBlockHeight", [{"commitment": self.commitment}]))

    async def health(self) -> str:
        """``"ok"`` when healthy; raises ``RpcError`` with the node's reason otherwise."""
        return str(await self.call("getHealth", retry=False))

    # ------------------------------------------------------------------ writes

    async def airdrop(self, address: Pubkey, lamports: int) -> None:
        try:
            signature = await self.call(
                "requestAirdrop", [str(address), lamports, {"commitment": self.commitment}]
            )
        except RpcError as exc:
            raise ChainError(
                f"airdrop of {lamports} lamports to {address} refused by {self.url}: "
                f"{exc.rpc_message} (only local validators, devnet and testnet have a faucet)"
            ) from exc
        # The faucet signed before we ask, so our blockhash's expiry bounds the faucet's.
        _, last_valid = await self.latest_blockhash_with_expiry()
        status = await self._confirm(str(signature), None, last_valid)
        if status.get("err") is not None:
            message, _ = describe_transaction_error(status["err"])
            raise ChainError(f"airdrop transaction {signature} to {address} failed: {message}")

    async def simulate(
        self, instructions: Sequence[Instruction], payer: Keypair, signers: Sequence[Keypair] = ()
    ) -> TxResult:
        # The node swaps in its own blockhash and skips signature checks, so any blockhash works.
        tx = _sign(instructions, payer, signers, Hash.default())
        value = (
            await self.call(
                "simulateTransaction",
                [
                    base64.b64encode(bytes(tx)).decode(),
                    {
                        "encoding": "base64",
                        "sigVerify": False,
                        "replaceRecentBlockhash": True,
                        "commitment": self.commitment,
                    },
                ],
            )
        )["value"]
        logs = list(value.get("logs") or [])
        err = value.get("err")
        message, custom = describe_transaction_error(err, logs) if err is not None else (None, None)
        return TxResult(
            signature=None,
            ok=err is None,
            compute_units=int(value.get("unitsConsumed") or 0),
            logs=logs,
            return_data=_decode_return_data(value.get("returnData")),
            custom_error=custom,
            error=message,
            slot=None,
        )

    async def send(
        self,
        instructions: Sequence[Instruction],
        payer: Keypair,
        signers: Sequence[Keypair] = (),
        *,
        check: bool = True,
    ) -> TxResult:
        """Sign with a fresh blockhash, send, rebroadcast until confirmed; see module doc."""
        tx, bh = await self._sign_unique(instructions, payer, signers, max_age=0.0)
        return await self.send_transaction(tx, bh.last_valid_block_height, check=check)

    async def send_transaction(
        self,
        tx: Transaction | VersionedTransaction,
        last_valid_block_height: int | None,
        *,
        check: bool = True,
    ) -> TxResult:
        """Send an already-signed transaction and wait for it.

        ``last_valid_block_height`` is the value ``getLatestBlockhash`` returned with the
        transaction's blockhash; ``None`` means unknown, in which case only
        ``confirm_timeout`` bounds the wait.
        """
        raw = bytes(tx)
        if len(raw) > PACKET_DATA_SIZE:
            raise ChainError(
                f"transaction is {len(raw)} bytes, over the {PACKET_DATA_SIZE}-byte packet "
                "limit; split its instructions over several transactions"
            )
        await self._check_fee_payer(tx)
        encoded = base64.b64encode(raw).decode()
        signature = str(tx.signatures[0])
        preflight_failure = await self._broadcast(encoded, signature, first=True)
        if preflight_failure is not None:
            if check:
                raise TransactionFailed(preflight_failure)
            return preflight_failure
        self._remember(tx.signatures[0])
        status = await self._confirm(signature, encoded, last_valid_block_height)
        result = await self.transaction_result(signature, status)
        if check and not result.ok:
            raise TransactionFailed(result)
        return result

    async def _check_fee_payer(self, tx: Transaction | VersionedTransaction) -> None:
        """Once per fee payer: a payer that cannot cover the fee gets "insufficient funds" now.

        With preflight skipped the node would silently drop the transaction and the caller
        would see it expire ~60 s of slots later, as if the network had lost it.
        """
        payer = tx.message.account_keys[0]
        if payer in self._funded_payers:
            return
        balance = await self.get_balance(payer)
        needed = LAMPORTS_PER_SIGNATURE * len(tx.signatures)
        if balance < needed:
            raise InsufficientFunds(str(payer), balance, needed, self.url)
        self._funded_payers.add(payer)

    async def send_many(
        self,
        items: Sequence[SendItem],
        payer: Keypair,
        *,
        concurrency: int | None = None,
        check: bool = True,
        max_resigns: int = 2,
        on_result: Callable[[int, TxResult], None] | None = None,
    ) -> list[TxResult]:
        """Send independent transactions concurrently; results come back in input order.

        Each item is ``(instructions, extra_signers)``, all paid by ``payer``. At most
        ``concurrency`` transactions are in flight. Each is signed just before it is sent, with
        a blockhash shared for up to ``blockhash_reuse`` seconds, so a long upload never sends
        a transaction whose blockhash is already near expiry; one that still expires is
        re-signed up to ``max_resigns`` times (safe: expiry is only declared once it provably
        did not land). With ``check`` the first failure cancels the rest and is raised.
        ``on_result(index, result)`` is called as each one lands (progress reporting).
        """
        if not items:
            return []
        limit = asyncio.Semaphore(concurrency or self._send_concurrency)
        results: list[TxResult | None] = [None] * len(items)

        async def one(
            index: int, instructions: Sequence[Instruction], signers: Sequence[Keypair]
        ) -> None:
            async with limit:
                for attempt in range(max_resigns + 1):
                    tx, bh = await self._sign_unique(
                        instructions, payer, signers, max_age=self._blockhash_reuse
                    )
                    try:
                        result = await self.send_transaction(
                            tx, bh.last_valid_block_height, check=check
                        )
                    except BlockhashExpired:
                        if attempt == max_resigns:
                            raise
                        log.info("re-signing transaction %d of %d after expiry", index, len(items))
                        self._blockhash_cache = None
                        continue
                    results[index] = result
                    if on_result is not None:
                        on_result(index, result)
                    return

        tasks = [
            asyncio.create_task(one(i, instructions, signers))
            for i, (instructions, signers) in enumerate(items)
        ]
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in tasks:
            if task in done and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        if pending:
            raise ChainError("send_many: tasks were cancelled before finishing")
        return [r for r in results if r is not None]

    async def deploy_program(self, program: Keypair, elf: bytes, payer: Keypair) -> Pubkey:
        return (await self.deploy(program, elf, payer)).program_id

    async def deploy(
        self,
        program: Keypair | Pubkey,
        elf: bytes,
        payer: Keypair,
        *,
        max_data_len: int | None = None,
        concurrency: int | None = None,
        buffer: Keypair | None = None,
    ) -> DeployResult:
        """Deploy or upgrade through the BPF upgradeable loader; see ``loader.deploy_program``."""
        from client.chain.loader import deploy_program

        return await deploy_program(
            self,
            program,
            elf,
            payer,
            max_data_len=max_data_len,
            concurrency=concurrency,
            buffer=buffer,
        )

    # ------------------------------------------------------------------ internals

    async def _fresh_blockhash(self, max_age: float = 0.0) -> _Blockhash:
        async with self._blockhash_lock:
            cached = self._blockhash_cache
            if cached is not None and time.monotonic() - cached.fetched_at <= max_age:
                return cached
            value = (await self.call("getLatestBlockhash", [{"commitment": self.commitment}]))[
                "value"
            ]
            fresh = _Blockhash(
                Hash.from_string(value["blockhash"]),
                int(value["lastValidBlockHeight"]),
                time.monotonic(),
            )
            self._blockhash_cache = fresh
            return fresh

    async def _sign_unique(
        self,
        instructions: Sequence[Instruction],
        payer: Keypair,
        signers: Sequence[Keypair],
        *,
        max_age: float,
    ) -> tuple[Transaction, _Blockhash]:
        """Sign with a blockhash at most ``max_age`` s old, never reusing a sent signature.

        Two identical transactions with one blockhash have one signature, and the node would
        silently treat the second as a duplicate of the first; the caller meant two, so the
        second waits for a newer blockhash.
        """
        bh = await self._fresh_blockhash(max_age=max_age)
        tx = _sign(instructions, payer, signers, bh.blockhash)
        deadline = time.monotonic() + 30.0
        # The final membership check and _remember have no await in between, so concurrent
        # senders always see each other's signatures.
        while tx.signatures[0] in self._sent:
            if time.monotonic() > deadline:
                raise ChainError(
                    f"an identical transaction ({tx.signatures[0]}) was already sent and the "
                    f"blockhash on {self.url} has not changed for 30 s; add a distinguishing "
                    "instruction (e.g. a memo) to send it twice"
                )
            await asyncio.sleep(self._poll_min)
            newer = await self._fresh_blockhash()
            if newer.blockhash != bh.blockhash:
                bh = newer
                tx = _sign(instructions, payer, signers, bh.blockhash)
        self._remember(tx.signatures[0])
        return tx, bh

    def _remember(self, signature: Signature) -> None:
        self._sent[signature] = None
        if len(self._sent) > _SENT_SIGNATURES_KEPT:
            self._sent.popitem(last=False)

    async def _broadcast(self, encoded: str, signature: str, *, first: bool) -> TxResult | None:
        """sendTransaction. Returns a TxResult only for a failed preflight simulation."""
        params = [
            encoded,
            {
                "encoding": "base64",
                "skipPreflight": self._skip_preflight,
                "preflightCommitment": self.commitment,
            },
        ]
        try:
            returned = await self.call("sendTransaction", params, retry=first)
        except RpcUnavailable:
            if first:
                raise
            log.debug("rebroadcast of %s did not reach %s", signature, self.url)
            return None
        except RpcError as exc:
            data = exc.data if isinstance(exc.data, dict) else {}
            err = data.get("err")
            text = exc.rpc_message.lower()
            if "already been processed" in text or err == "AlreadyProcessed":
                return None  # it landed; the status poll will pick it up
            if err == "BlockhashNotFound" or "blockhash not found" in text:
                # A node behind the one that served the blockhash says this transiently; the
                # expiry check decides whether it is really gone.
                return None
            if not first:
                log.debug("rebroadcast of %s rejected: %s", signature, exc)
                return None
            if err is not None and "logs" in data:
                logs = list(data.get("logs") or [])
                message, custom = describe_transaction_error(err, logs)
                return TxResult(
                    signature=Signature.from_string(signature),
                    ok=False,
                    compute_units=int(data.get("unitsConsumed") or 0),
                    logs=logs,
                    return_data=_decode_return_data(data.get("returnData")),
                    custom_error=custom,
                    error=f"preflight simulation failed: {message}",
                    slot=None,
                )
            raise
        if first and returned != signature:
            log.warning("sendTransaction returned %s for transaction %s", returned, signature)
        return None

    async def _signature_status(self, signature: str, *, history: bool) -> dict[str, Any] | None:
        params: list[Any] = [[signature]]
        if history:
            params.append({"searchTransactionHistory": True})
        value = (await self.call("getSignatureStatuses", params))["value"]
        status = value[0] if value else None
        return status if isinstance(status, dict) else None

    async def _confirm(
        self, signature: str, encoded: str | None, last_valid_block_height: int | None
    ) -> dict[str, Any]:
        """Poll until the commitment is reached, rebroadcasting ``encoded`` meanwhile."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        next_rebroadcast = start + self._rebroadcast_interval
        delay = self._poll_min
        landed = False  # seen on chain: it cannot expire any more, just wait for commitment
        while True:
            status = await self._signature_status(signature, history=False)
            if status is not None:
                landed = True
                if _reached(status, self.commitment):
                    return status
            now = loop.time()
            if now - start > self._confirm_timeout:
                raise ConfirmationTimeout(
                    signature, self.url, self._confirm_timeout, status, self.commitment
                )
            if not landed and now >= next_rebroadcast:
                next_rebroadcast = now + self._rebroadcast_interval
                if last_valid_block_height is not None:
                    height = await self.block_height()
                    if height > last_valid_block_height:
                        final = await self._signature_status(signature, history=True)
                        if final is None:
                            raise BlockhashExpired(signature, last_valid_block_height, height)
                        if _reached(final, self.commitment):
                            return final
                        landed = True
                if encoded is not None and not landed:
                    await self._broadcast(encoded, signature, first=False)
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self._poll_max)

    async def transaction_result(self, signature: str, status: dict[str, Any]) -> TxResult:
        """Logs, compute units, return data and error of a landed transaction, given its
        `getSignatureStatuses` entry. Polls briefly: a node may report a status before it
        serves the transaction; raises TransactionDetailsUnavailable past the timeout."""
        # getTransaction does not serve "processed"; confirmed is the closest it has.
        commitment = "confirmed" if self.commitment == "processed" else self.commitment
        loop = asyncio.get_running_loop()
        start = loop.time()
        delay = self._poll_min
        while True:
            tx = await self.call(
                "getTransaction",
                [
                    signature,
                    {
                        "encoding": "json",
                        "commitment": commitment,
                        "maxSupportedTransactionVersion": 0,
                    },
                ],
            )
            if tx is not None:
                break
            waited = loop.time() - start
            if waited > self._tx_details_timeout:
                raise TransactionDetailsUnavailable(
                    signature, status.get("slot"), status.get("err") is None, waited
                )
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self._poll_max)
        meta = tx.get("meta") or {}
        logs = list(meta.get("logMessages") or [])
        err = meta.get("err")
        message, custom = describe_transaction_error(err, logs) if err is not None else (None, None)
        return TxResult(
            signature=Signature.from_string(signature),
            ok=err is None,
            compute_units=int(meta.get("computeUnitsConsumed") or 0),
            logs=logs,
            return_data=_decode_return_data(meta.get("returnData")),
            custom_error=custom,
            error=message,
            slot=int(tx["slot"]) if tx.get("slot") is not None else status.get("slot"),
        )


if TYPE_CHECKING:

    def _implements_chain(chain: RpcChain) -> Chain:  # mypy checks RpcChain against Chain
        return chain


def _sign(
    instructions: Sequence[Instruction],
    payer: Keypair,
    signers: Sequence[Keypair],
    blockhash: Hash,
) -> Transaction:
    message = Message.new_with_blockhash(list(instructions), payer.pubkey(), blockhash)
    required = list(message.account_keys[: message.header.num_required_signatures])
    available = {kp.pubkey(): kp for kp in (payer, *signers)}
    missing = [str(key) for key in required if key not in available]
    if missing:
        raise ChainError(
            f"transaction needs signatures from {', '.join(missing)}; pass them as signers"
        )
    # solders rejects keypairs the message does not ask for; extra signers are harmless to drop.
    return Transaction([available[key] for key in required], message, blockhash)


_COMMITMENT_RANK: Final = {name: rank for rank, name in enumerate(COMMITMENTS)}


def _reached(status: dict[str, Any], commitment: str) -> bool:
    level = status.get("confirmationStatus")
    if level is None:
        # Nodes predating confirmationStatus: confirmations is null once rooted (finalized).
        level = "finalized" if status.get("confirmations") is None else "confirmed"
    return _COMMITMENT_RANK.get(str(level), -1) >= _COMMITMENT_RANK[commitment]


def _parse_account(value: dict[str, Any] | None) -> Account | None:
    if value is None:
        return None
    data_field = value["data"]
    raw = data_field[0] if isinstance(data_field, list) else data_field
    return Account(
        lamports=int(value["lamports"]),
        data=base64.b64decode(raw),
        owner=Pubkey.from_string(value["owner"]),
        executable=bool(value["executable"]),
        rent_epoch=int(value.get("rentEpoch") or 0),
    )


def _decode_return_data(value: dict[str, Any] | None) -> bytes | None:
    """Decode ``returnData``; an empty payload is reported as None, as real nodes do."""
    if not value:
        return None
    data = value.get("data")
    encoded = data[0] if isinstance(data, list) else data
    if not encoded:
        return None
    try:
        return base64.b64decode(encoded)
    except (binascii.Error, ValueError) as exc:
        raise ChainError(f"node returned undecodable returnData {value!r}: {exc}") from exc


async def wait_for_health(
    url: str,
    *,
    timeout: float,
    what: str,
    exited: Callable[[], int | None] = lambda: None,
    diagnostics: Callable[[], str] = lambda: "",
) -> float:
    """Poll ``getHealth`` on ``url`` until it answers ``ok``; returns the seconds waited.

    ``exited`` returns the process's exit code once it died (stop waiting at once);
    ``diagnostics`` supplies its recent output for the error message.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    last = "no answer yet"
    async with httpx.AsyncClient(timeout=httpx.Timeout(2.0)) as http:
        while True:
            code = exited()
            if code is not None:
                raise ValidatorStartError(
                    f"{what} exited with code {code} before {url} became healthy"
                    f"{_tail(diagnostics())}"
                )
            try:
                resp = await http.post(
                    url, json={"jsonrpc": "2.0", "id": 1, "method": "getHealth", "params": []}
                )
                body = resp.json()
                if body.get("result") == "ok":
                    return loop.time() - start
                last = str(body.get("error") or body)
            except (httpx.HTTPError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            if loop.time() - start > timeout:
                raise ValidatorStartError(
                    f"{what}: RPC getHealth on {url} was not ok after {timeout:.0f}s "
                    f"(last answer: {last}){_tail(diagnostics())}"
                )
            await asyncio.sleep(0.1)


def _tail(text: str) -> str:
    text = text.strip()
    return f"; its output ends with:\n{text}" if text else "; it printed nothing"
