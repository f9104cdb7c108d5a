"""Attackers and honest users as separate keypairs with their own token accounts."""

from __future__ import annotations

from dataclasses import dataclass

from solders.account import Account
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM_ID

from client.chain.litesvm import LiteSvmChain
from client.market import MarketClient


@dataclass(frozen=True)
class Actor:
    keypair: Keypair
    token_a: Pubkey
    token_b: Pubkey
    token_lp: Pubkey | None = None

    @property
    def pubkey(self) -> Pubkey:
        return self.keypair.pubkey()


async def actor(
    svm: LiteSvmChain,
    mints: MarketClient,
    mint_a: Pubkey,
    mint_b: Pubkey,
    *,
    amount_a: int,
    amount_b: int,
    lp_mint: Pubkey | None = None,
    lamports: int = 10 * 10**9,
) -> Actor:
    """A new keypair with SOL, token accounts for A and B (and the LP mint) and tokens minted
    to it by `mints.payer` (the mints' authority)."""
    kp = Keypair()
    # SOL for fees, set directly (long property runs would drain LiteSVM's faucet).
    svm.svm.set_account(kp.pubkey(), Account(lamports, b"", SYSTEM_PROGRAM_ID, False, 0))
    ta = await mints.create_token_account(mint_a, kp.pubkey())
    tb = await mints.create_token_account(mint_b, kp.pubkey())
    if amount_a:
        await mints.mint_to(mint_a, ta, amount_a)
    if amount_b:
        await mints.mint_to(mint_b, tb, amount_b)
    lp = None if lp_mint is None else await mints.create_token_account(lp_mint, kp.pubkey())
    return Actor(kp, ta, tb, lp)
