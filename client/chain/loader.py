"""Deploy and upgrade programs through the BPF upgradeable loader over RPC (no ``solana`` CLI).

Flow: a fresh buffer account (system ``create_account`` + ``InitializeBuffer``) receives the ELF
in ``Write`` chunks sent concurrently; then either ``DeployWithMaxDataLen`` (new program: the
program account is created in the same transaction so nobody can front-run its
initialization) or ``Upgrade`` (existing program whose upgrade authority is the payer). The
payer is also the buffer and upgrade authority.

Instruction data is the loader's bincode layout: a u32 little-endian variant tag, then the
variant's fields (u32/u64 little-endian; ``Vec<u8>`` as a u64 length then the bytes).
Newer runtimes accept an optional trailing ``close_buffer`` byte on Deploy/Upgrade; it is left
out so older validators (which reject unknown trailing data) accept the same bytes, and the
default they then apply (close the buffer) is what we want anyway.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from solders.account import Account
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.system_program import CreateAccountParams, create_account

from client.chain.base import ChainError, TransactionFailed, TxResult
from client.chain.errors import DeployError

__all__ = [
    "BUFFER_METADATA_SIZE",
    "LOADER_ID",
    "PROGRAMDATA_METADATA_SIZE",
    "PROGRAM_ACCOUNT_SIZE",
    "DeployResult",
    "close_buffer",
    "deploy_program",
    "deploy_with_max_data_len",
    "extend_program",
    "extend_program_checked",
    "initialize_buffer",
    "max_write_chunk",
    "programdata_address",
    "set_upgrade_authority",
    "upgrade",
    "write",
]

log = logging.getLogger(__name__)

LOADER_ID: Final = Pubkey.from_string("BPFLoaderUpgradeab1e11111111111111111111111")
SYSVAR_RENT_ID: Final = Pubkey.from_string("SysvarRent111111111111111111111111111111111")
SYSVAR_CLOCK_ID: Final = Pubkey.from_string("SysvarC1ock11111111111111111111111111111111")

# UpgradeableLoaderState sizes: u32 tag + fields.
BUFFER_METADATA_SIZE: Final = 4 + 1 + 32  # Buffer { authority: Option<Pubkey> }
PROGRAM_ACCOUNT_SIZE: Final = 4 + 32  # Program { programdata_address }
PROGRAMDATA_METADATA_SIZE: Final = 4 + 8 + 1 + 32  # ProgramData { slot, authority }
_STATE_PROGRAM: Final = 2
_STATE_PROGRAMDATA: Final = 3

_TAG_INITIALIZE_BUFFER: Final = 0
_TAG_WRITE: Final = 1
_TAG_DEPLOY_WITH_MAX_DATA_LEN: Final = 2
_TAG_UPGRADE: Final = 3
_TAG_SET_AUTHORITY: Final = 4
_TAG_CLOSE: Final = 5
_TAG_EXTEND_PROGRAM: Final = 6
_TAG_EXTEND_PROGRAM_CHECKED: Final = 9

_MAX_ACCOUNT_DATA: Final = 10 * 1024 * 1024
# Newer runtimes refuse smaller extensions (SIMD-0431) unless near the 10 MiB cap.
_MIN_EXTEND_BYTES: Final = 10_240
_PACKET_DATA_SIZE: Final = 1232


def _tag(tag: int) -> bytes:
    return struct.pack("<I", tag)


def programdata_address(program_id: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([bytes(program_id)], LOADER_ID)[0]


def initialize_buffer(buffer: Pubkey, authority: Pubkey) -> Instruction:
    return Instruction(
        LOADER_ID,
        _tag(_TAG_INITIALIZE_BUFFER),
        [AccountMeta(buffer, False, True), AccountMeta(authority, False, False)],
    )


def write(buffer: Pubkey, authority: Pubkey, offset: int, data: bytes) -> Instruction:
    return Instruction(
        LOADER_ID,
        _tag(_TAG_WRITE) + struct.pack("<IQ", offset, len(data)) + data,
        [AccountMeta(buffer, False, True), AccountMeta(authority, True, False)],
    )


def deploy_with_max_data_len(
    payer: Pubkey, program: Pubkey, buffer: Pubkey, authority: Pubkey, max_data_len: int
) -> Instruction:
    return Instruction(
        LOADER_ID,
        _tag(_TAG_DEPLOY_WITH_MAX_DATA_LEN) + struct.pack("<Q", max_data_len),
        [
            AccountMeta(payer, True, True),
            AccountMeta(programdata_address(program), False, True),
            AccountMeta(program, False, True),
            AccountMeta(buffer, False, True),
            AccountMeta(SYSVAR_RENT_ID, False, False),
            AccountMeta(SYSVAR_CLOCK_ID, False, False),
            AccountMeta(SYSTEM_PROGRAM_ID, False, False),
            AccountMeta(authority, True, False),
        ],
    )


def upgrade(program: Pubkey, buffer: Pubkey, authority: Pubkey, spill: Pubkey) -> Instruction:
    return Instruction(
        LOADER_ID,
        _tag(_TAG_UPGRADE),
        [
            AccountMeta(programdata_address(program), False, True),
            AccountMeta(program, False, True),
            AccountMeta(buffer, False, True),
            AccountMeta(spill, False, True),
            AccountMeta(SYSVAR_RENT_ID, False, False),
            AccountMeta(SYSVAR_CLOCK_ID, False, False),
            AccountMeta(authority, True, False),
        ],
    )


def set_upgrade_authority(
    program: Pubkey, current_authority: Pubkey, new_authority: Pubkey | None
) -> Instruction:
    """``new_authority=None`` makes the program immutable for good."""
    metas = [
        AccountMeta(programdata_address(program), False, True),
        AccountMeta(current_authority, True, False),
    ]
    if new_authority is not None:
        metas.append(AccountMeta(new_authority, False, False))
    return Instruction(LOADER_ID, _tag(_TAG_SET_AUTHORITY), metas)


def close_buffer(buffer: Pubkey, recipient: Pubkey, authority: Pubkey) -> Instruction:
    return Instruction(
        LOADER_ID,
        _tag(_TAG_CLOSE),
        [
            AccountMeta(buffer, False, True),
            AccountMeta(recipient, False, True),
            AccountMeta(authority, True, False),
        ],
    )


def extend_program_checked(
    program: Pubkey, authority: Pubkey, payer: Pubkey, additional_bytes: int
) -> Instruction:
    return Instruction(
        LOADER_ID,
        _tag(_TAG_EXTEND_PROGRAM_CHECKED) + struct.pack("<I", additional_bytes),
        [
            AccountMeta(programdata_address(program), False, True),
            AccountMeta(program, False, True),
            AccountMeta(authority, True, False),
            AccountMeta(SYSTEM_PROGRAM_ID, False, False),
            AccountMeta(payer, True, True),
        ],
    )


def extend_program(program: Pubkey, payer: Pubkey, additional_bytes: int) -> Instruction:
    """The unchecked variant, for runtimes without ``ExtendProgramChecked`` enabled."""
    return Instruction(
        LOADER_ID,
        _tag(_TAG_EXTEND_PROGRAM) + struct.pack("<I", additional_bytes),
        [
            AccountMeta(programdata_address(program), False, True),
            AccountMeta(program, False, True),
            AccountMeta(SYSTEM_PROGRAM_ID, False, False),
            AccountMeta(payer, True, True),
        ],
    )


def max_write_chunk(payer: Pubkey, buffer: Pubkey) -> int:
    """Largest ``Write`` payload whose transaction (payer = authority) fits in one packet."""

    def size(n: int) -> int:
        message = Message.new_with_blockhash(
            [write(buffer, payer, 0, bytes(n))], payer, Hash.default()
        )
        return 1 + 64 * message.header.num_required_signatures + len(bytes(message))

    chunk = _PACKET_DATA_SIZE - size(0)
    while size(chunk) > _PACKET_DATA_SIZE:  # the compact length prefixes grow with the payload
        chunk -= 1
    return chunk


@dataclass(frozen=True)
class DeployResult:
    program_id: Pubkey
    # Every transaction sent: buffer creation, writes, (extend,) deploy/upgrade.
    transactions: int
    seconds: float
    upgraded: bool
    signature: Signature | None
    slot: int | None


class LoaderChain(Protocol):
    """What deploying needs: ``RpcChain`` provides it."""

    async def get_account(self, address: Pubkey) -> Account | None: ...

    async def minimum_balance_for_rent_exemption(self, size: int) -> int: ...

    async def slot(self) -> int: ...

    async def send(
        self,
        instructions: Sequence[Instruction],
        payer: Keypair,
        signers: Sequence[Keypair] = (),
        *,
        check: bool = True,
    ) -> TxResult: ...

    async def send_many(
        self,
        items: Sequence[tuple[Sequence[Instruction], Sequence[Keypair]]],
        payer: Keypair,
        *,
        concurrency: int | None = None,
        check: bool = True,
    ) -> list[TxResult]: ...


@dataclass(frozen=True)
class _Existing:
    capacity: int  # bytes of ELF the ProgramData account can hold


async def deploy_program(
    chain: LoaderChain,
    program: Keypair | Pubkey,
    elf: bytes,
    payer: Keypair,
    *,
    max_data_len: int | None = None,
    concurrency: int | None = None,
    visibility_timeout: float = 30.0,
    buffer: Keypair | None = None,
) -> DeployResult:
    """Deploy ``elf`` at ``program`` or, if a program is already there, upgrade it.

    A fresh deploy needs the program keypair; an upgrade only its pubkey, with ``payer`` as
    the upgrade authority. ``max_data_len`` (fresh deploys only) caps future upgrades without
    extension; default twice the ELF size. Upgrading with a larger ELF extends ProgramData
    first. Returns once the program is invocable (runtimes only load a program deployed in
    slot S from slot S+1 on). If anything fails after the buffer exists, the buffer is closed
    so its rent returns to the payer.

    Resumable: with ``buffer`` (a keypair the caller keeps, e.g. on disk) a failed deploy
    leaves the buffer in place, and a rerun with the same keypair reuses it, sending only the
    writes whose bytes are not already there.
    """
    start = time.monotonic()
    if elf[:4] != b"\x7fELF":
        raise DeployError(
            f"refusing to deploy {len(elf)} bytes that are not an ELF (no \\x7fELF magic)"
        )
    program_id = program.pubkey() if isinstance(program, Keypair) else program
    existing = await _existing_program(chain, program_id, payer.pubkey())
    if existing is None and not isinstance(program, Keypair):
        raise DeployError(
            f"no program at {program_id} to upgrade, and a first deploy needs its keypair"
        )
    if existing is None:
        max_len = max_data_len if max_data_len is not None else 2 * len(elf)
        if max_len < len(elf):
            raise DeployError(f"max_data_len {max_len} is smaller than the ELF ({len(elf)} bytes)")
        if PROGRAMDATA_METADATA_SIZE + max_len > _MAX_ACCOUNT_DATA:
            raise DeployError(
                f"max_data_len {max_len} exceeds the 10 MiB account limit minus the "
                f"{PROGRAMDATA_METADATA_SIZE}-byte ProgramData header"
            )

    resumable = buffer is not None
    buffer = buffer if buffer is not None else Keypair()
    size = BUFFER_METADATA_SIZE + len(elf)
    existing_buffer = await _reusable_buffer(chain, buffer.pubkey(), size, payer.pubkey())
    transactions = 0
    if existing_buffer is None:
        lamports = await chain.minimum_balance_for_rent_exemption(size)
        await chain.send(
            [
                create_account(
                    CreateAccountParams(
                        from_pubkey=payer.pubkey(),
                        to_pubkey=buffer.pubkey(),
                        lamports=lamports,
                        space=size,
                        owner=LOADER_ID,
                    )
                ),
                initialize_buffer(buffer.pubkey(), payer.pubkey()),
            ],
            payer,
            [buffer],
        )
        transactions = 1
    try:
        transactions += await _write_buffer(
            chain, buffer.pubkey(), elf, payer, concurrency, have=existing_buffer
        )
        if existing is None:
            assert isinstance(program, Keypair)
            result = await _deploy_new(chain, program, buffer.pubkey(), payer, max_len)
        else:
            if len(elf) > existing.capacity:
                transactions += await _extend(
                    chain, program_id, payer, len(elf) - existing.capacity
                )
            result = await chain.send(
                [upgrade(program_id, buffer.pubkey(), payer.pubkey(), payer.pubkey())], payer
            )
        transactions += 1
    except Exception:
        if not resumable:
            await _close_buffer_quietly(chain, buffer.pubkey(), payer)
        raise

    if result.slot is not None:
        await _wait_for_slot_after(chain, result.slot, visibility_timeout, program_id)
    return DeployResult(
        program_id=program_id,
        transactions=transactions,
        seconds=time.monotonic() - start,
        upgraded=existing is not None,
        signature=result.signature,
        slot=result.slot,
    )


async def _existing_program(
    chain: LoaderChain, program_id: Pubkey, authority: Pubkey
) -> _Existing | None:
    account = await chain.get_account(program_id)
    if account is None:
        return None
    if account.owner != LOADER_ID:
        raise DeployError(
            f"{program_id} already holds an account owned by {account.owner}, not by the "
            "upgradeable loader; deploy to a new program keypair"
        )
    data = bytes(account.data)
    if len(data) < PROGRAM_ACCOUNT_SIZE or struct.unpack_from("<I", data)[0] != _STATE_PROGRAM:
        raise DeployError(
            f"{program_id} is an upgradeable-loader account but not a Program account "
            "(a buffer or ProgramData address?); pass the program id"
        )
    pd_address = Pubkey.from_bytes(data[4:36])
    pd = await chain.get_account(pd_address)
    if pd is None:
        raise DeployError(
            f"program {program_id} has no ProgramData account at {pd_address} (closed?); it "
            "cannot be upgraded, deploy to a new program keypair"
        )
    pd_data = bytes(pd.data)
    if len(pd_data) < PROGRAMDATA_METADATA_SIZE or (
        struct.unpack_from("<I", pd_data)[0] != _STATE_PROGRAMDATA
    ):
        raise DeployError(f"{pd_address} is not a ProgramData account")
    if pd_data[12] == 0:
        raise DeployError(f"program {program_id} is immutable (no upgrade authority)")
    current = Pubkey.from_bytes(pd_data[13:45])
    if current != authority:
        raise DeployError(
            f"program {program_id} has upgrade authority {current}; upgrading needs that "
            f"keypair as payer, not {authority}"
        )
    return _Existing(capacity=len(pd_data) - PROGRAMDATA_METADATA_SIZE)


async def _reusable_buffer(
    chain: LoaderChain, buffer: Pubkey, size: int, authority: Pubkey
) -> bytes | None:
    """The ELF bytes already in ``buffer`` when it is a buffer this deploy can continue."""
    account = await chain.get_account(buffer)
    if account is None:
        return None
    data = bytes(account.data)
    if (
        account.owner != LOADER_ID
        or len(data) != size
        or struct.unpack_from("<I", data)[0] != 1  # UpgradeableLoaderState::Buffer
        or data[4] != 1
        or Pubkey.from_bytes(data[5:37]) != authority
    ):
        raise DeployError(
            f"buffer {buffer} exists but is not a {size}-byte buffer with authority "
            f"{authority} (another ELF, or someone else's); delete the buffer keypair file to "
            "start over with a new buffer"
        )
    return data[BUFFER_METADATA_SIZE:]


async def _write_buffer(
    chain: LoaderChain,
    buffer: Pubkey,
    elf: bytes,
    payer: Keypair,
    concurrency: int | None,
    *,
    have: bytes | None = None,
) -> int:
    chunk = max_write_chunk(payer.pubkey(), buffer)
    items: list[tuple[Sequence[Instruction], Sequence[Keypair]]] = [
        ([write(buffer, payer.pubkey(), offset, elf[offset : offset + chunk])], [])
        for offset in range(0, len(elf), chunk)
        if have is None or have[offset : offset + chunk] != elf[offset : offset + chunk]
    ]
    await chain.send_many(items, payer, concurrency=concurrency)
    # Every write was confirmed, but a mismatch here would only surface later as an opaque
    # "invalid ELF" from the deploy; one read makes it a precise error instead.
    account = await chain.get_account(buffer)
    written = bytes(account.data)[BUFFER_METADATA_SIZE:] if account is not None else b""
    if written != elf:
        first_bad = next(
            (i for i, (a, b) in enumerate(zip(written, elf, strict=False)) if a != b),
            min(len(written), len(elf)),
        )
        raise DeployError(
            f"buffer {buffer} does not hold the ELF after {len(items)} confirmed writes "
            f"(first difference at byte {first_bad})"
        )
    return len(items)


async def _deploy_new(
    chain: LoaderChain, program: Keypair, buffer: Pubkey, payer: Keypair, max_len: int
) -> TxResult:
    lamports = await chain.minimum_balance_for_rent_exemption(PROGRAM_ACCOUNT_SIZE)
    return await chain.send(
        [
            create_account(
                CreateAccountParams(
                    from_pubkey=payer.pubkey(),
                    to_pubkey=program.pubkey(),
                    lamports=lamports,
                    space=PROGRAM_ACCOUNT_SIZE,
                    owner=LOADER_ID,
                )
            ),
            deploy_with_max_data_len(
                payer.pubkey(), program.pubkey(), buffer, payer.pubkey(), max_len
            ),
        ],
        payer,
        [program],
    )


async def _extend(chain: LoaderChain, program_id: Pubkey, payer: Keypair, missing: int) -> int:
    """Grow ProgramData by at least ``missing`` bytes; returns the transactions sent."""
    extra = max(missing, _MIN_EXTEND_BYTES)
    try:
        await chain.send(
            [extend_program_checked(program_id, payer.pubkey(), payer.pubkey(), extra)], payer
        )
    except TransactionFailed as exc:
        # Where ExtendProgramChecked is not enabled (older runtimes, or its feature gate off as
        # on Surfpool 1.5.0) the loader rejects its tag as invalid instruction data.
        if "InvalidInstructionData" not in (exc.result.error or ""):
            raise
        log.info("ExtendProgramChecked unsupported by this runtime; using ExtendProgram")
        await chain.send([extend_program(program_id, payer.pubkey(), extra)], payer)
        return 2
    return 1


async def _close_buffer_quietly(chain: LoaderChain, buffer: Pubkey, payer: Keypair) -> None:
    try:
        if await chain.get_account(buffer) is not None:
            await chain.send([close_buffer(buffer, payer.pubkey(), payer.pubkey())], payer)
    except ChainError as exc:
        log.warning("could not close deploy buffer %s (its rent stays locked): %s", buffer, exc)


async def _wait_for_slot_after(
    chain: LoaderChain, deploy_slot: int, timeout: float, program_id: Pubkey
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while await chain.slot() <= deploy_slot:
        if loop.time() > deadline:
            raise DeployError(
                f"program {program_id} was deployed in slot {deploy_slot} but the chain has "
                f"not moved past it in {timeout:.0f}s, so it is not invocable yet"
            )
        await asyncio.sleep(0.05)
