"""Shared fixtures: the built program, an in-process SVM with it loaded, funded keypairs.

Validator fixtures (Surfpool, solana-test-validator) live in tests/validators.py.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from solders.keypair import Keypair

from client.artifacts import embedded_so_path
from client.chain.litesvm import LiteSvmChain
from client.program import PROGRAM_ID

if importlib.util.find_spec("tests.validators") is not None:
    pytest_plugins = ["tests.validators"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long",
        action="store_true",
        default=False,
        help="long property runs (tests/security/test_stateful.py: 10,000 sequences)",
    )


@pytest.fixture(scope="session")
def program_elf() -> Path:
    """The ELF LiteSVM runs: the SBPF v0 build (solders 0.26 cannot load v3)."""
    path = embedded_so_path()
    if not path.is_file():
        pytest.fail(
            f"{path} is missing: run `bash scripts/build-program.sh` (the test script does)"
        )
    return path


@pytest.fixture
async def svm(program_elf: Path) -> LiteSvmChain:
    """A fresh in-process SVM with the program at its IDL address."""
    return LiteSvmChain.with_program(PROGRAM_ID, program_elf)


@pytest.fixture
async def payer(svm: LiteSvmChain) -> Keypair:
    kp = Keypair()
    await svm.airdrop(kp.pubkey(), 100 * 10**9)
    return kp
