"""`python -m client` / `ml-agent`: thin synchronous wrappers over the async SDK.

Each command module exposes `register(subparsers)`, adding parsers whose `handler` default is an
`async def handler(args, ctx) -> int`. Errors follow one policy (`client.cli.errors`): exit 0 ok,
1 operation failed, 2 bad usage, 130 interrupted; one line on stderr (a JSON object on stdout
with --json); no traceback unless the error is a bug and ML_AGENT_DEBUG=1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from . import errors
from .context import CliContext, add_output_alias

# Modules contributing subcommands, in help order.
COMMAND_MODULES = [
    "client.cli.localnet",
    "client.cli.demo",
    "client.cli.compile",
    "client.cli.registry",
    "client.cli.deploy_program",
    "client.model.accuracy",
    "client.cli.inference",
    "client.cli.features",
    "client.cli.bot",
    "client.cli.train",
    "client.cli.regime",
    "client.cli.market",
    "client.cli.agent",
]
PROG = "ml-agent"


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("ml-agent")
    except PackageNotFoundError:
        return "0+unknown"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors go through the CLI's error policy (one line, exit 2)."""

    def error(self, message: str) -> NoReturn:
        raise errors.UsageError(message, self.prog)


def build_parser() -> argparse.ArgumentParser:
    # Usage lines and error hints name the command the way it was typed.
    main_module = Path(__file__).resolve().parent.parent / "__main__.py"
    invoked_as = "python -m client" if Path(sys.argv[0]).resolve() == main_module else PROG
    parser = Parser(
        prog=invoked_as,
        description="ml_agent: compile ML models to fixed point, store them on Solana, run "
        "inference and trading agents on chain. Also `python -m client`. Exit codes: 0 ok, "
        "1 failed, 2 bad usage, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue  # command family not built yet
            raise
        module.register(sub)
    for p in _all_parsers(parser):
        options = {s for a in p._actions for s in a.option_strings}
        if "--json" in options and "--output" not in options:
            add_output_alias(p)
    return parser


def _all_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield from _all_parsers(child)


async def _run(args: argparse.Namespace) -> int:
    ctx = CliContext.from_args(args)
    try:
        code: int = await args.handler(args, ctx)
        return code
    finally:
        await ctx.close()


def main(argv: Sequence[str] | None = None) -> int:
    arg_list = list(sys.argv[1:] if argv is None else argv)
    errors.MODE.json = errors.json_requested(arg_list)
    try:
        parser = build_parser()
        args = parser.parse_args(arg_list)
        if getattr(args, "handler", None) is None:
            parser.print_help(sys.stderr)
            return errors.EXIT_USAGE
        errors.MODE.json = errors.MODE.json or CliContext.from_args(args).json
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return errors.report("interrupted", errors.EXIT_INTERRUPTED)
    except BrokenPipeError:
        # `ml-agent ... | head`: the reader left; say nothing more and exit like other tools.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return errors.EXIT_FAILURE
    except SystemExit as e:  # --help / --version, or a library calling sys.exit
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except Exception as e:  # the error policy: every failure becomes one line
        return errors.report_exception(e)


if __name__ == "__main__":
    sys.exit(main())
