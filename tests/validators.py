"""Pytest plugin: local validators and RPC chains on them.

Loaded by tests/conftest.py (``pytest_plugins = ["tests.validators"]``) or by
``pytest -p tests.validators``.

Fixtures:
  surfpool          session: a Surfpool validator (``.rpc_url``, ``.ws_url``), always stopped.
  test_validator    session: solana-test-validator, or a skip saying why it is absent.
  rpc_endpoint      the validator a test runs against: "surfpool" unless parametrized, e.g.
                    ``@over_rpc_backends`` (both) or
                    ``@pytest.mark.parametrize("rpc_endpoint", ["test_validator"], indirect=True)``.
  rpc_chain         an ``RpcChain`` on ``rpc_endpoint``, closed after the test.
  rpc_chain_factory ``make(**RpcChain kwargs)`` for extra chains on ``rpc_endpoint``
                    (other commitment, retry settings); all closed after the test.
  rpc_payer         a fresh keypair airdropped ``RPC_PAYER_LAMPORTS`` on ``rpc_chain``.

Session fixtures run on pytest-asyncio's session loop; the validators' output goes to files,
so they keep running while tests use their own function loops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Final

import pytest
import pytest_asyncio
from solders.keypair import Keypair

from client.chain.rpc import RpcChain
from client.chain.surfpool import Surfpool
from client.chain.test_validator import NOT_FOUND_REASON, TestValidator, find_test_validator

__all__ = ["RPC_BACKENDS", "RPC_PAYER_LAMPORTS", "ValidatorEndpoint", "over_rpc_backends"]

RPC_BACKENDS: Final = ("surfpool", "test_validator")
RPC_PAYER_LAMPORTS: Final = 100 * 10**9

over_rpc_backends = pytest.mark.parametrize("rpc_endpoint", RPC_BACKENDS, indirect=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with the validator it runs on, so ``-m "not test_validator"`` works."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        backends = names & set(RPC_BACKENDS)
        if "rpc_endpoint" in names:
            callspec = getattr(item, "callspec", None)
            params = callspec.params if callspec is not None else {}
            backends.add(params.get("rpc_endpoint", "surfpool"))
        for backend in sorted(backends):
            item.add_marker(backend)


@dataclass(frozen=True)
class ValidatorEndpoint:
    name: str
    rpc_url: str
    ws_url: str
    startup_seconds: float


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def surfpool() -> AsyncIterator[ValidatorEndpoint]:
    async with Surfpool.start() as sp:
        yield ValidatorEndpoint("surfpool", sp.rpc_url, sp.ws_url, sp.startup_seconds)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def test_validator() -> AsyncIterator[ValidatorEndpoint]:
    binary = find_test_validator()
    if binary is None:
        pytest.skip(NOT_FOUND_REASON)
    async with TestValidator.start(binary=binary) as tv:
        yield ValidatorEndpoint("test_validator", tv.rpc_url, tv.ws_url, tv.startup_seconds)


@pytest.fixture
def rpc_endpoint(request: pytest.FixtureRequest) -> ValidatorEndpoint:
    backend = getattr(request, "param", "surfpool")
    if backend not in RPC_BACKENDS:
        raise ValueError(f"rpc_endpoint must be one of {RPC_BACKENDS}, got {backend!r}")
    # Resolved here, in a sync fixture, because a session-loop fixture cannot be started from
    # inside a running function loop.
    endpoint: ValidatorEndpoint = request.getfixturevalue(backend)
    return endpoint


@pytest_asyncio.fixture
async def rpc_chain_factory(
    rpc_endpoint: ValidatorEndpoint,
) -> AsyncIterator[Callable[..., RpcChain]]:
    made: list[RpcChain] = []

    def make(**kwargs: Any) -> RpcChain:
        kwargs.setdefault("name", rpc_endpoint.name)
        chain = RpcChain(rpc_endpoint.rpc_url, **kwargs)
        made.append(chain)
        return chain

    yield make
    for chain in made:
        await chain.close()


@pytest_asyncio.fixture
async def rpc_chain(rpc_chain_factory: Callable[..., RpcChain]) -> RpcChain:
    chain: RpcChain = rpc_chain_factory()
    return chain


@pytest_asyncio.fixture
async def rpc_payer(rpc_chain: RpcChain) -> Keypair:
    payer = Keypair()
    await rpc_chain.airdrop(payer.pubkey(), RPC_PAYER_LAMPORTS)
    return payer
