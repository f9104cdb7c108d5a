"""`deploy-program` on Surfpool: deploy, upgrade, your own id, resume, refusals."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from solders.keypair import Keypair

from client.artifacts import program_so_path
from client.chain.loader import deploy_program, max_write_chunk
from client.chain.rpc import RpcChain
from client.cli import deploy_program as cli_module
from client.cli import main
from tests.validators import ValidatorEndpoint

pytestmark = pytest.mark.surfpool


def _keyfile(path: Path, kp: Keypair | None = None) -> Keypair:
    kp = kp or Keypair()
    path.write_text(json.dumps(list(bytes(kp))))
    return kp


def _fund(url: str, *keys: Keypair, sol: int = 20) -> None:
    async def go() -> None:
        async with RpcChain(url) as chain:
            for kp in keys:
                await chain.airdrop(kp.pubkey(), sol * 10**9)

    asyncio.run(go())


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep generated program/buffer keypairs out of the repository's target/."""
    monkeypatch.setattr(cli_module, "NEW_KEYPAIR_PATH", tmp_path / "new-program.json")
    monkeypatch.setattr(cli_module, "IDL_COPY_PATH", tmp_path / "idl.json")
    monkeypatch.setattr(cli_module, "REPO_ROOT", tmp_path)
    return tmp_path


def test_deploy_upgrade_and_own_id(
    surfpool: ValidatorEndpoint, fresh: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payer = _keyfile(fresh / "payer.json")
    _fund(surfpool.rpc_url, payer)
    program = _keyfile(fresh / "program.json")
    common = ["--url", surfpool.rpc_url, "--keypair", str(fresh / "payer.json")]

    code, out, err = _run(
        capsys, "deploy-program", "--program-keypair", str(fresh / "program.json"), "--dry-run",
        *common, "--json",
    )  # fmt: skip
    assert code == 0, err
    estimate = json.loads(out)
    assert estimate["dry_run"] and not estimate["upgrade"]
    assert estimate["rent_lamports"] > 0 and estimate["fee_lamports"] > 0

    code, out, err = _run(
        capsys, "deploy-program", "--program-keypair", str(fresh / "program.json"), *common,
        "--json",
    )  # fmt: skip
    assert code == 0, err
    first = json.loads(out)
    assert first["program_id"] == str(program.pubkey()) and not first["upgraded"]
    assert first["upgrade_authority"] == str(payer.pubkey())
    # Not the IDL's id: the command says how to point the SDK at it and writes an IDL copy.
    assert json.loads((fresh / "idl.json").read_text())["address"] == str(program.pubkey())
    assert not list((fresh / "target" / "deploy").glob("ml_agent-buffer-*.json"))

    code, out, err = _run(
        capsys, "deploy-program", "--program-keypair", str(fresh / "program.json"), *common,
        "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["upgraded"]

    # Someone else cannot upgrade it.
    other = _keyfile(fresh / "other.json")
    _fund(surfpool.rpc_url, other)
    code, _, err = _run(
        capsys, "deploy-program", "--program-keypair", str(fresh / "program.json"),
        "--url", surfpool.rpc_url, "--keypair", str(fresh / "other.json"),
    )  # fmt: skip
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1, err
    assert "has upgrade authority" in err

    # --new-program-keypair generates one keypair once and reuses it.
    code, out, err = _run(capsys, "deploy-program", "--new-program-keypair", *common, "--json")
    assert code == 0, err
    generated = json.loads(out)["program_id"]
    assert "created program keypair" in err
    assert json.loads((fresh / "new-program.json").read_text())
    code, out, err = _run(capsys, "deploy-program", "--new-program-keypair", *common, "--json")
    assert code == 0 and json.loads(out)["program_id"] == generated and json.loads(out)["upgraded"]


def test_public_clusters_refuse_the_committed_keypair(
    fresh: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _keyfile(fresh / "payer.json")
    for url in ("devnet", "m", "https://rpc.example.com"):
        code, _, err = _run(
            capsys, "deploy-program", "--url", url, "--keypair", str(fresh / "payer.json")
        )
        assert code == 2 and "only for local clusters" in err, err


def test_unfunded_payer_is_told_before_anything_is_sent(
    surfpool: ValidatorEndpoint, fresh: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _keyfile(fresh / "broke.json")
    _keyfile(fresh / "program.json")
    code, _, err = _run(
        capsys, "deploy-program", "--program-keypair", str(fresh / "program.json"),
        "--url", surfpool.rpc_url, "--keypair", str(fresh / "broke.json"),
    )  # fmt: skip
    assert code == 1 and "insufficient funds" in err


async def test_a_kept_buffer_resumes_with_only_the_missing_writes(
    rpc_chain: RpcChain, rpc_payer: Keypair
) -> None:
    elf = program_so_path().read_bytes()
    program, buffer = Keypair(), Keypair()
    # A first attempt that dies after the buffer exists: deploy a truncated ELF into the buffer
    # by writing only its first half (what a killed deploy leaves behind).
    from solders.system_program import CreateAccountParams, create_account

    from client.chain.loader import BUFFER_METADATA_SIZE, LOADER_ID, initialize_buffer, write

    size = BUFFER_METADATA_SIZE + len(elf)
    lamports = await rpc_chain.minimum_balance_for_rent_exemption(size)
    await rpc_chain.send(
        [
            create_account(
                CreateAccountParams(
                    from_pubkey=rpc_payer.pubkey(),
                    to_pubkey=buffer.pubkey(),
                    lamports=lamports,
                    space=size,
                    owner=LOADER_ID,
                )
            ),
            initialize_buffer(buffer.pubkey(), rpc_payer.pubkey()),
        ],
        rpc_payer,
        [buffer],
    )
    chunk = max_write_chunk(rpc_payer.pubkey(), buffer.pubkey())
    offsets = list(range(0, len(elf), chunk))
    half = offsets[: len(offsets) // 2]
    await rpc_chain.send_many(
        [([write(buffer.pubkey(), rpc_payer.pubkey(), o, elf[o : o + chunk])], []) for o in half],
        rpc_payer,
    )
    result = await deploy_program(rpc_chain, program, elf, rpc_payer, buffer=buffer)
    # Only the missing writes plus the deploy transaction were sent.
    assert result.transactions == len(offsets) - len(half) + 1
    account = await rpc_chain.get_account(program.pubkey())
    assert account is not None and account.executable
    assert await rpc_chain.get_account(buffer.pubkey()) is None  # the deploy consumed it
