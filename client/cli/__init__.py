"""`python -m client`: thin synchronous wrappers over the async SDK.

Each command module exposes `register(subparsers)`, adding parsers whose `handler` default is an
`async def handler(args, ctx) -> int`. Exit codes: 0 ok, 1 operation failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Sequence

from ..chain.base import ChainError
from ..config import ConfigError
from .context import CliContext, fail

# Modules contributing subcommands, in help order.
COMMAND_MODULES = [
    "client.cli.demo",
    "client.cli.compile",
    "client.cli.registry",
    "client.model.accuracy",
    "client.cli.inference",
    "client.cli.bot",
    "client.cli.train",
    "client.cli.market",
    "client.cli.agent",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m client",
        description="ml_agent: compile ML models to fixed point, store them on Solana, run "
        "inference and trading agents on chain.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue  # command family not built yet
            raise
        module.register(sub)
    return parser


async def _run(args: argparse.Namespace) -> int:
    ctx = CliContext.from_args(args)
    try:
        code: int = await args.handler(args, ctx)
        return code
    finally:
        await ctx.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    try:
        return asyncio.run(_run(args))
    except (ConfigError, ChainError, FileNotFoundError, ValueError) as e:
        return fail(str(e))
    except KeyboardInterrupt:
        return fail("interrupted", 130)


if __name__ == "__main__":
    sys.exit(main())
