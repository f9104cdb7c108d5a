"""solana-test-validator plumbing: discovery, ports, startup failures, stop and cleanup.

The real binary is exercised by the ``over_rpc_backends`` tests in test_rpc.py when it is
installed. Here a stand-in script that answers ``getHealth`` checks the wrapper itself, so
this part is tested on every machine.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from client.chain.errors import ValidatorNotInstalled, ValidatorStartError
from client.chain.rpc import RpcChain
from client.chain.test_validator import (
    NOT_FOUND_REASON,
    TestValidator,
    _free_port_block,
    _port_free,
    find_test_validator,
)

FAKE_VALIDATOR = f"""#!{sys.executable}
# Stand-in for solana-test-validator: records its argv, then serves getHealth on --rpc-port.
import http.server, json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_VALIDATOR_ARGS"], "w") as f:
    json.dump(args, f)
port = int(args[args.index("--rpc-port") + 1])

class Health(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({{"jsonrpc": "2.0", "id": 1, "result": "ok"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass

http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
"""

BROKEN_VALIDATOR = """#!/bin/sh
echo "Error: failed to start validator: address already in use ($*)" >&2
exit 3
"""


def _script(path: Path, text: str) -> str:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_discovery_prefers_env_then_path_then_install_location(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SOLANA_TEST_VALIDATOR", raising=False)
    monkeypatch.setenv("ML_AGENT_CACHE", str(tmp_path / "cache"))
    path_dir = tmp_path / "bin"
    path_dir.mkdir()
    monkeypatch.setenv("PATH", str(path_dir))
    assert find_test_validator() is None
    assert NOT_FOUND_REASON == (
        "solana-test-validator not on PATH, not installed by scripts/install-test-validator.sh, "
        "and SOLANA_TEST_VALIDATOR unset"
    )

    installed = tmp_path / "cache" / "test-validator" / "bin" / "solana-test-validator"
    installed.parent.mkdir(parents=True)
    _script(installed, BROKEN_VALIDATOR)
    assert find_test_validator() == str(installed)

    on_path = _script(path_dir / "solana-test-validator", BROKEN_VALIDATOR)
    assert find_test_validator() == on_path
    monkeypatch.setenv("SOLANA_TEST_VALIDATOR", "/opt/elsewhere/solana-test-validator")
    assert find_test_validator() == "/opt/elsewhere/solana-test-validator"


async def test_missing_binary_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SOLANA_TEST_VALIDATOR", str(tmp_path / "nope"))
    with pytest.raises(ValidatorNotInstalled, match=r"\$SOLANA_TEST_VALIDATOR.*not an executable"):
        async with TestValidator.start():
            pytest.fail("must not start")


async def test_startup_failure_reports_exit_code_and_output(tmp_path: Path) -> None:
    binary = _script(tmp_path / "broken", BROKEN_VALIDATOR)
    with pytest.raises(ValidatorStartError) as failed:
        async with TestValidator.start(binary=binary, timeout=20):
            pytest.fail("must not start")
    message = str(failed.value)
    assert "exited with code 3" in message
    assert "address already in use" in message
    assert "--rpc-port" in message  # the argv it was given, echoed by the stand-in


async def test_start_passes_isolated_ports_waits_for_health_and_cleans_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    args_file = tmp_path / "args.json"
    monkeypatch.setenv("FAKE_VALIDATOR_ARGS", str(args_file))
    binary = _script(tmp_path / "fake-validator", FAKE_VALIDATOR)
    async with TestValidator.start(binary=binary, timeout=20) as tv:
        assert _alive(tv.pid)
        async with RpcChain(tv.rpc_url) as chain:
            assert await chain.health() == "ok"
        args = json.loads(args_file.read_text())
        assert {"--reset", "--quiet"} <= set(args)

        def value(flag: str) -> str:
            return str(args[args.index(flag) + 1])

        rpc = int(value("--rpc-port"))
        assert tv.rpc_url == f"http://127.0.0.1:{rpc}"
        assert tv.ws_url == f"ws://127.0.0.1:{rpc + 1}"
        assert int(value("--faucet-port")) == tv.faucet_port
        low, high = (int(p) for p in value("--dynamic-port-range").split("-"))
        assert high - low + 1 >= 25  # agave's minimum range width
        fixed = {rpc, rpc + 1, tv.faucet_port, int(value("--gossip-port"))}
        assert len(fixed) == 4 and not fixed & set(range(low, high + 1))
        assert Path(value("--ledger")) == tv.ledger
    assert not _alive(tv.pid)
    assert not tv.ledger.parent.exists()  # temp ledger removed


def test_free_port_block_is_free_and_contiguous() -> None:
    rpc, faucet, gossip, dynamic = _free_port_block()
    assert (faucet, gossip, dynamic) == (rpc + 2, rpc + 3, rpc + 4)
    assert all(_port_free(p) for p in range(rpc, dynamic + 64))
