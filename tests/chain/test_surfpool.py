"""The Surfpool launcher and its Python wrapper, against the real native addon."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import pytest
from solders.keypair import Keypair

from client.chain import surfpool as surfpool_module
from client.chain.errors import RpcUnavailable, ValidatorNotInstalled, ValidatorStartError
from client.chain.rpc import RpcChain
from client.chain.surfpool import LAUNCHER, REPO_ROOT, Surfpool

pytestmark = pytest.mark.surfpool


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_start_is_healthy_then_stop_leaves_no_process() -> None:
    started = time.monotonic()
    async with Surfpool.start() as sp:
        assert time.monotonic() - started < 10
        assert sp.rpc_url.startswith("http://127.0.0.1:")
        assert sp.ws_url.startswith("ws://127.0.0.1:")
        assert _alive(sp.pid)
        async with RpcChain(sp.rpc_url) as chain:
            assert await chain.health() == "ok"
            # Surfnet pre-funds the payer it reports.
            assert await chain.get_balance(sp.payer) > 0
    assert not _alive(sp.pid)
    async with RpcChain(sp.rpc_url, max_retries=0) as chain:
        with pytest.raises(RpcUnavailable):
            await chain.health()


async def test_airdrop_addresses_are_funded_at_startup() -> None:
    wallets = [Keypair().pubkey() for _ in range(2)]
    async with Surfpool.start(airdrop_addresses=wallets, airdrop_lamports=7 * 10**9) as sp:
        async with RpcChain(sp.rpc_url) as chain:
            assert [await chain.get_balance(w) for w in wallets] == [7 * 10**9, 7 * 10**9]


async def _spawn_launcher() -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(LAUNCHER),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 15)
    info = json.loads(line)
    assert set(info) == {"rpcUrl", "wsUrl", "payer"}
    return proc, info


async def test_launcher_exits_zero_when_stdin_closes() -> None:
    # This is what stops the validator when the Python parent dies without cleaning up.
    proc, _ = await _spawn_launcher()
    assert proc.stdin is not None
    proc.stdin.close()
    assert await asyncio.wait_for(proc.wait(), 10) == 0


async def test_launcher_exits_zero_on_sigterm() -> None:
    proc, info = await _spawn_launcher()
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 10) == 0
    async with RpcChain(info["rpcUrl"], max_retries=0) as chain:
        with pytest.raises(RpcUnavailable):
            await chain.health()


async def test_bad_launcher_option_fails_with_its_message() -> None:
    with pytest.raises(
        ValidatorStartError, match=r"(?s)exited with code 2.*--block-production-mode must be one of"
    ):
        async with Surfpool.start(block_production_mode="sometimes"):
            pytest.fail("a bad block production mode must not start")


async def test_missing_node_says_how_to_fix() -> None:
    with pytest.raises(ValidatorNotInstalled, match=r"Node\.js.*scripts/setup\.sh"):
        async with Surfpool.start(node="/nonexistent/bin/node"):
            pytest.fail("must not start without node")


async def test_keeps_answering_past_a_thousand_slots() -> None:
    # Surfnet 1.5.0 deadlocks after ~1,050 slots unless its event queue is drained (the
    # launcher does); 5 ms slots get there in ~6 s instead of ~55 s at the default 50 ms.
    async with Surfpool.start(slot_time_ms=5) as sp:
        async with RpcChain(sp.rpc_url, commitment="processed", timeout=3, max_retries=0) as chain:
            deadline = time.monotonic() + 30
            while (slot := await chain.slot()) < 1_300:
                assert time.monotonic() < deadline, f"stuck at slot {slot}"
                await asyncio.sleep(0.25)
            wallet = Keypair().pubkey()
            await chain.airdrop(wallet, 10**9)
            assert await chain.get_balance(wallet) == 10**9


async def test_missing_addon_says_to_run_setup(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(surfpool_module, "_ADDON_DIR", tmp_path / "node_modules" / "absent")
    with pytest.raises(ValidatorNotInstalled, match=r"not installed.*scripts/setup\.sh.*npm ci"):
        async with Surfpool.start():
            pytest.fail("must not start without the addon")
