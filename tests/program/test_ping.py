"""The skeleton instruction end to end on LiteSVM: anchorpy-built instruction, IDL-decoded account
and event, return data, CU, and the Anchor-style error for each bad call."""

from __future__ import annotations

import hashlib
import struct

import pytest
from solders.account import Account
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from client.chain.base import TransactionFailed
from client.chain.litesvm import LiteSvmChain
from client.program import (
    PROGRAM_ID,
    build_ix,
    coder,
    decode_account,
    error_name,
    parse_events,
    ping_record_address,
)


def ping_ix(authority: Pubkey, payload: bytes = b"hi", record: Pubkey | None = None) -> Instruction:
    rec = record if record is not None else ping_record_address(authority)
    return build_ix("ping", {"payload": payload}, {"authority": authority, "ping_record": rec})


async def expect_error(svm: LiteSvmChain, ix: Instruction, payer: Keypair, code: int) -> None:
    with pytest.raises(TransactionFailed) as ei:
        await svm.send([ix], payer)
    assert ei.value.result.custom_error == code, (ei.value.result.error, ei.value.result.logs)


def test_discriminators_follow_anchor_rule() -> None:
    # Tests of the wire format itself may pack bytes by hand.
    expected = hashlib.sha256(b"global:ping").digest()[:8]
    assert coder().instruction.encode("ping", {"payload": b""})[:8] == expected
    assert (
        coder().accounts.acc_name_to_discriminator["PingRecord"]
        == (hashlib.sha256(b"account:PingRecord").digest()[:8])
    )


async def test_ping_creates_then_updates_record(svm: LiteSvmChain, payer: Keypair) -> None:
    rec = ping_record_address(payer.pubkey())
    first = await svm.send([ping_ix(payer.pubkey(), b"hello")], payer)
    assert first.return_data == struct.pack("<Q", 1)
    assert first.compute_units > 0
    second = await svm.send([ping_ix(payer.pubkey(), b"hello again")], payer)
    assert second.return_data == struct.pack("<Q", 2)
    # Creating the PDA costs a system-program CPI; updating must be far cheaper.
    assert second.compute_units < first.compute_units

    acc = await svm.get_account(rec)
    assert acc is not None and acc.owner == PROGRAM_ID
    name, fields = decode_account(bytes(acc.data))
    assert name == "PingRecord"
    assert fields.authority == payer.pubkey()
    assert fields.count == 2
    assert fields.last_payload_len == len(b"hello again")
    assert acc.lamports == await svm.minimum_balance_for_rent_exemption(len(acc.data))

    events = parse_events(second.logs)
    assert [e.name for e in events] == ["Pinged"]
    assert events[0].data.count == 2 and events[0].data.authority == payer.pubkey()


async def test_authority_must_sign(svm: LiteSvmChain, payer: Keypair) -> None:
    victim = Keypair().pubkey()
    ix = ping_ix(victim)
    # Same instruction, but the authority is not a signer: the payer pays, nobody authorises.
    metas = [
        AccountMeta(m.pubkey, False, m.is_writable) if m.pubkey == victim else m
        for m in ix.accounts
    ]
    await expect_error(svm, Instruction(ix.program_id, ix.data, metas), payer, 2002)
    assert error_name(2002) == "ConstraintSigner"


async def test_record_owned_by_another_program_is_rejected(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    rec = ping_record_address(payer.pubkey())
    svm.svm.set_account(rec, Account(10**9, bytes(64), Pubkey.new_unique(), False, 0))
    await expect_error(svm, ping_ix(payer.pubkey()), payer, 3007)
    assert error_name(3007) == "AccountOwnedByWrongProgram"


async def test_wrong_account_type_is_rejected(svm: LiteSvmChain, payer: Keypair) -> None:
    rec = ping_record_address(payer.pubkey())
    svm.svm.set_account(rec, Account(10**9, b"notaping" + bytes(56), PROGRAM_ID, False, 0))
    await expect_error(svm, ping_ix(payer.pubkey()), payer, 3002)


async def test_record_not_at_the_pda_is_rejected(svm: LiteSvmChain, payer: Keypair) -> None:
    await expect_error(svm, ping_ix(payer.pubkey(), record=Pubkey.new_unique()), payer, 2006)


async def test_someone_elses_record_is_rejected(svm: LiteSvmChain, payer: Keypair) -> None:
    other = Keypair()
    await svm.airdrop(other.pubkey(), 10**9)
    await svm.send([ping_ix(other.pubkey())], other)
    await expect_error(
        svm, ping_ix(payer.pubkey(), record=ping_record_address(other.pubkey())), payer, 2006
    )


async def test_wrong_system_program_is_rejected(svm: LiteSvmChain, payer: Keypair) -> None:
    ix = ping_ix(payer.pubkey())
    metas = list(ix.accounts)
    metas[2] = AccountMeta(Pubkey.new_unique(), False, False)
    await expect_error(svm, Instruction(ix.program_id, ix.data, metas), payer, 2012)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", 100),  # no discriminator
        (b"\x01\x02\x03", 100),
        (b"\x00" * 8, 101),  # unknown instruction
        (hashlib.sha256(b"global:ping").digest()[:8] + b"\x05\x00", 102),  # truncated length
        (hashlib.sha256(b"global:ping").digest()[:8] + struct.pack("<I", 5) + b"ab", 102),
        (hashlib.sha256(b"global:ping").digest()[:8] + struct.pack("<I", 0) + b"x", 102),
    ],
)
async def test_malformed_instruction_data(
    svm: LiteSvmChain, payer: Keypair, data: bytes, code: int
) -> None:
    ix = ping_ix(payer.pubkey())
    await expect_error(svm, Instruction(ix.program_id, data, list(ix.accounts)), payer, code)


async def test_oversized_payload_is_rejected(svm: LiteSvmChain, payer: Keypair) -> None:
    await expect_error(svm, ping_ix(payer.pubkey(), b"x" * 513), payer, 6001)
    assert error_name(6001) == "InvalidArgument"


async def test_missing_accounts_are_rejected(svm: LiteSvmChain, payer: Keypair) -> None:
    ix = ping_ix(payer.pubkey())
    await expect_error(svm, Instruction(ix.program_id, ix.data, list(ix.accounts)[:2]), payer, 3005)


async def test_prefunded_record_address_cannot_block_creation(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    # Anyone can send lamports to a PDA before it exists; creation must still succeed.
    rec = ping_record_address(payer.pubkey())
    svm.svm.set_account(
        rec, Account(1_000, b"", Pubkey.from_string("11111111111111111111111111111111"), False, 0)
    )
    res = await svm.send([ping_ix(payer.pubkey())], payer)
    assert res.return_data == struct.pack("<Q", 1)
    acc = await svm.get_account(rec)
    assert acc is not None and acc.owner == PROGRAM_ID
    assert acc.lamports == await svm.minimum_balance_for_rent_exemption(len(acc.data))
