"""Where the build puts things: the program ELF, its keypair and the IDL."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from solders.keypair import Keypair

REPO_ROOT = Path(__file__).resolve().parent.parent
IDL_PATH = REPO_ROOT / "idl" / "ml_agent.json"
PROGRAM_KEYPAIR_PATH = REPO_ROOT / "programs" / "ml_agent" / "keys" / "ml_agent-keypair.json"


DEPLOY_DIR = REPO_ROOT / "target" / "deploy"
# e_flags of an SBPF ELF is its SBPF version (0 also covers the pre-versioning ELFs).
_E_FLAGS_OFFSET = 48
_ELF_MAGIC = b"\x7fELF"


def program_so_path() -> Path:
    """The deployable ELF (SBPF v3: what validators, Surfpool and the clusters run);
    `ML_AGENT_SO` overrides it (e.g. to test a released build)."""
    override = os.environ.get("ML_AGENT_SO")
    return Path(override) if override else DEPLOY_DIR / "ml_agent.so"


def embedded_so_path() -> Path:
    """The ELF the in-process LiteSVM runs: the same build assembled as SBPF v0, because
    solders 0.26's LiteSVM cannot load v3 (docs/toolchain.md). `ML_AGENT_EMBEDDED_SO`
    overrides it."""
    override = os.environ.get("ML_AGENT_EMBEDDED_SO")
    return Path(override) if override else DEPLOY_DIR / "ml_agent-sbpf-v0.so"


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise FileNotFoundError(
            f"program ELF not found at {path}; build it with `bash scripts/build-program.sh`"
        )
    return path.read_bytes()


def read_program_so() -> bytes:
    return _read(program_so_path())


def read_embedded_so() -> bytes:
    return _read(embedded_so_path())


def so_path_for(*, embedded: bool) -> Path:
    """The ELF a backend runs: the v0 build on the embedded LiteSVM, the deployable otherwise."""
    return embedded_so_path() if embedded else program_so_path()


def sbpf_version(elf: bytes) -> int:
    """The SBPF version an ELF declares (its e_flags); ValueError if it is not an ELF."""
    if len(elf) < _E_FLAGS_OFFSET + 4 or elf[:4] != _ELF_MAGIC:
        raise ValueError("not an ELF file")
    return int.from_bytes(elf[_E_FLAGS_OFFSET : _E_FLAGS_OFFSET + 4], "little")


def program_keypair() -> Keypair:
    import json

    return Keypair.from_bytes(bytes(json.loads(PROGRAM_KEYPAIR_PATH.read_text())))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
