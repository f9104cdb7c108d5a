"""Run ``solana-test-validator`` on free local ports with a throw-away ledger.

    async with TestValidator.start() as tv:
        chain = RpcChain(tv.rpc_url)

The binary comes from ``$SOLANA_TEST_VALIDATOR``, ``PATH``, or where
``scripts/install-test-validator.sh`` (a build from crates.io) installs it. Every port it opens
is chosen here (RPC, its websocket at RPC+1, faucet, gossip and the dynamic range for
TPU/TVU/repair) from one block checked to be free, so several validators, or a validator next
to Surfpool, never clash on the 8899/9900 defaults.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from client.chain.errors import ValidatorNotInstalled, ValidatorStartError
from client.chain.rpc import wait_for_health
from client.chain.surfpool import stop_process

__all__ = ["NOT_FOUND_REASON", "TestValidator", "find_test_validator"]

ENV_VAR: Final = "SOLANA_TEST_VALIDATOR"
BINARY: Final = "solana-test-validator"
NOT_FOUND_REASON: Final = (
    f"{BINARY} not on PATH, not installed by scripts/install-test-validator.sh, and {ENV_VAR} unset"
)
# Wider than any agave release's minimum dynamic range (25 in 4.x) for headroom.
_DYNAMIC_RANGE_WIDTH: Final = 64
_FIXED_PORTS: Final = 4  # rpc, rpc websocket (rpc + 1), faucet, gossip
_PORT_SEARCH: Final = (20_000, 60_000)


def installed_path() -> Path:
    """Where scripts/install-test-validator.sh puts the binary."""
    cache = os.environ.get("ML_AGENT_CACHE") or str(Path.home() / ".cache" / "ml_agent")
    return Path(cache) / "test-validator" / "bin" / BINARY


def find_test_validator() -> str | None:
    """The binary from ``$SOLANA_TEST_VALIDATOR`` (even if broken: that is an error to report,
    not a reason to fall back), from ``PATH``, or from scripts/install-test-validator.sh's
    install location; None when none has one."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return configured
    found = shutil.which(BINARY)
    if found is not None:
        return found
    installed = installed_path()
    return str(installed) if os.access(installed, os.X_OK) else None


@dataclass(frozen=True)
class TestValidator:
    """A running solana-test-validator; only valid inside its ``start()`` block."""

    __test__ = False  # not a pytest test class, despite the name

    rpc_url: str
    ws_url: str
    faucet_port: int
    ledger: Path
    pid: int
    startup_seconds: float

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls,
        *,
        binary: str | None = None,
        timeout: float = 120.0,
        extra_args: Sequence[str] = (),
    ) -> AsyncIterator[TestValidator]:
        """Start it, wait for ``getHealth`` ok (raising with its log tail on failure or after
        ``timeout`` s), and always stop it and delete its ledger afterwards."""
        path = binary or find_test_validator()
        if path is None:
            raise ValidatorNotInstalled(
                f"{NOT_FOUND_REASON}; build it with scripts/install-test-validator.sh and "
                f"export {ENV_VAR}=<path printed by the script>"
            )
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise ValidatorNotInstalled(
                f"{path} (from {'$' + ENV_VAR if os.environ.get(ENV_VAR) else 'PATH'}) is not "
                "an executable file"
            )
        rpc, faucet, gossip, dynamic = _free_port_block()
        with tempfile.TemporaryDirectory(prefix="ml-agent-test-validator-") as tmp:
            ledger = Path(tmp) / "ledger"
            output = Path(tmp) / "output.log"
            args = [
                path,
                "--reset",
                "--quiet",
                "--ledger",
                str(ledger),
                "--bind-address",
                "127.0.0.1",
                "--rpc-port",
                str(rpc),
                "--faucet-port",
                str(faucet),
                "--gossip-port",
                str(gossip),
                "--dynamic-port-range",
                f"{dynamic}-{dynamic + _DYNAMIC_RANGE_WIDTH - 1}",
                *extra_args,
            ]
            started = time.monotonic()
            with output.open("wb") as out:
                proc = await asyncio.create_subprocess_exec(
                    *args,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=out,
                    stderr=asyncio.subprocess.STDOUT,
                    preexec_fn=_die_with_parent(),
                )
            rpc_url = f"http://127.0.0.1:{rpc}"
            try:
                await wait_for_health(
                    rpc_url,
                    timeout=timeout,
                    what=f"{BINARY} (pid {proc.pid}, ledger {ledger})",
                    exited=lambda: proc.returncode,
                    diagnostics=lambda: _diagnostics(output, ledger),
                )
                yield cls(
                    rpc_url=rpc_url,
                    ws_url=f"ws://127.0.0.1:{rpc + 1}",
                    faucet_port=faucet,
                    ledger=ledger,
                    pid=proc.pid,
                    startup_seconds=time.monotonic() - started,
                )
            finally:
                await asyncio.shield(stop_process(proc, grace=15.0))


def _free_port_block(attempts: int = 50) -> tuple[int, int, int, int]:
    """(rpc, faucet, gossip, dynamic range start) from one contiguous block of free ports."""
    width = _FIXED_PORTS + _DYNAMIC_RANGE_WIDTH
    for _ in range(attempts):
        base = random.randrange(_PORT_SEARCH[0], _PORT_SEARCH[1] - width)
        if all(_port_free(port) for port in range(base, base + width)):
            return base, base + 2, base + 3, base + _FIXED_PORTS
    raise ValidatorStartError(
        f"found no {width} consecutive free ports on 127.0.0.1 in {_PORT_SEARCH} after "
        f"{attempts} tries"
    )


def _port_free(port: int) -> bool:
    # The validator uses both TCP (RPC, QUIC-less services) and UDP (gossip, TPU, QUIC).
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, have the kernel SIGTERM the validator if this process dies uncleanly."""
    if not sys.platform.startswith("linux"):
        return None

    def set_pdeathsig() -> None:
        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)

    return set_pdeathsig


def _diagnostics(output: Path, ledger: Path) -> str:
    parts = []
    for path in (output, ledger / "validator.log"):
        try:
            text = path.read_bytes()[-3000:].decode(errors="replace").strip()
        except OSError:
            continue
        if text:
            parts.append(f"[{path.name}]\n{text}")
    return "\n".join(parts)
