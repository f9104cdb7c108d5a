"""Registry test fixtures (the SVM and a funded payer come from tests/conftest.py)."""

from __future__ import annotations

import pytest
from solders.keypair import Keypair

from client.chain.litesvm import LiteSvmChain
from client.registry import ModelRegistry


@pytest.fixture
async def registry(svm: LiteSvmChain, payer: Keypair) -> ModelRegistry:
    return ModelRegistry(svm, payer)
