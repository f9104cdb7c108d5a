"""`localnet` in the foreground: ready line, status from another process, Ctrl-C stops it cleanly.

(The detached mode and `stop` are exercised by tests/cli/test_first_model.py.)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from solders.keypair import Keypair

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.surfpool


def _free_pair() -> int:
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port < 65_000 and _free(port) and _free(port + 1):
            return port
    raise RuntimeError("no free port pair")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "client", *args], env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def test_foreground_localnet_serves_until_interrupted(tmp_path: Path) -> None:
    port = _free_pair()
    key = tmp_path / "id.json"
    kp = Keypair()
    key.write_text(json.dumps(list(bytes(kp))))
    env = dict(os.environ)
    env.update(
        HOME=str(tmp_path),
        ML_AGENT_LOCALNET_DIR=str(tmp_path / "state"),
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "client", "localnet", "--rpc-port", str(port),
         "--keypair", str(key), "--airdrop", "5", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        state = tmp_path / "state" / f"localnet-{port}.json"
        deadline = time.monotonic() + 120
        while not state.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "localnet never became ready"
            time.sleep(0.2)
        info = json.loads(state.read_text())
        assert info["rpc_url"] == f"http://127.0.0.1:{port}"
        assert info["ws_url"] == f"ws://127.0.0.1:{port + 1}"
        assert info["payer"] == str(kp.pubkey()) and info["payer_lamports"] >= 4 * 10**9

        status = _cli(env, "localnet", "status", "--rpc-port", str(port), "--json")
        assert status.returncode == 0, status.stderr
        body = json.loads(status.stdout)
        assert body["program_deployed"] and body["slot"] > 0 and body["pid"] == proc.pid

        # The port is taken now: a second start says so instead of failing obscurely.
        again = _cli(env, "localnet", "--rpc-port", str(port), "--keypair", str(key))
        assert again.returncode == 1 and "is taken" in again.stderr, again.stderr

        # Any command reaches the chain through the relayed ports.
        inspect = _cli(
            env, "inspect", info["program_id"], "--url", info["rpc_url"], "--keypair", str(key)
        )
        assert inspect.returncode == 1 and "not the ml_agent program" in inspect.stderr

        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert json.loads(out)["pid"] == proc.pid
    assert not state.exists()
    assert _free(port) and _free(port + 1)
