"""The registry CLI in-process on the embedded chain: output, JSON and exit codes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from solders.keypair import Keypair

from client.cli import main

from .helpers import model_bytes


@pytest.fixture
def keypair_file(tmp_path: Path) -> Path:
    path = tmp_path / "id.json"
    path.write_text(json.dumps(list(bytes(Keypair()))))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_deploy_model_prints_what_a_user_needs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, keypair_file: Path
) -> None:
    data = model_bytes(30_000)
    (tmp_path / "model.bin").write_bytes(data)
    common = ["--url", "embedded", "--keypair", str(keypair_file)]
    code, out, err = run(
        capsys, "deploy-model", str(tmp_path / "model.bin"), "--any-bytes", *common
    )
    assert code == 0, err
    sha = hashlib.sha256(data).hexdigest()
    for needle in ("model ", "weights ", sha, "bytes         30000", "transactions", "rent paid"):
        assert needle in out
    assert "verified      yes" in out
    # The progress bar goes to stderr, with throughput.
    assert "KiB/s" in err

    code, out, err = run(
        capsys, "deploy-model", str(tmp_path / "model.bin"), "--any-bytes", "--json", *common
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["sha256"] == sha and result["bytes"] == 30_000 and result["verified"]
    assert result["transactions"] > 0 and result["rent_lamports"] > 0 and result["seconds"] > 0
    assert err == ""  # no progress bar with --json


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["deploy-model", "/nonexistent/model.bin"], 2, "does not exist"),
        (["deploy-model", "{model}", "--model-id", "-1"], 2, "--model-id"),
        (["inspect", "not-a-key"], 1, "not a base58 public key"),
        (["inspect", "11111111111111111111111111111111"], 1, "not the ml_agent program"),
        (["verify", "So11111111111111111111111111111111111111112"], 1, "does not exist"),
        (["freeze", "11111111111111111111111111111111"], 2, "--yes"),
        (["set-authority", "11111111111111111111111111111111", "nope"], 1, "not a base58"),
    ],
)
def test_failures_exit_nonzero_with_a_reason(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    keypair_file: Path,
    args: list[str],
    code: int,
    message: str,
) -> None:
    (tmp_path / "model.bin").write_bytes(b"m" * 100)
    args = [a.format(model=tmp_path / "model.bin") for a in args]
    got, _, err = run(capsys, *args, "--url", "embedded", "--keypair", str(keypair_file))
    assert got == code and message in err and err.startswith("error: ")
