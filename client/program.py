"""The program's interface, driven by its Anchor IDL through anchorpy's coders.

Instructions are encoded, and accounts and events decoded, from `idl/ml_agent.json`; account metas
come from the IDL's account lists, so a new instruction needs no hand-written byte packing.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from anchorpy import Coder, Idl
from anchorpy.program.event import EventParser
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from .artifacts import IDL_PATH


@cache
def idl() -> Idl:
    return Idl.from_json(IDL_PATH.read_text())


@cache
def idl_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(IDL_PATH.read_text())
    return data


@cache
def coder() -> Coder:
    return Coder(idl())


def _program_id() -> Pubkey:
    """The IDL's address, unless ``ML_AGENT_PROGRAM_ID`` names your own deployment of the same
    ELF (the program derives every PDA from the id it runs under, so one build serves any id;
    see `python -m client deploy-program --new-program-keypair`)."""
    override = os.environ.get(PROGRAM_ID_ENV, "").strip()
    if override:
        try:
            return Pubkey.from_string(override)
        except ValueError:
            raise ValueError(f"${PROGRAM_ID_ENV}={override!r} is not a base58 address") from None
    return Pubkey.from_string(idl_json()["address"])


PROGRAM_ID_ENV = "ML_AGENT_PROGRAM_ID"
PROGRAM_ID = _program_id()


class ProgramErrorCode(Exception):
    """A transaction failed with one of the program's errors (Anchor numbering)."""


def error_name(code: int) -> str | None:
    """Name of an Anchor framework or program error code, as the IDL / Anchor define it."""
    for e in idl_json()["errors"]:
        if e["code"] == code:
            return str(e["name"])
    return ANCHOR_FRAMEWORK_ERRORS.get(code)


# The framework codes the program shares with anchor-lang (see programs/ml_agent/src/error.rs).
ANCHOR_FRAMEWORK_ERRORS: dict[int, str] = {
    100: "InstructionMissing",
    101: "InstructionFallbackNotFound",
    102: "InstructionDidNotDeserialize",
    2000: "ConstraintMut",
    2002: "ConstraintSigner",
    2006: "ConstraintSeeds",
    2012: "ConstraintAddress",
    3000: "AccountDiscriminatorAlreadySet",
    3001: "AccountDiscriminatorNotFound",
    3002: "AccountDiscriminatorMismatch",
    3003: "AccountDidNotDeserialize",
    3005: "AccountNotEnoughKeys",
    3007: "AccountOwnedByWrongProgram",
    3011: "AccountNotSystemOwned",
    3012: "AccountNotInitialized",
}


@dataclass(frozen=True)
class AnchorErrorLog:
    """The error a failed instruction logged in anchor-lang's format (what Anchor's TS client
    turns into an ``AnchorError``): name, number and message, and the program that logged it."""

    name: str
    number: int
    message: str
    program: Pubkey | None


_ANCHOR_ERROR = re.compile(
    r"^Program log: AnchorError occurred\. Error Code: (.*)\. Error Number: (\d+)\. "
    r"Error Message: (.*)\.$"
)
_INVOKE = re.compile(r"^Program (\w+) invoke \[\d+\]$")


def anchor_error(logs: list[str]) -> AnchorErrorLog | None:
    """The first ``AnchorError occurred`` line in ``logs``, parsed as @anchor-lang/core's
    ``AnchorError.parse`` does, with the program that was running when it was logged."""
    stack: list[str] = []
    for line in logs:
        if m := _INVOKE.match(line):
            stack.append(m.group(1))
        elif line.startswith("Program ") and (line.endswith(" success") or " failed" in line):
            if stack:
                stack.pop()
        elif m := _ANCHOR_ERROR.match(line):
            program = Pubkey.from_string(stack[-1]) if stack else None
            return AnchorErrorLog(m.group(1), int(m.group(2)), m.group(3), program)
    return None


def _ix_spec(name: str) -> dict[str, Any]:
    for ix in idl_json()["instructions"]:
        if ix["name"] == name:
            return dict(ix)
    raise KeyError(f"instruction {name!r} is not in the IDL")


def build_ix(
    name: str,
    args: Mapping[str, Any],
    accounts: Mapping[str, Pubkey],
    *,
    program_id: Pubkey = PROGRAM_ID,
    remaining: list[AccountMeta] | None = None,
) -> Instruction:
    """Encode instruction `name` with anchorpy and order its accounts as the IDL declares them.

    Accounts with a fixed IDL address (system program, sysvars) may be omitted; optional accounts
    that are omitted are passed as the program id, Anchor's convention for `None`.
    """
    spec = _ix_spec(name)
    metas: list[AccountMeta] = []
    for acc in spec["accounts"]:
        key = accounts.get(acc["name"])
        if key is None and "address" in acc:
            key = Pubkey.from_string(acc["address"])
        if key is None and acc.get("optional"):
            key = program_id
        if key is None:
            raise KeyError(f"instruction {name!r} needs account {acc['name']!r}")
        metas.append(
            AccountMeta(
                key, is_signer=bool(acc.get("signer")), is_writable=bool(acc.get("writable"))
            )
        )
    extra = set(accounts) - {a["name"] for a in spec["accounts"]}
    if extra:
        raise KeyError(f"instruction {name!r} has no accounts named {sorted(extra)}")
    data = coder().instruction.encode(name, dict(args))
    return Instruction(program_id, data, metas + (remaining or []))


def decode_account(data: bytes) -> tuple[str, Any]:
    """Decode any of the program's accounts by its discriminator; returns (type name, fields)."""
    acc_coder = coder().accounts
    disc = bytes(data[:8])
    name = acc_coder.discriminator_to_acc_name.get(disc)
    if name is None:
        raise ValueError(f"unknown account discriminator {disc.hex()}")
    return name, acc_coder.decode(bytes(data))


@dataclass
class Event:
    name: str
    data: Any


def parse_events(logs: list[str], program_id: Pubkey = PROGRAM_ID) -> list[Event]:
    """The program's events found in a transaction's logs, in emission order."""
    out: list[Event] = []
    EventParser(program_id, coder()).parse_logs(logs, lambda e: out.append(Event(e.name, e.data)))
    return out


def find_pda(seeds: list[bytes], program_id: Pubkey = PROGRAM_ID) -> tuple[Pubkey, int]:
    return Pubkey.find_program_address(seeds, program_id)


def ping_record_address(authority: Pubkey, program_id: Pubkey = PROGRAM_ID) -> Pubkey:
    return find_pda([b"ping", bytes(authority)], program_id)[0]
