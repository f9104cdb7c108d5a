"""Open a `Chain` for a resolved cluster."""

from __future__ import annotations

from solders.keypair import Keypair

from ..artifacts import embedded_so_path, program_keypair, so_path_for
from ..config import Cluster, resolve_url
from ..program import PROGRAM_ID
from .base import Chain

EMBEDDED_AIRDROP = 1_000 * 10**9


async def connect(cluster: Cluster | str | None = None, *, payer: Keypair | None = None) -> Chain:
    """Open a chain: a `Cluster`, or a `--url` value (`embedded`, `localnet`/`l`, `devnet`/`d`,
    `mainnet`/`m`, `testnet`/`t`, an http(s) URL; None: the Solana CLI config's URL, else
    localnet).

    Embedded: a fresh in-process SVM with the built program loaded and `payer` funded.
    RPC: a client for the URL (the program must already be deployed there; `python -m client
    localnet` starts a local validator that has it). Close it with `await chain.close()`.
    """
    if not isinstance(cluster, Cluster):
        cluster = resolve_url(cluster)
    if cluster.embedded:
        from .litesvm import LiteSvmChain

        chain = LiteSvmChain.with_program(PROGRAM_ID, embedded_so_path())
        if payer is not None:
            await chain.airdrop(payer.pubkey(), EMBEDDED_AIRDROP)
        return chain
    from .rpc import RpcChain

    assert cluster.url is not None
    return RpcChain(cluster.url)


async def ensure_program(chain: Chain, payer: Keypair) -> None:
    """Deploy the built program at its IDL address unless the cluster already has it.

    Local validators start empty; tests and tools sharing one validator call this instead of
    deploying again (an upgrade would need the first deployer's key as upgrade authority).
    The embedded LiteSVM gets the SBPF v0 build, every other chain the deployable v3 one.
    """
    account = await chain.get_account(PROGRAM_ID)
    if account is None or not account.executable:
        elf = so_path_for(embedded=chain.name == "embedded").read_bytes()
        await chain.deploy_program(program_keypair(), elf, payer)
