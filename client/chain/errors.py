"""Errors raised by the JSON-RPC backend, the program loader and the local-validator launchers.

All derive from ``ChainError`` so SDK code can catch one type; each carries the facts a caller
needs to act on it (which URL, which RPC method, which signature, which block height).
"""

from __future__ import annotations

from typing import Any

from client.chain.base import ChainError, TransactionFailed, TxResult
from client.chain.txerror import custom_error_code

__all__ = [
    "BlockhashExpired",
    "ChainError",
    "ConfirmationTimeout",
    "DeployError",
    "InsufficientFunds",
    "RpcError",
    "RpcUnavailable",
    "TransactionDetailsUnavailable",
    "TransactionFailed",
    "TxResult",
    "ValidatorNotInstalled",
    "ValidatorStartError",
]


class RpcUnavailable(ChainError):
    """The RPC node could not be reached (or kept failing) after bounded retries."""

    def __init__(self, url: str, method: str, attempts: int, cause: BaseException | str) -> None:
        super().__init__(
            f"RPC {method} to {url} failed after {attempts} attempt(s): {cause}. "
            "Is the validator running and the URL right?"
        )
        self.url = url
        self.method = method
        self.attempts = attempts
        self.cause = cause


class RpcError(ChainError):
    """The node answered with a JSON-RPC error object (the request itself was rejected)."""

    def __init__(
        self, url: str, method: str, code: int, message: str, data: Any | None = None
    ) -> None:
        super().__init__(f"RPC {method} to {url} returned error {code}: {message}")
        self.url = url
        self.method = method
        self.code = code
        self.rpc_message = message
        self.data = data


class BlockhashExpired(ChainError):
    """The transaction's blockhash expired before it landed; it can never land now.

    Safe to retry by re-signing with a fresh blockhash: the expired transaction was checked
    once more after expiry and is not on chain.
    """

    def __init__(
        self,
        signature: str,
        last_valid_block_height: int | None,
        block_height: int | None,
        detail: str = "",
    ) -> None:
        where = (
            f"block height {block_height} passed its lastValidBlockHeight {last_valid_block_height}"
            if last_valid_block_height is not None
            else "the node does not know its blockhash"
        )
        super().__init__(
            f"transaction {signature} was not confirmed before its blockhash expired ({where})"
            f"{'; ' + detail if detail else ''}; re-sign it with a fresh blockhash and resend"
        )
        self.signature = signature
        self.last_valid_block_height = last_valid_block_height
        self.block_height = block_height


class ConfirmationTimeout(ChainError):
    """The transaction did not reach the commitment within the client's overall time limit.

    Raised only when expiry could not be decided (the node's block height stalled, or the
    transaction landed but never reached the commitment), so it may still land: check
    ``signature`` before re-sending.
    """

    def __init__(
        self,
        signature: str,
        url: str,
        timeout: float,
        status: dict[str, Any] | None,
        commitment: str,
    ) -> None:
        seen = (
            f"last status {status.get('confirmationStatus')} in slot {status.get('slot')}"
            if status
            else "never seen on chain"
        )
        super().__init__(
            f"transaction {signature} did not reach {commitment} on {url} within "
            f"{timeout:.0f}s ({seen}); is the validator producing blocks? Check the signature "
            "before re-sending: it may still land"
        )
        self.signature = signature
        self.status = status


class TransactionDetailsUnavailable(ChainError):
    """The transaction landed but the node would not return its details (logs, units)."""

    def __init__(self, signature: str, slot: int | None, ok: bool, waited: float) -> None:
        super().__init__(
            f"transaction {signature} landed in slot {slot} ({'ok' if ok else 'failed'}) but "
            f"getTransaction returned null for {waited:.1f}s; the node may run without "
            "transaction history (--enable-rpc-transaction-history) or be lagging"
        )
        self.signature = signature
        self.slot = slot
        self.ok = ok


class InsufficientFunds(ChainError):
    """The fee payer cannot pay: said at once instead of letting the blockhash expire."""

    def __init__(self, payer: str, balance: int, needed: int, url: str) -> None:
        sol = needed / 1e9
        super().__init__(
            f"insufficient funds: fee payer {payer} has {balance} lamports on {url}, needs at "
            f"least {needed} ({sol:.9f} SOL); fund it (local: `python -m client localnet` "
            f"funds the configured keypair; devnet: `solana airdrop 1 {payer} -u d`)"
        )
        self.payer = payer
        self.balance = balance
        self.needed = needed


class DeployError(ChainError):
    """A program deploy/upgrade through the upgradeable loader cannot proceed."""


class ValidatorStartError(ChainError):
    """A local validator (Surfpool or solana-test-validator) failed to start or get healthy."""


class ValidatorNotInstalled(ValidatorStartError):
    """The local validator's binary or runtime is missing; the message says how to install it."""


def describe_transaction_error(err: Any, logs: list[str] | None = None) -> tuple[str, int | None]:
    """Turn a JSON transaction error into (readable message, custom error code or None).

    ``err`` is the RPC's JSON form, e.g. ``{"InstructionError": [0, {"Custom": 6001}]}`` or
    ``"BlockhashNotFound"``. The most telling program log line is appended because the bare
    error ("custom program error 0x1") rarely says what went wrong.
    """
    custom = custom_error_code(err)
    if isinstance(err, dict) and "InstructionError" in err:
        index, detail = err["InstructionError"]
        if custom is not None:
            what = f"custom program error {custom} (0x{custom:x})"
        elif isinstance(detail, dict):
            what = ", ".join(f"{k}: {v}" for k, v in detail.items())
        else:
            what = str(detail)
        message = f"instruction {index} failed: {what}"
    elif isinstance(err, dict):
        message = ", ".join(f"{k}: {v}" for k, v in err.items())
    else:
        message = str(err)
    hint = _telling_log_line(logs or [])
    if hint:
        message += f'; log: "{hint}"'
    return message, custom


def _telling_log_line(logs: list[str]) -> str | None:
    # Runtime bookkeeping lines ("Program X invoke [1]", "... consumed N of M compute units",
    # "... failed: ...") repeat the error; the line before them usually explains it.
    for line in reversed(logs):
        if line.startswith("Program ") and (
            " invoke [" in line
            or " consumed " in line
            or line.endswith(" success")
            or " failed: " in line
        ):
            continue
        return line
    return None
