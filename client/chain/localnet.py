"""A persistent local cluster on fixed ports, like ``solana-test-validator`` / ``anchor localnet``.

``serve()`` starts a validator, makes it answer on ``127.0.0.1:<rpc_port>`` (RPC) and
``<ws_port>`` (websocket), deploys the program at its IDL address through the upgradeable
loader, funds the payer, records itself in a state file and runs until cancelled:

* **Surfpool** (default): the in-process Surfnet picks its own ports and has no option to choose
  them, so a byte relay listens on the fixed ports and forwards every connection (HTTP and
  websocket alike) to Surfnet's. Surfnet keeps its state in memory: each start is fresh.
* **solana-test-validator**: binds the RPC port itself (its websocket is always RPC + 1) and
  keeps its ledger in the state directory, so accounts survive a restart unless ``reset``.

The state file (``<state dir>/localnet-<rpc port>.json``) names the serving process, so
``status`` and ``stop`` find it from any shell; it is removed on a clean stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from solders.keypair import Keypair

from client.chain.errors import ValidatorNotInstalled, ValidatorStartError
from client.chain.rpc import RpcChain, wait_for_health

__all__ = [
    "DEFAULT_AIRDROP_SOL",
    "DEFAULT_RPC_PORT",
    "VALIDATORS",
    "LocalnetInfo",
    "LocalnetOptions",
    "read_state",
    "serve",
    "state_dir",
    "state_file",
    "stop",
]

DEFAULT_RPC_PORT: Final = 8899
DEFAULT_AIRDROP_SOL: Final = 100
VALIDATORS: Final = ("surfpool", "test-validator")
STATE_DIR_ENV: Final = "ML_AGENT_LOCALNET_DIR"
_LAMPORTS_PER_SOL: Final = 1_000_000_000


def state_dir() -> Path:
    """Where state files, logs and test-validator ledgers live (``$ML_AGENT_LOCALNET_DIR``)."""
    override = os.environ.get(STATE_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path.home() / ".cache" / "ml_agent" / "localnet"


def state_file(rpc_port: int) -> Path:
    return state_dir() / f"localnet-{rpc_port}.json"


def log_file(rpc_port: int) -> Path:
    return state_dir() / f"localnet-{rpc_port}.log"


@dataclass(frozen=True)
class LocalnetOptions:
    validator: str = "surfpool"
    rpc_port: int = DEFAULT_RPC_PORT
    ws_port: int = DEFAULT_RPC_PORT + 1
    reset: bool = False
    airdrop_sol: int = DEFAULT_AIRDROP_SOL
    startup_timeout: float = 180.0


@dataclass(frozen=True)
class LocalnetInfo:
    """What the state file records about a running localnet."""

    pid: int
    validator: str
    rpc_url: str
    ws_url: str
    program_id: str
    payer: str
    payer_lamports: int
    started_at: float
    startup_seconds: float
    ledger: str | None
    log: str | None


def read_state(rpc_port: int) -> LocalnetInfo | None:
    """The recorded localnet on ``rpc_port``, or None (no file, or an unreadable one)."""
    path = state_file(rpc_port)
    try:
        data = json.loads(path.read_text())
        return LocalnetInfo(**data)
    except (OSError, ValueError, TypeError):
        return None


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) counts as gone.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return False
    return True


def _is_localnet_process(pid: int) -> bool:
    """Guard against a recycled pid: only signal a process whose command line is ours."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (not Linux): trust the state file
    return b"localnet" in cmdline


def stop(rpc_port: int, *, timeout: float = 20.0) -> LocalnetInfo | None:
    """Stop the localnet recorded for ``rpc_port``: SIGTERM, wait, then SIGKILL.

    Returns what was stopped, or None when nothing was running (a stale state file is removed).
    """
    info = read_state(rpc_port)
    if info is None:
        return None
    path = state_file(rpc_port)
    if not process_alive(info.pid) or not _is_localnet_process(info.pid):
        path.unlink(missing_ok=True)
        return None
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while process_alive(info.pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(info.pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    path.unlink(missing_ok=True)
    return info


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def check_ports(opts: LocalnetOptions) -> None:
    for port, what in ((opts.rpc_port, "RPC"), (opts.ws_port, "websocket")):
        if not 1 <= port <= 65_535:
            raise ValidatorStartError(f"{what} port {port} is not in 1..65535")
        if not port_free(port):
            running = read_state(opts.rpc_port)
            who = (
                f"a localnet (pid {running.pid}) already runs there: "
                f"`python -m client localnet status`"
                if running is not None and process_alive(running.pid)
                else "another validator or program uses it (`ss -ltnp | grep "
                f":{port}` shows which); stop it or pick --rpc-port/--ws-port"
            )
            raise ValidatorStartError(f"127.0.0.1:{port} ({what}) is taken: {who}")
    if opts.rpc_port == opts.ws_port:
        raise ValidatorStartError("--rpc-port and --ws-port must differ")


# ---------------------------------------------------------------------------- relay


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65_536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def start_relay(listen_port: int, target: str) -> asyncio.Server:
    """Forward every TCP connection on 127.0.0.1:``listen_port`` to ``target`` (a URL)."""
    parts = urlsplit(target)
    host, port = parts.hostname or "127.0.0.1", parts.port
    if port is None:
        raise ValidatorStartError(f"cannot relay to {target}: it names no port")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    return await asyncio.start_server(handle, "127.0.0.1", listen_port, reuse_address=True)


# ---------------------------------------------------------------------------- validators


@dataclass(frozen=True)
class _Running:
    rpc_url: str  # the validator's own URL (for Surfpool, behind the relay)
    ws_url: str
    ledger: str | None


@contextlib.asynccontextmanager
async def _surfpool(opts: LocalnetOptions, payer: Keypair) -> AsyncIterator[_Running]:
    from client.chain.surfpool import Surfpool

    async with Surfpool.start(
        airdrop_addresses=[payer.pubkey()],
        airdrop_lamports=opts.airdrop_sol * _LAMPORTS_PER_SOL,
        timeout=opts.startup_timeout,
    ) as sp:
        rpc_relay = await start_relay(opts.rpc_port, sp.rpc_url)
        ws_relay = await start_relay(opts.ws_port, sp.ws_url)
        try:
            yield _Running(sp.rpc_url, sp.ws_url, None)
        finally:
            for server in (rpc_relay, ws_relay):
                server.close()
            for server in (rpc_relay, ws_relay):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.wait_closed(), 2.0)


def test_validator_binary() -> str:
    """The solana-test-validator to run, or ValidatorNotInstalled saying how to get one."""
    from client.chain.test_validator import ENV_VAR, NOT_FOUND_REASON, find_test_validator

    binary = find_test_validator()
    if binary is None:
        raise ValidatorNotInstalled(
            f"{NOT_FOUND_REASON}: build it with scripts/install-test-validator.sh, or use the "
            "default --validator surfpool"
        )
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        raise ValidatorNotInstalled(
            f"{binary} (from {'$' + ENV_VAR if os.environ.get(ENV_VAR) else 'PATH'}) is not an "
            "executable file; build one with scripts/install-test-validator.sh"
        )
    return binary


@contextlib.asynccontextmanager
async def _test_validator(opts: LocalnetOptions) -> AsyncIterator[_Running]:
    from client.chain.surfpool import stop_process
    from client.chain.test_validator import _die_with_parent, _free_port_block

    binary = test_validator_binary()
    if opts.ws_port != opts.rpc_port + 1:
        raise ValidatorStartError(
            "solana-test-validator always serves its websocket on the RPC port + 1; "
            f"drop --ws-port or give --ws-port {opts.rpc_port + 1}"
        )
    _, faucet, gossip, dynamic = _free_port_block()
    ledger = state_dir() / f"ledger-{opts.rpc_port}"
    if opts.reset and ledger.exists():
        shutil.rmtree(ledger)
    ledger.mkdir(parents=True, exist_ok=True)
    output = ledger / "output.log"
    args = [
        binary,
        "--quiet",
        "--ledger",
        str(ledger),
        "--bind-address",
        "127.0.0.1",
        "--rpc-port",
        str(opts.rpc_port),
        "--faucet-port",
        str(faucet),
        "--gossip-port",
        str(gossip),
        "--dynamic-port-range",
        f"{dynamic}-{dynamic + 63}",
    ]
    if opts.reset:
        args.append("--reset")
    with output.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            preexec_fn=_die_with_parent(),
        )
    rpc_url = f"http://127.0.0.1:{opts.rpc_port}"
    try:
        await wait_for_health(
            rpc_url,
            timeout=opts.startup_timeout,
            what=f"solana-test-validator (pid {proc.pid}, ledger {ledger})",
            exited=lambda: proc.returncode,
            diagnostics=lambda: _tail(output),
        )
        yield _Running(rpc_url, f"ws://127.0.0.1:{opts.ws_port}", str(ledger))
    finally:
        await asyncio.shield(stop_process(proc, grace=15.0))


def _tail(path: Path, limit: int = 3000) -> str:
    try:
        return path.read_bytes()[-limit:].decode(errors="replace")
    except OSError:
        return ""


# ---------------------------------------------------------------------------- serve


@contextlib.asynccontextmanager
async def serve(
    opts: LocalnetOptions,
    payer: Keypair,
    *,
    program_so: bytes,
    program_keypair: Keypair,
    on_progress: Callable[[str], None] = lambda _msg: None,
) -> AsyncIterator[LocalnetInfo]:
    """Run a localnet for the duration of the block; its state file exists while it is ready."""
    if opts.validator not in VALIDATORS:
        raise ValidatorStartError(f"--validator must be one of {', '.join(VALIDATORS)}")
    check_ports(opts)
    if opts.validator == "test-validator":
        test_validator_binary()  # a missing binary is said before anything starts
    started = time.monotonic()
    state_dir().mkdir(parents=True, exist_ok=True)
    on_progress(f"starting {opts.validator}")
    running: contextlib.AbstractAsyncContextManager[_Running] = (
        _surfpool(opts, payer) if opts.validator == "surfpool" else _test_validator(opts)
    )
    async with running as node:
        rpc_url = f"http://127.0.0.1:{opts.rpc_port}"
        ws_url = f"ws://127.0.0.1:{opts.ws_port}"
        chain = RpcChain(rpc_url, name=f"localnet:{opts.rpc_port}")
        try:
            await wait_for_health(rpc_url, timeout=30.0, what=f"localnet at {rpc_url}")
            want = opts.airdrop_sol * _LAMPORTS_PER_SOL
            balance = await chain.get_balance(payer.pubkey())
            if balance < want // 2:
                on_progress(f"funding {payer.pubkey()} with {opts.airdrop_sol} SOL")
                await chain.airdrop(payer.pubkey(), want - balance)
            account = await chain.get_account(program_keypair.pubkey())
            if account is None or not account.executable:
                on_progress(f"deploying the program at {program_keypair.pubkey()}")
                await chain.deploy_program(program_keypair, program_so, payer)
                # The deploy's rent came out of the payer: give back the promised balance.
                balance = await chain.get_balance(payer.pubkey())
                if balance < want:
                    await chain.airdrop(payer.pubkey(), want - balance)
            info = LocalnetInfo(
                pid=os.getpid(),
                validator=opts.validator,
                rpc_url=rpc_url,
                ws_url=ws_url,
                program_id=str(program_keypair.pubkey()),
                payer=str(payer.pubkey()),
                payer_lamports=await chain.get_balance(payer.pubkey()),
                started_at=time.time(),
                startup_seconds=round(time.monotonic() - started, 2),
                ledger=node.ledger,
                log=str(log_file(opts.rpc_port)) if log_file(opts.rpc_port).exists() else None,
            )
        finally:
            await chain.close()
        path = state_file(opts.rpc_port)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(info), indent=2) + "\n")
        tmp.replace(path)
        try:
            yield info
        finally:
            recorded = read_state(opts.rpc_port)
            if recorded is not None and recorded.pid == os.getpid():
                path.unlink(missing_ok=True)
