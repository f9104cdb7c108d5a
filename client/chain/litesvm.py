"""In-process SVM backend (solders.litesvm): the embedded default for the demo and fast tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from solders.account import Account
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.transaction import Transaction
from solders.transaction_metadata import FailedTransactionMetadata, TransactionMetadata

from ..artifacts import sbpf_version
from .base import ChainError, TransactionFailed, TxResult
from .txerror import custom_error_code

# solders 0.26 embeds an Agave 2.2-era program runtime: SBPF v0..v2 only (docs/toolchain.md).
MAX_SBPF_VERSION = 2


class LiteSvmChain:
    """`Chain` over an in-process LiteSVM. Every call is synchronous underneath; the async API
    keeps callers identical to the RPC backend."""

    name = "embedded"

    def __init__(self, svm: LiteSVM | None = None, *, compute_limit: int | None = None) -> None:
        self.svm = svm if svm is not None else LiteSVM()
        self._compute_limit = compute_limit

    @classmethod
    def with_program(cls, program_id: Pubkey, elf_path: Path) -> LiteSvmChain:
        chain = cls()
        if not elf_path.is_file():
            raise ChainError(
                f"program ELF not found at {elf_path}: run scripts/build-program.sh first"
            )
        chain.add_program(program_id, elf_path.read_bytes())
        return chain

    def add_program(self, program_id: Pubkey, elf: bytes) -> None:
        """Load `elf` at `program_id`; a clear error for an SBPF version this LiteSVM can't run."""
        try:
            version = sbpf_version(elf)
        except ValueError:
            raise ChainError("the program file is not an ELF") from None
        if version > MAX_SBPF_VERSION:
            raise ChainError(
                f"this is an SBPF v{version} ELF; the embedded LiteSVM (solders 0.26) loads only "
                f"SBPF v0..v{MAX_SBPF_VERSION}. Use the v0 build of the same program, "
                "target/deploy/ml_agent-sbpf-v0.so (scripts/build-program.sh writes both)"
            )
        self.svm.add_program(program_id, elf)

    async def get_account(self, address: Pubkey) -> Account | None:
        acc = self.svm.get_account(address)
        if acc is None or (acc.lamports == 0 and len(acc.data) == 0):
            return None
        return acc

    async def get_multiple_accounts(self, addresses: Sequence[Pubkey]) -> list[Account | None]:
        return [await self.get_account(a) for a in addresses]

    async def get_balance(self, address: Pubkey) -> int:
        return int(self.svm.get_balance(address) or 0)

    async def latest_blockhash(self) -> Hash:
        return self.svm.latest_blockhash()

    async def minimum_balance_for_rent_exemption(self, size: int) -> int:
        return int(self.svm.minimum_balance_for_rent_exemption(size))

    async def slot(self) -> int:
        return int(self.svm.get_clock().slot)

    async def airdrop(self, address: Pubkey, lamports: int) -> None:
        res = self.svm.airdrop(address, lamports)
        if isinstance(res, FailedTransactionMetadata):
            raise ChainError(f"airdrop to {address} failed: {res.err}")

    def _tx(
        self, instructions: Sequence[Instruction], payer: Keypair, signers: Sequence[Keypair]
    ) -> Transaction:
        all_signers = [payer, *[s for s in signers if s.pubkey() != payer.pubkey()]]
        return Transaction.new_signed_with_payer(
            list(instructions), payer.pubkey(), all_signers, self.svm.latest_blockhash()
        )

    @staticmethod
    def _result(meta: TransactionMetadata | FailedTransactionMetadata) -> TxResult:
        failed = isinstance(meta, FailedTransactionMetadata)
        inner: Any = _get(meta, "meta") if failed else meta
        err = _get(meta, "err") if failed else None
        rd = _get(inner, "return_data")
        rd_bytes = bytes(_get(rd, "data")) if rd is not None else b""
        return TxResult(
            signature=_get(inner, "signature"),
            ok=not failed,
            compute_units=int(_get(inner, "compute_units_consumed")),
            logs=list(_get(inner, "logs")),
            return_data=rd_bytes or None,
            custom_error=custom_error_code(err),
            error=str(err) if failed else None,
        )

    async def simulate(
        self, instructions: Sequence[Instruction], payer: Keypair, signers: Sequence[Keypair] = ()
    ) -> TxResult:
        res = self.svm.simulate_transaction(self._tx(instructions, payer, signers))
        if isinstance(res, FailedTransactionMetadata):
            return self._result(res)
        return self._result(_get(res, "meta"))

    async def send(
        self,
        instructions: Sequence[Instruction],
        payer: Keypair,
        signers: Sequence[Keypair] = (),
        *,
        check: bool = True,
    ) -> TxResult:
        tx = self._tx(instructions, payer, signers)
        result = self._result(self.svm.send_transaction(tx))
        result.slot = int(self.svm.get_clock().slot)
        # A new blockhash per transaction lets identical instructions be sent twice, as on a
        # real cluster where blockhashes advance between sends.
        self.svm.expire_blockhash()
        if check and not result.ok:
            raise TransactionFailed(result)
        return result

    async def deploy_program(self, program: Keypair, elf: bytes, payer: Keypair) -> Pubkey:
        self.add_program(program.pubkey(), elf)
        return program.pubkey()

    def warp_slots(self, n: int) -> None:
        """Advance the clock (tests of cooldowns and staleness)."""
        clock = self.svm.get_clock()
        self.svm.warp_to_slot(int(clock.slot) + n)

    async def close(self) -> None:
        return None


def _get(obj: Any, name: str) -> Any:
    """solders exposes some metadata fields as properties and others as methods."""
    value = getattr(obj, name)
    return value() if callable(value) else value
