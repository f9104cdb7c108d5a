"""Wire format of the upgradeable-loader instructions (checked without a validator)."""

from __future__ import annotations

import struct

from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.transaction import Transaction

from client.chain.loader import (
    LOADER_ID,
    SYSVAR_CLOCK_ID,
    SYSVAR_RENT_ID,
    close_buffer,
    deploy_with_max_data_len,
    extend_program,
    extend_program_checked,
    initialize_buffer,
    max_write_chunk,
    programdata_address,
    set_upgrade_authority,
    upgrade,
    write,
)
from client.chain.rpc import PACKET_DATA_SIZE

PAYER, PROGRAM, BUFFER, OTHER = (Keypair().pubkey() for _ in range(4))


def metas(ix: object) -> list[tuple[Pubkey, bool, bool]]:
    return [(m.pubkey, m.is_signer, m.is_writable) for m in ix.accounts]  # type: ignore[attr-defined]


def test_programdata_is_the_loader_pda_of_the_program_id() -> None:
    expected, _ = Pubkey.find_program_address([bytes(PROGRAM)], LOADER_ID)
    assert programdata_address(PROGRAM) == expected
    assert str(LOADER_ID) == "BPFLoaderUpgradeab1e11111111111111111111111"


def test_initialize_buffer() -> None:
    ix = initialize_buffer(BUFFER, PAYER)
    assert ix.program_id == LOADER_ID
    assert bytes(ix.data) == b"\x00\x00\x00\x00"
    assert metas(ix) == [(BUFFER, False, True), (PAYER, False, False)]


def test_write_is_tag_offset_and_length_prefixed_bytes() -> None:
    ix = write(BUFFER, PAYER, 0x01020304, b"abc")
    assert bytes(ix.data) == (
        b"\x01\x00\x00\x00" + b"\x04\x03\x02\x01" + b"\x03\x00\x00\x00\x00\x00\x00\x00" + b"abc"
    )
    assert metas(ix) == [(BUFFER, False, True), (PAYER, True, False)]


def test_deploy_with_max_data_len() -> None:
    ix = deploy_with_max_data_len(PAYER, PROGRAM, BUFFER, OTHER, 10_000)
    assert bytes(ix.data) == struct.pack("<IQ", 2, 10_000)
    assert metas(ix) == [
        (PAYER, True, True),
        (programdata_address(PROGRAM), False, True),
        (PROGRAM, False, True),
        (BUFFER, False, True),
        (SYSVAR_RENT_ID, False, False),
        (SYSVAR_CLOCK_ID, False, False),
        (SYSTEM_PROGRAM_ID, False, False),
        (OTHER, True, False),
    ]


def test_upgrade() -> None:
    ix = upgrade(PROGRAM, BUFFER, PAYER, OTHER)
    assert bytes(ix.data) == b"\x03\x00\x00\x00"
    assert metas(ix) == [
        (programdata_address(PROGRAM), False, True),
        (PROGRAM, False, True),
        (BUFFER, False, True),
        (OTHER, False, True),
        (SYSVAR_RENT_ID, False, False),
        (SYSVAR_CLOCK_ID, False, False),
        (PAYER, True, False),
    ]


def test_set_authority_close_and_extend() -> None:
    to_none = set_upgrade_authority(PROGRAM, PAYER, None)
    assert bytes(to_none.data) == b"\x04\x00\x00\x00"
    assert metas(to_none) == [(programdata_address(PROGRAM), False, True), (PAYER, True, False)]
    assert metas(set_upgrade_authority(PROGRAM, PAYER, OTHER))[-1] == (OTHER, False, False)

    close = close_buffer(BUFFER, OTHER, PAYER)
    assert bytes(close.data) == b"\x05\x00\x00\x00"
    assert metas(close) == [(BUFFER, False, True), (OTHER, False, True), (PAYER, True, False)]

    plain = extend_program(PROGRAM, PAYER, 20_000)
    assert bytes(plain.data) == struct.pack("<II", 6, 20_000)
    assert metas(plain)[-1] == (PAYER, True, True)
    checked = extend_program_checked(PROGRAM, OTHER, PAYER, 20_000)
    assert bytes(checked.data) == struct.pack("<II", 9, 20_000)
    assert metas(checked)[2] == (OTHER, True, False)


def test_write_chunk_fills_but_never_exceeds_a_packet() -> None:
    payer = Keypair()
    chunk = max_write_chunk(payer.pubkey(), BUFFER)
    assert 900 < chunk < 1100

    def size(n: int) -> int:
        msg = Message([write(BUFFER, payer.pubkey(), 0, bytes(n))], payer.pubkey())
        return len(bytes(Transaction([payer], msg, Hash.new_unique())))

    assert size(chunk) <= PACKET_DATA_SIZE < size(chunk + 1)
