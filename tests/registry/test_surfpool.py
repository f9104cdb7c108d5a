"""The registry on a real validator (Surfpool over JSON-RPC): uploads of several sizes (also on
solana-test-validator when installed), 1 MiB, an uploader killed with SIGKILL and resumed, and
the CLI commands end to end."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from client.artifacts import REPO_ROOT
from client.chain.connect import ensure_program
from client.chain.rpc import RpcChain
from client.registry import ModelRegistry, WeightsLayout
from client.registry.accounts import PageInfo, VersionInfo
from client.registry.layout import default_model_id, model_address, page_address
from tests.validators import ValidatorEndpoint, over_rpc_backends

from .helpers import model_bytes

pytestmark = pytest.mark.surfpool

MIB = 1 << 20


@pytest.fixture
async def registry(rpc_chain: RpcChain, rpc_payer: Keypair) -> ModelRegistry:
    await ensure_program(rpc_chain, rpc_payer)
    return ModelRegistry(rpc_chain, rpc_payer)


@dataclass
class Cli:
    url: str
    keypair: Path

    async def run(
        self, *args: str, keypair: Path | None = None, timeout: float = 120
    ) -> tuple[int, str, str]:
        proc = await self.start(*args, keypair=keypair)
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def start(self, *args: str, keypair: Path | None = None) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "client",
            *args,
            "--url",
            self.url,
            "--keypair",
            str(keypair or self.keypair),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=REPO_ROOT,
        )


async def funded_keypair_file(chain: RpcChain, path: Path, sol: int = 50) -> Keypair:
    kp = Keypair()
    path.write_text(json.dumps(list(bytes(kp))))
    await chain.airdrop(kp.pubkey(), sol * 10**9)
    return kp


@over_rpc_backends  # solana-test-validator too, when installed (else skipped with the reason)
@pytest.mark.parametrize("size", [300, 60_000])
async def test_deploy_over_rpc(registry: ModelRegistry, size: int) -> None:
    data = model_bytes(size, seed=size + 1)
    d = await registry.deploy(data)
    assert d.verified and d.sha256 == hashlib.sha256(data).hexdigest()
    report = await registry.verify(d.model, data)
    assert report.ok and report.status == "active"


@over_rpc_backends  # solana-test-validator too, when installed (else skipped with the reason)
async def test_one_mib_uploads_finalizes_and_verifies(
    registry: ModelRegistry, rpc_endpoint: ValidatorEndpoint
) -> None:
    data = model_bytes(MIB, seed=42)
    d = await registry.deploy(data)
    assert d.verified and d.file_hash_verified_on_chain and d.bytes == MIB
    # Its wall time (target 30 s on Surfpool) is the upload bench's to measure: a timed
    # assertion here fails whenever other work shares the two cores, which says nothing about
    # the code.
    report = await registry.verify(d.model, data)
    assert report.ok and report.status == "active", rpc_endpoint.name


async def written_chunks(chain: RpcChain, authority: Pubkey, model: Pubkey) -> int:
    """Chunks the (killed) uploader got on chain: in pages and in the weights account."""
    header = await ModelRegistry(chain, Keypair()).fetch_model(model)
    if header is None or header.staged_weights is None:
        return 0
    weights = header.staged_weights
    acc = await chain.get_account(weights)
    assert acc is not None
    v = VersionInfo.decode(weights, bytes(acc.data), acc.lamports, len(acc.data))
    page_count = WeightsLayout.for_model(v.model_size, v.chunk_size).page_count
    keys = [page_address(weights, authority, i) for i in range(page_count)]
    pages = await chain.get_multiple_accounts(keys)
    return v.chunks_written + sum(
        bin(PageInfo.decode(k, bytes(a.data), a.lamports).written_mask).count("1")
        for k, a in zip(keys, pages, strict=True)
        if a is not None
    )


async def test_killed_uploader_resumes(
    registry: ModelRegistry, rpc_chain: RpcChain, tmp_path: Path
) -> None:
    kp = await funded_keypair_file(rpc_chain, tmp_path / "id.json")
    data = model_bytes(300_000, seed=7)
    (tmp_path / "model.bin").write_bytes(data)
    sha = hashlib.sha256(data).digest()
    model = model_address(kp.pubkey(), default_model_id(sha))
    cli = Cli(rpc_chain.url, tmp_path / "id.json")

    proc = await cli.start("deploy-model", str(tmp_path / "model.bin"), "--any-bytes", "--json")
    deadline = time.monotonic() + 90
    landed = 0
    while landed < 100:
        assert proc.returncode is None, "the upload finished before it could be killed"
        assert time.monotonic() < deadline, f"only {landed} chunks landed in 90 s"
        await asyncio.sleep(0.2)
        landed = await written_chunks(rpc_chain, kp.pubkey(), model)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    header = await registry.fetch_model(model)
    assert header is not None and header.active_weights is None  # interrupted mid-upload

    code, out, err = await cli.run(
        "deploy-model", str(tmp_path / "model.bin"), "--any-bytes", "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["resumed"] and result["verified"] and result["sha256"] == sha.hex()
    # The rerun sent only what was missing: not one write per chunk again.
    chunks = WeightsLayout.for_model(len(data)).chunk_count
    assert result["transactions"] < chunks - landed + chunks // 9 + 5
    assert (await registry.verify(model, data)).ok


async def test_cli_commands_end_to_end(rpc_chain: RpcChain, tmp_path: Path) -> None:
    payer = Keypair()
    await rpc_chain.airdrop(payer.pubkey(), 10 * 10**9)
    await ensure_program(rpc_chain, payer)
    owner = await funded_keypair_file(rpc_chain, tmp_path / "owner.json")
    heir = await funded_keypair_file(rpc_chain, tmp_path / "heir.json", sol=2)
    cli = Cli(rpc_chain.url, tmp_path / "owner.json")
    data = model_bytes(20_000, seed=9)
    (tmp_path / "model.bin").write_bytes(data)
    (tmp_path / "other.bin").write_bytes(data[:-1] + b"\0")

    code, out, err = await cli.run(
        "deploy-model", str(tmp_path / "model.bin"), "--any-bytes", "--json"
    )
    assert code == 0, err
    deployed = json.loads(out)
    model, weights = deployed["model"], deployed["weights"]
    assert deployed["sha256"] == hashlib.sha256(data).hexdigest()

    code, out, _ = await cli.run("inspect", model, "--json")
    info = json.loads(out)
    assert code == 0 and info["status"] == "ready" and info["active_weights"] == weights
    code, out, _ = await cli.run("inspect", weights)
    assert code == 0 and "version        1 (active)" in out

    code, out, _ = await cli.run("verify", model, "--model", str(tmp_path / "model.bin"))
    assert code == 0 and "OK" in out
    code, out, _ = await cli.run("verify", model, "--model", str(tmp_path / "other.bin"))
    assert code == 1 and "local file" in out

    # Tamper with one byte of chunk 4 on chain (Surfpool cheatcode): verify must catch it.
    registry = ModelRegistry(rpc_chain, owner)
    version = await registry.fetch_version(Pubkey.from_string(weights))
    assert version is not None
    acc = await rpc_chain.get_account(version.address)
    assert acc is not None
    raw = bytearray(bytes(acc.data))
    raw[version.data_offset + 4 * version.chunk_size] ^= 0x80
    await rpc_chain.call(
        "surfnet_setAccount",
        [weights, {"data": raw.hex(), "lamports": acc.lamports, "owner": str(acc.owner)}],
    )
    code, out, _ = await cli.run("verify", model, "--json")
    report = json.loads(out)
    assert code == 1 and not report["ok"] and report["bad_chunks"] == [4]

    # Two-step authority transfer, then freeze (irreversible, so it wants --yes).
    code, out, err = await cli.run("set-authority", model, str(heir.pubkey()))
    assert code == 0, err
    heir_file = tmp_path / "heir.json"
    code, _, err = await cli.run("set-authority", model, "--accept", keypair=heir_file)
    assert code == 0, err
    code, _, err = await cli.run("freeze", model, keypair=heir_file)
    assert code == 2 and "--yes" in err
    code, out, err = await cli.run("freeze", model, "--yes", keypair=heir_file)
    assert code == 0 and "frozen" in out, err
    code, _, err = await cli.run("close", model, keypair=heir_file)
    assert code == 1 and "ModelFrozen" in err

    # A second model with two versions closes whole: the retired version is found with
    # getProgramAccounts and closed first, and all rent comes back but the 96-byte tombstone's
    # that keeps the model id from being created again.
    (tmp_path / "small.bin").write_bytes(b"small model")
    (tmp_path / "small2.bin").write_bytes(b"small model, version 2")
    code, out, err = await cli.run(
        "deploy-model", str(tmp_path / "small.bin"), "--any-bytes", "--json"
    )
    assert code == 0, err
    small = json.loads(out)
    code, out, err = await cli.run(
        "deploy-model",
        str(tmp_path / "small2.bin"),
        "--any-bytes",
        "--model-id",
        str(small["model_id"]),
        "--json",
    )
    assert code == 0, err
    small2 = json.loads(out)
    assert (small2["model"], small2["version"]) == (small["model"], 2)
    before = await rpc_chain.get_balance(owner.pubkey())
    code, out, err = await cli.run("close", small["model"], "--json")
    assert code == 0, err
    returned = json.loads(out)["lamports_returned"]
    tomb = await rpc_chain.minimum_balance_for_rent_exemption(96)
    assert returned == small["rent_lamports"] + small2["rent_lamports"] - tomb
    assert await rpc_chain.get_balance(owner.pubkey()) == before + returned - 2 * 5000
    code, _, err = await cli.run("inspect", small["model"])
    assert code == 1 and "was closed" in err and "can never be used again" in err


async def test_program_missing_is_a_clear_error(tmp_path: Path) -> None:
    # A validator without the program: deploy-model says so instead of failing obscurely.
    from client.chain.surfpool import Surfpool

    async with Surfpool.start() as sp, RpcChain(sp.rpc_url) as chain:
        await funded_keypair_file(chain, tmp_path / "id.json", sol=1)
        (tmp_path / "m.bin").write_bytes(b"x" * 10)
        code, _, err = await Cli(sp.rpc_url, tmp_path / "id.json").run(
            "deploy-model", str(tmp_path / "m.bin"), "--any-bytes"
        )
    assert code == 1 and "not deployed" in err
