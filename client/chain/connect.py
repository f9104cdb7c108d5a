"""Open a `Chain` for a resolved cluster."""

from __future__ import annotations

from solders.keypair import Keypair

from ..artifacts import program_so_path
from ..config import Cluster
from ..program import PROGRAM_ID
from .base import Chain

EMBEDDED_AIRDROP = 1_000 * 10**9


async def connect(cluster: Cluster, *, payer: Keypair | None = None) -> Chain:
    """Embedded: a fresh in-process SVM with the built program loaded and `payer` funded.
    RPC: a client for the URL (the program must already be deployed there)."""
    if cluster.embedded:
        from .litesvm import LiteSvmChain

        chain = LiteSvmChain.with_program(PROGRAM_ID, program_so_path())
        if payer is not None:
            await chain.airdrop(payer.pubkey(), EMBEDDED_AIRDROP)
        return chain
    from .rpc import RpcChain

    assert cluster.url is not None
    return RpcChain(cluster.url)
