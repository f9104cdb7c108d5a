"""One error and exit-code policy for every `python -m client` command.

Exit codes (documented in docs/cli.md):

* 0 — success;
* 1 — the operation failed (a transaction was rejected, a file is not a model, the validator is
  unreachable, ...);
* 2 — bad usage (unknown option, malformed value, bad --url or --keypair);
* 130 — interrupted (Ctrl-C).

A failure prints exactly one line, ``error: <what went wrong>[; hint]``, on stderr; with
``--json``/``--output json`` it prints one JSON object ``{"error": {...}}`` on stdout instead.
Program errors are named from the IDL (``InvalidInput (6012): ...``) with a one-line hint.
Tracebacks are for bugs only: an unexpected exception prints ``internal error: ...`` and the
traceback is shown only with ``ML_AGENT_DEBUG=1``.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import sys
import traceback
from dataclasses import dataclass
from typing import Any, Final

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130

DEBUG_ENV: Final = "ML_AGENT_DEBUG"


class UsageError(Exception):
    """Bad command line (raised by the argument parser instead of printing usage and exiting)."""

    def __init__(self, message: str, prog: str) -> None:
        super().__init__(message)
        self.prog = prog


class BadArgument(ValueError):
    """A command-line value the command cannot use (missing file, malformed address): exit 2."""


@dataclass
class _Mode:
    json: bool = False


# The process's output mode, set once by `main` from the command line.
MODE: Final = _Mode()


def json_requested(argv: list[str]) -> bool:
    """True when the command line asks for JSON (before, or without, a successful parse)."""
    for i, arg in enumerate(argv):
        if arg == "--json" or arg == "--output=json":
            return True
        if arg == "--output" and i + 1 < len(argv) and argv[i + 1] == "json":
            return True
    return False


# Hints for the Anchor framework errors the program shares with anchor-lang, in the words of
# what a CLI user most likely did.
_FRAMEWORK_HINTS: Final[dict[int, str]] = {
    100: "the program does not know this instruction: is the deployed program older than the SDK?",
    101: "the program does not know this instruction: is the deployed program older than the SDK?",
    102: "the instruction's arguments did not decode: SDK and program versions differ?",
    2000: "an account that must be writable was passed read-only",
    2002: "a required signature is missing: use the keypair that owns this account (--keypair)",
    2006: "an account is not at the address its seeds derive: wrong address for this command?",
    2012: "an account is not at the address the program expects",
    3000: "that account already exists (an id used before?): pick another id or use the "
    "existing account",
    3001: "the address holds no account of this program: check the address and --url",
    3002: "the address holds a different kind of account than this command takes "
    "(e.g. a weights account where a model is expected): check the address",
    3003: "the account's data did not decode: wrong address, or a program version mismatch",
    3005: "not enough accounts were passed: SDK and program versions differ?",
    3007: "the address belongs to another program: check the address and --url",
    3011: "an account that must be a plain system account is not",
    3012: "the account does not exist yet: check the address and --url",
}


TOKEN_PROGRAM: Final = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
# spl-token's TokenError, in order.
_TOKEN_ERRORS: Final = (
    ("NotRentExempt", "the account would not be rent-exempt"),
    ("InsufficientFunds", "not enough tokens in the source account"),
    ("InvalidMint", "invalid mint"),
    ("MintMismatch", "the token account is of another mint"),
    ("OwnerMismatch", "the token account belongs to someone else"),
    ("FixedSupply", "the mint's supply is fixed"),
    ("AlreadyInUse", "the account is already in use"),
    ("InvalidNumberOfProvidedSigners", "invalid number of signers"),
    ("InvalidNumberOfRequiredSigners", "invalid number of required signers"),
    ("UninitializedState", "the token account or mint is not initialized"),
    ("NativeNotSupported", "not supported for native (wrapped SOL) accounts"),
    ("NonNativeHasBalance", "a non-native account with a balance cannot be closed"),
    ("InvalidInstruction", "invalid instruction"),
    ("InvalidState", "invalid account state"),
    ("Overflow", "the amount overflows"),
    ("AuthorityTypeNotSupported", "authority type not supported"),
    ("MintCannotFreeze", "the mint cannot freeze accounts"),
    ("AccountFrozen", "the token account is frozen"),
)
_FAILED_LINE: Final = re.compile(r"^Program (\S+) failed: custom program error: 0x([0-9a-fA-F]+)$")


def failing_program(logs: list[str]) -> tuple[str, int] | None:
    """(program id, code) of the innermost program that failed with a custom error."""
    for line in logs:
        m = _FAILED_LINE.match(line)
        if m:
            return m.group(1), int(m.group(2), 16)
    return None


def program_error_summary(code: int, logs: list[str] | None = None) -> str:
    """``Name (code): message; hint`` for a program or Anchor framework error code."""
    from ..program import PROGRAM_ID, error_name, idl_json

    failed = failing_program(logs or [])
    if failed is not None and failed[0] != str(PROGRAM_ID) and failed[1] == code:
        program = failed[0]
        if program == TOKEN_PROGRAM and code < len(_TOKEN_ERRORS):
            token_name, why = _TOKEN_ERRORS[code]
            return f"the SPL token program refused it: {token_name} ({code}): {why}"
        return f"program {program} refused it with its custom error {code} (0x{code:x})"
    name = error_name(code)
    msg = next((str(e.get("msg", "")) for e in idl_json()["errors"] if e["code"] == code), "")
    hint = _FRAMEWORK_HINTS.get(code, "")
    if name is None:
        return f"custom program error {code} (0x{code:x}), not an ml_agent error: wrong program?"
    parts = [f"{name} ({code})"]
    if msg:
        parts.append(msg)
    text = ": ".join(parts)
    return f"{text}; {hint}" if hint else text


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return "; ".join(lines) if lines else "unknown error"


def _custom_code(exc: BaseException) -> int | None:
    result = getattr(exc, "result", None)
    code = getattr(result, "custom_error", None)
    return code if isinstance(code, int) else None


def describe(exc: BaseException) -> tuple[str, int, dict[str, Any]]:
    """(one-line message, exit code, extra JSON fields) for an exception from a command."""
    from ..chain.base import ChainError, TransactionFailed
    from ..config import ConfigError
    from ..model.errors import ModelError

    extra: dict[str, Any] = {"kind": type(exc).__name__}
    if isinstance(exc, UsageError):
        return f"{exc} (see `{exc.prog} --help`)", EXIT_USAGE, extra
    if isinstance(exc, ConfigError | BadArgument):
        return _one_line(str(exc)), EXIT_USAGE, extra
    code = _custom_code(exc)
    if code is not None:
        from ..program import error_name

        logs = list(getattr(getattr(exc, "result", None), "logs", None) or [])
        extra["program_error"] = {"code": code, "name": error_name(code)}
        what = program_error_summary(code, logs)
        prefix = "the program rejected the transaction"
        if not isinstance(exc, TransactionFailed):
            prefix = _one_line(str(exc)).split(" (", 1)[0]
        return f"{prefix}: {what}", EXIT_FAILURE, extra
    if isinstance(exc, ChainError | ModelError):
        return _one_line(str(exc)), EXIT_FAILURE, extra
    if isinstance(exc, IsADirectoryError):
        return f"{exc.filename} is a directory, not a file", EXIT_FAILURE, extra
    if isinstance(exc, FileNotFoundError):
        what = exc.filename if exc.filename is not None else _one_line(str(exc))
        if exc.filename is None:
            return _one_line(str(exc)), EXIT_FAILURE, extra
        return f"{what}: no such file or directory", EXIT_FAILURE, extra
    if isinstance(exc, PermissionError):
        return f"{exc.filename}: permission denied", EXIT_FAILURE, extra
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or _one_line(str(exc))}", EXIT_FAILURE, extra
    if isinstance(exc, pickle.UnpicklingError | EOFError):
        return (
            f"the file is not a readable pickle ({_one_line(str(exc)) or 'truncated'})",
            EXIT_FAILURE,
            extra,
        )
    if isinstance(exc, UnicodeDecodeError):
        return f"the file is not text: {exc.reason}", EXIT_FAILURE, extra
    if isinstance(exc, ValueError | KeyError | IndexError) and str(exc):
        # Parsing and validation in the commands raise ValueError with a finished sentence.
        return _one_line(str(exc).strip("'\"")), EXIT_FAILURE, extra
    extra["kind"] = "InternalError"
    extra["exception"] = type(exc).__name__
    return (
        f"internal error: {type(exc).__name__}: {_one_line(str(exc))} (a bug: please report "
        f"it; set {DEBUG_ENV}=1 for the traceback)",
        EXIT_FAILURE,
        extra,
    )


def report(message: str, code: int, extra: dict[str, Any] | None = None) -> int:
    """Print a failure the policy's way and return its exit code."""
    message = _one_line(message)
    if MODE.json:
        body = {"error": {"message": message, "exit_code": code, **(extra or {})}}
        print(json.dumps(body, sort_keys=True))
    else:
        print(f"error: {message}", file=sys.stderr)
    return code


def report_exception(exc: BaseException) -> int:
    message, code, extra = describe(exc)
    if os.environ.get(DEBUG_ENV) and message.startswith("internal error"):
        traceback.print_exception(exc, file=sys.stderr)
    return report(message, code, extra)
