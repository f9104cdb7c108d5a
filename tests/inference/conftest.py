"""Inference test fixtures: the golden models deployed through the registry SDK on LiteSVM."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from solders.keypair import Keypair
from solders.litesvm import LiteSVM

from client.artifacts import REPO_ROOT
from client.chain.litesvm import LiteSvmChain
from client.inference import InferenceClient, ModelHandle
from client.program import PROGRAM_ID
from client.registry import ModelRegistry

GOLDEN = REPO_ROOT / "tests" / "golden"


def golden_names() -> list[str]:
    names: list[str] = json.loads((GOLDEN / "index.json").read_text())["models"]
    return names


def golden_doc(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((GOLDEN / f"{name}.json").read_text())
    return doc


def golden_bytes(name: str) -> bytes:
    return (GOLDEN / f"{name}.mlag").read_bytes()


@dataclass
class Fleet:
    """Every golden model deployed and activated on one chain."""

    chain: LiteSvmChain
    payer: Keypair
    client: InferenceClient
    handles: dict[str, ModelHandle]


def fast_chain(program_elf: Path) -> LiteSvmChain:
    """A LiteSVM for bulk runs: no transaction history (identical batches may repeat), no log
    cap (results are read back from the logs) and no signature checks."""
    svm = LiteSVM().with_transaction_history(0).with_log_bytes_limit(None).with_sigverify(False)
    svm.add_program(PROGRAM_ID, program_elf.read_bytes())
    return LiteSvmChain(svm)


async def deploy_all(chain: LiteSvmChain, names: list[str]) -> Fleet:
    payer = Keypair()
    await chain.airdrop(payer.pubkey(), 1_000 * 10**9)
    registry = ModelRegistry(chain, payer)
    client = InferenceClient(chain, payer, log_limit=None)
    handles = {}
    for name in names:
        deployed = await registry.deploy(golden_bytes(name))
        handles[name] = await client.model(deployed.model)
    return Fleet(chain, payer, client, handles)


@pytest.fixture(scope="module")
def fleet(program_elf: Path) -> Fleet:
    return asyncio.run(deploy_all(fast_chain(program_elf), golden_names()))
