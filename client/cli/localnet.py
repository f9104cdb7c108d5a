"""`python -m client localnet [start|status|stop]`: a local cluster every command can use.

    python -m client localnet                 # foreground, status line, Ctrl-C stops it
    python -m client localnet --detach        # background; `localnet status`, `localnet stop`
    python -m client localnet --validator test-validator --reset

It serves 127.0.0.1:8899 (RPC) and 8900 (websocket), the address `--url localnet` (the default)
points at, with the program deployed at its IDL address and the keypair (--keypair, else the
Solana CLI config's, else ~/.config/solana/id.json, created if missing) funded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from solders.pubkey import Pubkey

from ..artifacts import program_keypair, read_program_so
from ..chain.base import ChainError
from ..chain.errors import ValidatorStartError
from ..chain.localnet import (
    DEFAULT_AIRDROP_SOL,
    DEFAULT_RPC_PORT,
    VALIDATORS,
    LocalnetInfo,
    LocalnetOptions,
    log_file,
    process_alive,
    read_state,
    serve,
    state_file,
)
from ..chain.localnet import stop as stop_localnet
from .context import CliContext, add_output_alias, fail

ACTIONS = ("start", "status", "stop")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "localnet",
        help="run a local validator on 127.0.0.1:8899/8900 with the program deployed and your "
        "keypair funded (start | status | stop)",
        description="Start (default), inspect or stop a local cluster. Surfpool by default; "
        "solana-test-validator with --validator test-validator.",
    )
    p.add_argument("action", nargs="?", choices=ACTIONS, default="start")
    p.add_argument("--detach", action="store_true", help="run in the background (pid file)")
    p.add_argument("--validator", choices=VALIDATORS, default="surfpool", help="default: surfpool")
    p.add_argument(
        "--reset",
        action="store_true",
        help="start from an empty ledger (test-validator keeps its ledger otherwise; Surfpool "
        "always starts empty)",
    )
    p.add_argument("--rpc-port", type=_port, default=DEFAULT_RPC_PORT, help="default 8899")
    p.add_argument("--ws-port", type=_port, default=None, help="default: RPC port + 1")
    p.add_argument(
        "--airdrop",
        type=_sol,
        default=DEFAULT_AIRDROP_SOL,
        metavar="SOL",
        help=f"fund the keypair with this many SOL (default {DEFAULT_AIRDROP_SOL})",
    )
    p.add_argument(
        "--keypair",
        "-k",
        default=None,
        help="keypair to fund (default: the Solana CLI config's keypair_path, else "
        "~/.config/solana/id.json, created if missing)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable JSON output")
    add_output_alias(p)
    p.set_defaults(handler=localnet, url="localnet", require_program=False)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65_535:
        raise argparse.ArgumentTypeError(f"port {port} is not in 1..65535")
    return port


def _sol(text: str) -> int:
    try:
        sol = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of SOL") from None
    if not 1 <= sol <= 1_000_000:
        raise argparse.ArgumentTypeError("--airdrop must be 1..1000000 SOL")
    return sol


def _options(args: argparse.Namespace) -> LocalnetOptions:
    ws = args.ws_port if args.ws_port is not None else args.rpc_port + 1
    return LocalnetOptions(
        validator=args.validator,
        rpc_port=args.rpc_port,
        ws_port=ws,
        reset=args.reset,
        airdrop_sol=args.airdrop,
    )


def _describe(info: LocalnetInfo, *, running: bool = True) -> str:
    lines = [
        f"localnet   {info.validator}, pid {info.pid}" + ("" if running else " (not running)"),
        f"rpc        {info.rpc_url}   (--url localnet"
        + ("" if info.rpc_url.endswith(":8899") else f" → use --url {info.rpc_url}")
        + ")",
        f"websocket  {info.ws_url}",
        f"program    {info.program_id}",
        f"payer      {info.payer} ({info.payer_lamports / 1e9:,.3f} SOL at start)",
    ]
    if info.ledger:
        lines.append(f"ledger     {info.ledger}")
    if info.log:
        lines.append(f"log        {info.log}")
    return "\n".join(lines)


async def localnet(args: argparse.Namespace, ctx: CliContext) -> int:
    if args.action == "status":
        return await _status(args, ctx)
    if args.action == "stop":
        return _stop(args, ctx)
    opts = _options(args)
    if args.detach:
        return await _detach(args, ctx, opts)
    return await _foreground(args, ctx, opts)


async def _foreground(args: argparse.Namespace, ctx: CliContext, opts: LocalnetOptions) -> int:
    payer = ctx.keypair  # created here for local use if missing, and said so
    elf = read_program_so()
    tty = sys.stderr.isatty()

    def progress(msg: str) -> None:
        if not ctx.json:
            print(f"localnet: {msg}", file=sys.stderr, flush=True)

    stop_event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop_event.set)
    async with serve(
        opts, payer, program_so=elf, program_keypair=program_keypair(), on_progress=progress
    ) as info:
        ctx.emit(
            info,
            _describe(info) + f"\nready in {info.startup_seconds:.1f} s; Ctrl-C stops it",
        )
        sys.stdout.flush()
        if tty and not ctx.json:
            await _status_line(info, stop_event)
        else:
            await stop_event.wait()
        if tty:
            print(file=sys.stderr)
        progress("stopping")
    return 0


async def _status_line(info: LocalnetInfo, stop_event: asyncio.Event) -> None:
    from ..chain.rpc import RpcChain

    chain = RpcChain(info.rpc_url, max_retries=0, timeout=2.0)
    try:
        while not stop_event.is_set():
            try:
                slot = await chain.slot()
                sol = await chain.get_balance(_pubkey(info.payer)) / 1e9
                line = f"slot {slot:,}  payer {sol:,.3f} SOL  {info.rpc_url}  (Ctrl-C stops)"
            except ChainError as e:
                line = f"not answering: {e}"[:100]
            print(f"\r\x1b[2K{line}", end="", file=sys.stderr, flush=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), 1.0)
    finally:
        await chain.close()


def _pubkey(text: str) -> Pubkey:
    return Pubkey.from_string(text)


async def _detach(args: argparse.Namespace, ctx: CliContext, opts: LocalnetOptions) -> int:
    running = read_state(opts.rpc_port)
    if running is not None and process_alive(running.pid):
        return fail(
            f"a localnet (pid {running.pid}) already runs on port {opts.rpc_port}; "
            "`python -m client localnet stop` first"
        )
    read_program_so()  # fail now, in this process, if the program is not built
    keypair_path = ctx.keypair_path
    ctx.keypair  # noqa: B018 - create (and announce) the default keypair here, not in the log
    log = log_file(opts.rpc_port)
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "client",
        "localnet",
        "start",
        "--validator",
        opts.validator,
        "--rpc-port",
        str(opts.rpc_port),
        "--ws-port",
        str(opts.ws_port),
        "--airdrop",
        str(opts.airdrop_sol),
    ]
    if opts.reset:
        argv.append("--reset")
    if keypair_path is not None:
        argv += ["--keypair", str(Path(keypair_path).expanduser().resolve())]
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    with log.open("wb") as out:
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + opts.startup_timeout + 30
    while True:
        info = read_state(opts.rpc_port)
        if info is not None and info.pid == child.pid:
            break
        if child.poll() is not None:
            tail = _log_error(log)
            raise ValidatorStartError(
                f"localnet exited with code {child.returncode} while starting: {tail} "
                f"(full log: {log})"
            )
        if time.monotonic() > deadline:
            child.terminate()
            raise ValidatorStartError(f"localnet did not become ready; see {log}")
        await asyncio.sleep(0.1)
    ctx.emit(
        info,
        _describe(info) + "\nrunning in the background; `python -m client localnet "
        "stop"
        + ("" if opts.rpc_port == DEFAULT_RPC_PORT else f" --rpc-port {opts.rpc_port}")
        + "` ends it",
    )
    return 0


def _log_error(log: Path) -> str:
    try:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    errors = [ln for ln in lines if ln.startswith("error:")]
    return (errors or lines or ["empty log"])[-1]


async def _status(args: argparse.Namespace, ctx: CliContext) -> int:
    info = read_state(args.rpc_port)
    if info is None or not process_alive(info.pid):
        if info is not None:
            state_file(args.rpc_port).unlink(missing_ok=True)
        return fail(
            f"no localnet is running on port {args.rpc_port}; start one with "
            "`python -m client localnet --detach`"
        )
    from ..chain.rpc import RpcChain

    chain = RpcChain(info.rpc_url, max_retries=0, timeout=3.0)
    try:
        slot = await chain.slot()
        balance = await chain.get_balance(_pubkey(info.payer))
        program = await chain.get_account(_pubkey(info.program_id))
    except ChainError as e:
        return fail(f"localnet pid {info.pid} is running but {info.rpc_url} does not answer: {e}")
    finally:
        await chain.close()
    out = {
        **info.__dict__,
        "slot": slot,
        "payer_balance": balance,
        "program_deployed": program is not None and program.executable,
        "uptime_seconds": round(time.time() - info.started_at, 1),
    }
    ctx.emit(
        out,
        _describe(info) + f"\nslot       {slot:,}; payer balance {balance / 1e9:,.3f} SOL; up "
        f"{out['uptime_seconds']:.0f} s",
    )
    return 0


def _stop(args: argparse.Namespace, ctx: CliContext) -> int:
    info = stop_localnet(args.rpc_port)
    if info is None:
        return fail(f"no localnet is running on port {args.rpc_port}")
    ctx.emit({"stopped": info.pid, "rpc_url": info.rpc_url}, f"stopped localnet pid {info.pid}")
    return 0
