"""The async interface every backend (LiteSVM in-process, JSON-RPC) implements.

Keeping it small lets the SDK, CLI, tests and bots run unchanged against the embedded SVM, a local
validator, devnet or mainnet.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from solders.account import Account
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature


class ChainError(Exception):
    """A chain operation failed; the message says which and why."""


@dataclass
class TxResult:
    """Outcome of a landed (or simulated) transaction."""

    signature: Signature | None
    ok: bool
    compute_units: int
    logs: list[str] = field(default_factory=list)
    return_data: bytes | None = None
    # The program's custom error code (Anchor numbering, 6000+) or None.
    custom_error: int | None = None
    # Human-readable transaction error when not ok.
    error: str | None = None
    slot: int | None = None


class TransactionFailed(ChainError):
    """The transaction executed and failed; carries the logs and the program's error code."""

    def __init__(self, result: TxResult) -> None:
        code = f" (custom error {result.custom_error})" if result.custom_error is not None else ""
        named = anchor_error_text(result.logs)
        named = f": {named}" if named else ""
        super().__init__(f"transaction failed: {result.error}{code}{named}")
        self.result = result


# anchor-lang's error line (the program logs it on failure; see programs/ml_agent/src/error.rs).
_ANCHOR_ERROR = re.compile(
    r"^Program log: AnchorError occurred\. Error Code: (.*)\. Error Number: \d+\. "
    r"Error Message: (.*)\.$"
)


def anchor_error_text(logs: Sequence[str]) -> str | None:
    """``<Name>: <message>`` from the first AnchorError line in ``logs``, if any."""
    for line in logs:
        if m := _ANCHOR_ERROR.match(line):
            return f"{m.group(1)}: {m.group(2)}"
    return None


class Chain(Protocol):
    """What the SDK needs from a cluster."""

    name: str

    async def get_account(self, address: Pubkey) -> Account | None: ...

    async def get_multiple_accounts(self, addresses: Sequence[Pubkey]) -> list[Account | None]: ...

    async def get_balance(self, address: Pubkey) -> int: ...

    async def latest_blockhash(self) -> Hash: ...

    async def minimum_balance_for_rent_exemption(self, size: int) -> int: ...

    async def slot(self) -> int: ...

    async def airdrop(self, address: Pubkey, lamports: int) -> None: ...

    async def simulate(
        self, instructions: Sequence[Instruction], payer: Keypair, signers: Sequence[Keypair] = ()
    ) -> TxResult: ...

    async def send(
        self,
        instructions: Sequence[Instruction],
        payer: Keypair,
        signers: Sequence[Keypair] = (),
        *,
        check: bool = True,
    ) -> TxResult:
        """Sign, send and wait for confirmation. Raises TransactionFailed when check and not ok."""
        ...

    async def deploy_program(self, program: Keypair, elf: bytes, payer: Keypair) -> Pubkey:
        """Deploy (or upgrade) the program ELF at program.pubkey(); returns the program id."""
        ...

    async def close(self) -> None: ...


async def next_slot(chain: Chain, *, poll_s: float = 0.05, timeout_s: float = 30.0) -> int:
    """Move past the current slot: warp an embedded SVM by one, wait on a cluster. An agent
    takes at most one price sample per slot, so back-to-back cranks go through this."""
    import asyncio

    start = await chain.slot()
    warp = getattr(chain, "warp_slots", None)
    if warp is not None:
        warp(1)
        return await chain.slot()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while (now := await chain.slot()) <= start:
        if loop.time() > deadline:
            raise ChainError(f"the cluster stayed at slot {start} for {timeout_s:.0f} s")
        await asyncio.sleep(poll_s)
    return now
