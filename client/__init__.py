"""ml_agent's Python SDK: ML inference and trading agents inside a Solana program.

    import asyncio
    from client import connect, load_keypair, ModelRegistry, InferenceClient

    async def main() -> None:
        payer = load_keypair(None)                 # the Solana CLI's keypair
        chain = await connect("localnet", payer=payer)
        registry = ModelRegistry(chain, payer)
        deployed = await registry.deploy(open("model.mlag", "rb").read())
        result = await InferenceClient(chain, payer).infer(deployed.model, [5.1, 3.5, 1.4, 0.2])
        print(result.label, result.compute_units)
        await chain.close()

    asyncio.run(main())

Everything is asyncio-first; the `python -m client` / `ml-agent` CLI is a thin wrapper over
these classes. The names below are imported lazily, so `import client` stays cheap.
docs/sdk.md has a complete, tested example.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "AgentClient",
    "Chain",
    "ChainError",
    "Cluster",
    "InferenceClient",
    "MarketClient",
    "ModelRegistry",
    "TransactionFailed",
    "compile_model",
    "connect",
    "load_keypair",
    "load_model",
    "resolve_url",
]

# name -> (module, attribute)
_EXPORTS: dict[str, tuple[str, str]] = {
    "AgentClient": ("client.agent", "AgentClient"),
    "Chain": ("client.chain.base", "Chain"),
    "ChainError": ("client.chain.base", "ChainError"),
    "Cluster": ("client.config", "Cluster"),
    "InferenceClient": ("client.inference", "InferenceClient"),
    "MarketClient": ("client.market", "MarketClient"),
    "ModelRegistry": ("client.registry", "ModelRegistry"),
    "TransactionFailed": ("client.chain.base", "TransactionFailed"),
    "compile_model": ("client.model", "compile_model"),
    "connect": ("client.chain.connect", "connect"),
    "load_keypair": ("client.config", "load_keypair"),
    "load_model": ("client.model", "load"),
    "resolve_url": ("client.config", "resolve_url"),
}

if TYPE_CHECKING:
    from client.agent import AgentClient
    from client.chain.base import Chain, ChainError, TransactionFailed
    from client.chain.connect import connect
    from client.config import Cluster, load_keypair, resolve_url
    from client.inference import InferenceClient
    from client.market import MarketClient
    from client.model import compile_model
    from client.model import load as load_model
    from client.registry import ModelRegistry


def __getattr__(name: str) -> Any:
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'client' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
