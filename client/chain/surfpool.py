"""Run a Surfpool local validator (``scripts/surfpool/launch.cjs``) for tests and local use.

    async with Surfpool.start() as sp:
        chain = RpcChain(sp.rpc_url)

The launcher is a Node process hosting the Surfnet native addon. We hold its stdin open: if
this Python process dies without cleanup, the pipe closes and the launcher stops itself.
Startup takes ~0.25 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from solders.pubkey import Pubkey

from client.chain.errors import ValidatorNotInstalled, ValidatorStartError
from client.chain.rpc import wait_for_health

__all__ = ["DEFAULT_SLOT_TIME_MS", "LAUNCHER", "REPO_ROOT", "Surfpool", "stop_process"]

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
LAUNCHER: Final = REPO_ROOT / "scripts" / "surfpool" / "launch.cjs"
_ADDON_DIR: Final = REPO_ROOT / "node_modules" / "@solana" / "surfpool-linux-x64-gnu"
_SETUP_HINT: Final = f"run scripts/setup.sh (or just `npm ci` in {REPO_ROOT})"
# Matches the launcher's default; see its header for why 50 ms.
DEFAULT_SLOT_TIME_MS: Final = 50


@dataclass(frozen=True)
class Surfpool:
    """A running Surfpool validator; only valid inside its ``start()`` block."""

    rpc_url: str
    ws_url: str
    # Pre-funded by Surfnet; its secret key stays in the launcher (use airdrops instead).
    payer: Pubkey
    pid: int
    startup_seconds: float

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls,
        *,
        slot_time_ms: int = DEFAULT_SLOT_TIME_MS,
        block_production_mode: str = "clock",
        airdrop_addresses: Sequence[Pubkey] = (),
        airdrop_lamports: int | None = None,
        timeout: float = 30.0,
        node: str | None = None,
    ) -> AsyncIterator[Surfpool]:
        """Start the launcher, wait for its JSON line and for ``getHealth`` ok; always stop it.

        ``airdrop_addresses`` are funded with ``airdrop_lamports`` each before this returns.
        """
        node_path = _find_node(node)
        args = [
            node_path,
            str(LAUNCHER),
            "--slot-time-ms",
            str(slot_time_ms),
            "--block-production-mode",
            block_production_mode,
        ]
        for address in airdrop_addresses:
            args += ["--airdrop-address", str(address)]
        if airdrop_lamports is not None:
            args += ["--airdrop-lamports", str(airdrop_lamports)]

        # Output goes to files, not pipes: nothing has to drain them, so the validator never
        # blocks on a full pipe even while the event loop that started it is idle (pytest runs
        # a session fixture's loop only during fixture setup/teardown).
        with tempfile.TemporaryDirectory(prefix="surfpool-") as logs:
            out_path, err_path = Path(logs) / "stdout", Path(logs) / "stderr"
            started = time.monotonic()
            with out_path.open("wb") as out, err_path.open("wb") as err:
                proc = await asyncio.create_subprocess_exec(
                    *args, stdin=asyncio.subprocess.PIPE, stdout=out, stderr=err, cwd=REPO_ROOT
                )
            try:
                line = await _read_ready_line(proc, out_path, err_path, timeout)
                rpc_url, ws_url, payer = _parse_ready_line(line, err_path)
                remaining = max(timeout - (time.monotonic() - started), 1.0)
                await wait_for_health(
                    rpc_url,
                    timeout=remaining,
                    what=f"Surfpool launcher (pid {proc.pid})",
                    exited=lambda: proc.returncode,
                    diagnostics=lambda: _read_tail(err_path),
                )
                yield cls(
                    rpc_url=rpc_url,
                    ws_url=ws_url,
                    payer=payer,
                    pid=proc.pid,
                    startup_seconds=time.monotonic() - started,
                )
            finally:
                # Shielded: a second cancellation must not leave the validator running.
                await asyncio.shield(stop_process(proc))


def _find_node(node: str | None) -> str:
    found = node or os.environ.get("NODE") or shutil.which("node")
    if not found or not Path(found).exists():
        raise ValidatorNotInstalled(
            "Surfpool needs Node.js >= 18 but `node` is not on PATH (set $NODE to its path); "
            f"then {_SETUP_HINT}"
        )
    if not LAUNCHER.is_file():
        raise ValidatorNotInstalled(f"Surfpool launcher missing at {LAUNCHER}")
    if not (_ADDON_DIR / "package.json").is_file():
        raise ValidatorNotInstalled(
            f"the Surfpool addon is not installed ({_ADDON_DIR} is missing): {_SETUP_HINT}"
        )
    return found


async def _read_ready_line(
    proc: asyncio.subprocess.Process, out_path: Path, err_path: Path, timeout: float
) -> bytes:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        content = out_path.read_bytes()
        if b"\n" in content:
            return content.split(b"\n", 1)[0]
        if proc.returncode is not None:
            raise ValidatorStartError(
                f"Surfpool launcher exited with code {proc.returncode} before printing its "
                f"JSON line{_tail(err_path)}"
            )
        if loop.time() > deadline:
            raise ValidatorStartError(
                f"Surfpool launcher (pid {proc.pid}) printed no JSON line with rpcUrl within "
                f"{timeout:.0f}s{_tail(err_path)}"
            )
        await asyncio.sleep(0.02)


def _parse_ready_line(line: bytes, err_path: Path) -> tuple[str, str, Pubkey]:
    try:
        info = json.loads(line)
        return str(info["rpcUrl"]), str(info["wsUrl"]), Pubkey.from_string(str(info["payer"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidatorStartError(
            f"Surfpool launcher printed {line[:300]!r}, not the expected JSON "
            f'{{"rpcUrl", "wsUrl", "payer"}} ({exc}){_tail(err_path)}'
        ) from exc


def _read_tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_bytes()[-limit:].decode(errors="replace")
    except OSError:
        return ""


def _tail(err_path: Path) -> str:
    text = _read_tail(err_path).strip()
    return f"; its stderr ends with:\n{text}" if text else "; its stderr was empty"


async def stop_process(proc: asyncio.subprocess.Process, grace: float = 10.0) -> int | None:
    """Stop ``proc``: close stdin, SIGTERM, wait ``grace`` s, then SIGKILL. Returns its code."""
    if proc.returncode is not None:
        return proc.returncode
    if proc.stdin is not None and not proc.stdin.is_closing():
        proc.stdin.close()
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        return await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        return await proc.wait()
