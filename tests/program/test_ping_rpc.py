"""The program deployed through the upgradeable BPF loader over JSON-RPC (no `solana` CLI) and
called there: Surfpool always, solana-test-validator when it is installed."""

from __future__ import annotations

import struct

import pytest
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair

from client.artifacts import read_program_so
from client.chain.base import TransactionFailed
from client.chain.rpc import RpcChain
from client.program import build_ix, decode_account, parse_events, ping_record_address
from tests.validators import over_rpc_backends


@over_rpc_backends
async def test_deploy_and_ping_over_rpc(rpc_chain: RpcChain, rpc_payer: Keypair) -> None:
    # A fresh program id: other tests share this validator and the IDL address, and an upgrade
    # there would need their deployer's key. The program derives its PDAs from its runtime id.
    program = Keypair()
    elf = read_program_so()
    program_id = await rpc_chain.deploy_program(program, elf, rpc_payer)
    assert program_id == program.pubkey()
    prog = await rpc_chain.get_account(program_id)
    assert prog is not None and prog.executable

    rec = ping_record_address(rpc_payer.pubkey(), program_id)
    ix = build_ix(
        "ping",
        {"payload": b"over rpc"},
        {"authority": rpc_payer.pubkey(), "ping_record": rec},
        program_id=program_id,
    )
    first = await rpc_chain.send([ix], rpc_payer)
    second = await rpc_chain.send([ix], rpc_payer)
    assert first.return_data == struct.pack("<Q", 1)
    assert second.return_data == struct.pack("<Q", 2)
    # CU is read back from the landed transaction's metadata.
    assert 0 < second.compute_units < first.compute_units
    assert [e.name for e in parse_events(second.logs, program_id)] == ["Pinged"]

    # Upgrading in place through the loader keeps the program's state.
    await rpc_chain.deploy_program(program, elf, rpc_payer)
    third = await rpc_chain.send([ix], rpc_payer)
    assert third.return_data == struct.pack("<Q", 3)

    acc = await rpc_chain.get_account(rec)
    assert acc is not None
    name, fields = decode_account(bytes(acc.data))
    assert name == "PingRecord" and fields.count == 3 and fields.authority == rpc_payer.pubkey()
    assert acc.owner == program_id

    # A bad call gets the same Anchor error over RPC as in-process.
    victim = Keypair().pubkey()
    bad = build_ix(
        "ping",
        {"payload": b""},
        {"authority": victim, "ping_record": ping_record_address(victim, program_id)},
        program_id=program_id,
    )
    metas = [
        AccountMeta(m.pubkey, False, m.is_writable) if m.pubkey == victim else m
        for m in bad.accounts
    ]
    with pytest.raises(TransactionFailed) as ei:
        await rpc_chain.send([Instruction(bad.program_id, bad.data, metas)], rpc_payer)
    assert ei.value.result.custom_error == 2002
