"""RpcChain and the upgradeable-loader deploy against real validators (no mocks).

Surfpool always runs; tests marked with ``over_rpc_backends`` also run on
solana-test-validator when it is installed, and skip with the reason otherwise.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction

from client.chain.base import TransactionFailed
from client.chain.errors import BlockhashExpired, DeployError, RpcError, RpcUnavailable
from client.chain.loader import LOADER_ID, PROGRAMDATA_METADATA_SIZE, programdata_address
from client.chain.rpc import RpcChain
from tests.validators import RPC_PAYER_LAMPORTS, over_rpc_backends

ECHO_ELF = (Path(__file__).parent / "data" / "echo_program.so").read_bytes()


def _echo(program_id: Pubkey, data: bytes) -> Instruction:
    return Instruction(program_id, data, [])


@over_rpc_backends
async def test_deploy_call_then_upgrade_same_program_id(
    rpc_chain: RpcChain, rpc_payer: Keypair
) -> None:
    program = Keypair()
    first = await rpc_chain.deploy(program, ECHO_ELF, rpc_payer)
    assert first.program_id == program.pubkey()
    assert not first.upgraded
    # buffer creation + ceil(2,264 / ~1000) writes + deploy
    assert 5 <= first.transactions <= 7

    account = await rpc_chain.get_account(program.pubkey())
    assert account is not None and account.executable and account.owner == LOADER_ID
    programdata = await rpc_chain.get_account(programdata_address(program.pubkey()))
    assert programdata is not None
    assert len(programdata.data) == PROGRAMDATA_METADATA_SIZE + 2 * len(ECHO_ELF)

    payload = b"ml_agent echo \x00\x01\xff"
    called = await rpc_chain.send([_echo(program.pubkey(), payload)], rpc_payer)
    assert called.ok
    assert called.return_data == payload
    assert called.compute_units > 0
    assert called.slot is not None and called.slot > (first.slot or 0)
    assert any(line.startswith(f"Program {program.pubkey()} invoke") for line in called.logs)

    second = await rpc_chain.deploy(program.pubkey(), ECHO_ELF, rpc_payer)
    assert second.upgraded
    assert second.program_id == program.pubkey()
    assert second.slot is not None and second.slot > (first.slot or 0)
    again = await rpc_chain.send([_echo(program.pubkey(), b"after upgrade")], rpc_payer)
    assert again.return_data == b"after upgrade"


async def test_deploy_program_protocol_method_returns_program_id(
    rpc_chain: RpcChain, rpc_payer: Keypair
) -> None:
    program = Keypair()
    assert await rpc_chain.deploy_program(program, ECHO_ELF, rpc_payer) == program.pubkey()
    sim = await rpc_chain.simulate([_echo(program.pubkey(), b"dry run")], rpc_payer)
    assert sim.ok and sim.signature is None
    assert sim.return_data == b"dry run"
    assert sim.compute_units > 0


async def test_upgrade_to_larger_elf_extends_programdata(
    rpc_chain: RpcChain, rpc_payer: Keypair
) -> None:
    program = Keypair()
    await rpc_chain.deploy(program, ECHO_ELF, rpc_payer, max_data_len=len(ECHO_ELF))
    # Trailing bytes past the section data are ignored by the ELF loader: a valid, larger ELF.
    bigger = ECHO_ELF + bytes(3000)
    result = await rpc_chain.deploy(program.pubkey(), bigger, rpc_payer)
    assert result.upgraded
    programdata = await rpc_chain.get_account(programdata_address(program.pubkey()))
    assert programdata is not None
    assert len(programdata.data) - PROGRAMDATA_METADATA_SIZE >= len(bigger)
    called = await rpc_chain.send([_echo(program.pubkey(), b"grown")], rpc_payer)
    assert called.return_data == b"grown"


async def test_upgrade_by_someone_else_is_refused_before_sending(
    rpc_chain: RpcChain, rpc_payer: Keypair
) -> None:
    program = Keypair()
    await rpc_chain.deploy(program, ECHO_ELF, rpc_payer)
    intruder = Keypair()
    await rpc_chain.airdrop(intruder.pubkey(), 10**9)
    with pytest.raises(DeployError, match=f"upgrade authority {rpc_payer.pubkey()}"):
        await rpc_chain.deploy(program.pubkey(), ECHO_ELF, intruder)
    assert await rpc_chain.get_balance(intruder.pubkey()) == 10**9  # nothing was sent


async def test_non_elf_is_refused(rpc_chain: RpcChain, rpc_payer: Keypair) -> None:
    with pytest.raises(DeployError, match="not an ELF"):
        await rpc_chain.deploy(Keypair(), b"#!/bin/sh\n", rpc_payer)


async def test_failing_transfer_raises_transaction_failed_with_reason(
    rpc_chain: RpcChain, rpc_payer: Keypair
) -> None:
    too_much = transfer(
        TransferParams(
            from_pubkey=rpc_payer.pubkey(),
            to_pubkey=Keypair().pubkey(),
            lamports=RPC_PAYER_LAMPORTS * 10,
        )
    )
    with pytest.raises(TransactionFailed) as failed:
        await rpc_chain.send([too_much], rpc_payer)
    result = failed.value.result
    assert not result.ok
    assert result.signature is not None  # it landed (skip_preflight) and paid its fee
    assert result.custom_error == 1  # SystemError::ResultWithNegativeLamports
    assert "instruction 0 failed" in str(failed.value)
    assert "insufficient lamports" in (result.error or "")
    assert result.logs

    unchecked = await rpc_chain.send([too_much], rpc_payer, check=False)
    assert not unchecked.ok and unchecked.custom_error == 1


async def test_identical_transactions_both_land(rpc_chain: RpcChain, rpc_payer: Keypair) -> None:
    # Same instructions + same blockhash = same signature; the second must not be swallowed
    # as a duplicate of the first.
    recipient = Keypair().pubkey()
    ix = transfer(
        TransferParams(from_pubkey=rpc_payer.pubkey(), to_pubkey=recipient, lamports=10**9)
    )
    a, b = await asyncio.gather(rpc_chain.send([ix], rpc_payer), rpc_chain.send([ix], rpc_payer))
    assert a.signature != b.signature
    assert await rpc_chain.get_balance(recipient) == 2 * 10**9


async def test_send_many_returns_results_in_order(rpc_chain: RpcChain, rpc_payer: Keypair) -> None:
    program = Keypair()
    await rpc_chain.deploy(program, ECHO_ELF, rpc_payer)
    items = [([_echo(program.pubkey(), f"item {i}".encode())], []) for i in range(24)]
    seen: list[int] = []
    results = await rpc_chain.send_many(
        items, rpc_payer, concurrency=6, on_result=lambda i, _: seen.append(i)
    )
    assert [r.return_data for r in results] == [f"item {i}".encode() for i in range(24)]
    assert sorted(seen) == list(range(24))
    assert len({r.signature for r in results}) == 24


async def test_send_many_raises_first_failure(rpc_chain: RpcChain, rpc_payer: Keypair) -> None:
    ok = transfer(
        TransferParams(from_pubkey=rpc_payer.pubkey(), to_pubkey=Keypair().pubkey(), lamports=10**7)
    )
    bad = transfer(
        TransferParams(
            from_pubkey=rpc_payer.pubkey(),
            to_pubkey=Keypair().pubkey(),
            lamports=RPC_PAYER_LAMPORTS * 10,
        )
    )
    with pytest.raises(TransactionFailed, match="custom program error 1"):
        await rpc_chain.send_many([([ok], []), ([bad], []), ([ok], [])], rpc_payer)


async def test_stale_blockhash_raises_blockhash_expired(
    rpc_chain: RpcChain, rpc_payer: Keypair
) -> None:
    recipient = Keypair().pubkey()
    ix = transfer(
        TransferParams(from_pubkey=rpc_payer.pubkey(), to_pubkey=recipient, lamports=10**6)
    )
    # A blockhash the validator never produced cannot land; with skip_preflight it is accepted
    # for broadcast, so only the expiry check can end the wait. Claiming it expires at the
    # current height makes that happen at the next block instead of ~150 blocks later.
    unknown = Hash.new_unique()
    tx = Transaction([rpc_payer], Message([ix], rpc_payer.pubkey()), unknown)
    height = await rpc_chain.block_height()
    started = time.monotonic()
    with pytest.raises(BlockhashExpired) as expired:
        await rpc_chain.send_transaction(tx, height)
    assert time.monotonic() - started < 10
    assert expired.value.signature == str(tx.signatures[0])
    assert expired.value.last_valid_block_height == height
    assert expired.value.block_height is not None and expired.value.block_height > height
    assert "re-sign" in str(expired.value)
    assert await rpc_chain.get_balance(recipient) == 0


async def test_unreachable_url_raises_rpc_unavailable_quickly() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    async with RpcChain(url, max_retries=3, backoff_base=0.05) as chain:
        with pytest.raises(RpcUnavailable) as unavailable:
            await chain.get_balance(Keypair().pubkey())
    assert time.monotonic() - started < 3
    assert unavailable.value.url == url
    assert unavailable.value.method == "getBalance"
    assert unavailable.value.attempts == 4
    assert url in str(unavailable.value) and "getBalance" in str(unavailable.value)


async def test_json_rpc_error_is_rpc_error_not_retried(rpc_chain: RpcChain) -> None:
    with pytest.raises(RpcError) as rejected:
        await rpc_chain.call("getBalance", ["not-a-pubkey"])
    assert rejected.value.code == -32602
    assert rejected.value.method == "getBalance"


async def test_reads_match_what_was_written(rpc_chain: RpcChain, rpc_payer: Keypair) -> None:
    assert await rpc_chain.get_balance(rpc_payer.pubkey()) == RPC_PAYER_LAMPORTS
    absent = [Keypair().pubkey() for _ in range(150)]  # > 100: spans two RPC calls
    accounts = await rpc_chain.get_multiple_accounts(
        [*absent[:120], rpc_payer.pubkey(), *absent[120:]]
    )
    assert len(accounts) == 151
    assert accounts[120] is not None and accounts[120].lamports == RPC_PAYER_LAMPORTS
    assert all(a is None for i, a in enumerate(accounts) if i != 120)
    rent = await rpc_chain.minimum_balance_for_rent_exemption(0)
    assert rent > 0
    assert await rpc_chain.slot() > 0
    assert await rpc_chain.latest_blockhash() != Hash.default()


async def test_processed_commitment_chain_also_confirms(
    rpc_chain_factory: object, rpc_payer: Keypair
) -> None:
    assert callable(rpc_chain_factory)
    chain: RpcChain = rpc_chain_factory(commitment="processed")
    recipient = Keypair().pubkey()
    ix = transfer(
        TransferParams(from_pubkey=rpc_payer.pubkey(), to_pubkey=recipient, lamports=10**7)
    )
    result = await chain.send([ix], rpc_payer)
    assert result.ok and result.compute_units > 0
