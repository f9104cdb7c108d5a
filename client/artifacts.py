"""Where the build puts things: the program ELF, its keypair and the IDL."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from solders.keypair import Keypair

REPO_ROOT = Path(__file__).resolve().parent.parent
IDL_PATH = REPO_ROOT / "idl" / "ml_agent.json"
PROGRAM_KEYPAIR_PATH = REPO_ROOT / "programs" / "ml_agent" / "keys" / "ml_agent-keypair.json"


def program_so_path() -> Path:
    """The deployable ELF; `ML_AGENT_SO` overrides it (e.g. to test a released build)."""
    override = os.environ.get("ML_AGENT_SO")
    return Path(override) if override else REPO_ROOT / "target" / "deploy" / "ml_agent.so"


def read_program_so() -> bytes:
    path = program_so_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"program ELF not found at {path}; build it with `bash scripts/build-program.sh`"
        )
    return path.read_bytes()


def program_keypair() -> Keypair:
    import json

    return Keypair.from_bytes(bytes(json.loads(PROGRAM_KEYPAIR_PATH.read_text())))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
