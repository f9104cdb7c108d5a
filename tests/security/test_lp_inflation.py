"""Attack 3 of issue 11: first-depositor LP inflation.

Before the fix the first deposit minted LP 1:1 with nothing locked and reserves were the vault
balances, so an attacker who deposited 1 atom each and then transferred tokens straight into
the vaults made a share so valuable that the next honest deposit (even with an honestly
computed `min_lp`) rounded ~24 % of itself into the attacker's share.

Now the reserves are the pool's own books (a transfer to a vault changes nothing until `sync`,
which gives it to every share), and the first deposit mints sqrt(a*b) - 1,000 LP and locks
1,000 shares forever. These tests run the attack with separate keypairs for the attacker and
the victim and assert the attacker's net after fees is <= 0 and the victim keeps its deposit
less at most one share's worth of rounding.
"""

from __future__ import annotations

import pytest
from solders.keypair import Keypair
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import TransferParams, transfer

from client.chain.base import TransactionFailed
from client.chain.litesvm import LiteSvmChain
from client.market import MINIMUM_LIQUIDITY, MarketClient, PoolState, first_deposit_lp

from .actors import Actor, actor

DEPOSIT = 1_000_000_000  # the victim's deposit of each token


async def donate(svm: LiteSvmChain, atk: Actor, st: PoolState, a: int, b: int) -> None:
    """Plain SPL transfers from the attacker straight into the pool's vaults."""
    ixs = [
        transfer(TransferParams(TOKEN_PROGRAM_ID, src, dst, atk.pubkey, amount))
        for src, dst, amount in ((atk.token_a, st.vault_a, a), (atk.token_b, st.vault_b, b))
        if amount
    ]
    await svm.send(ixs, atk.keypair)


async def holdings(m: MarketClient, who: Actor) -> tuple[int, int, int]:
    assert who.token_lp is not None
    return (
        await m.balance(who.token_a),
        await m.balance(who.token_b),
        await m.balance(who.token_lp),
    )


async def setup(svm: LiteSvmChain, payer: Keypair) -> tuple[MarketClient, PoolState, Actor, Actor]:
    m = MarketClient(svm, payer)
    mint_a, mint_b = await m.create_mint(6), await m.create_mint(6)
    # Anyone may create the pool; the attacker gets there first.
    atk = await actor(svm, m, mint_a, mint_b, amount_a=10**12, amount_b=10**12)
    pool = await MarketClient(svm, atk.keypair).create_pool(mint_a, mint_b)
    st = await m.pool(pool)
    atk = await actor(svm, m, mint_a, mint_b, amount_a=10**12, amount_b=10**12, lp_mint=st.lp_mint)
    victim = await actor(
        svm, m, mint_a, mint_b, amount_a=DEPOSIT, amount_b=DEPOSIT, lp_mint=st.lp_mint
    )
    return m, st, atk, victim


async def test_a_dust_first_deposit_is_refused(svm: LiteSvmChain, payer: Keypair) -> None:
    m, st, atk, _ = await setup(svm, payer)
    assert atk.token_lp is not None
    # The old opening move, 1 atom each, and anything up to the locked minimum: refused.
    for a, b in ((1, 1), (1_000, 1_000), (1, 10**6)):
        with pytest.raises(TransactionFailed) as e:
            await m.add_liquidity(
                st.address, atk.token_a, atk.token_b, atk.token_lp, amount_a=a, max_b=b,
                user=atk.keypair,
            )  # fmt: skip
        assert e.value.result.custom_error == 6034  # InsufficientLiquidity
    assert first_deposit_lp(1_001, 1_001) == 1


@pytest.mark.parametrize("sync", [False, True])
@pytest.mark.parametrize("donation", [10**6, 10**9, 10**11])
async def test_donations_cannot_steal_the_next_deposit(
    svm: LiteSvmChain, payer: Keypair, donation: int, sync: bool
) -> None:
    m, st, atk, victim = await setup(svm, payer)
    assert atk.token_lp is not None and victim.token_lp is not None
    atk0 = await holdings(m, atk)
    # 1. The smallest first deposit allowed: 1 LP to the attacker, 1,000 shares locked.
    await m.add_liquidity(
        st.address, atk.token_a, atk.token_b, atk.token_lp, amount_a=1_001, max_b=1_001,
        user=atk.keypair,
    )  # fmt: skip
    assert (await m.balance(atk.token_lp), (await m.pool(st.address)).locked_lp) == (
        1,
        MINIMUM_LIQUIDITY,
    )
    # 2. Donate straight into the vaults; optionally fold the donation into the reserves.
    before_donation = await m.pool(st.address)
    await donate(svm, atk, st, donation, donation)
    if sync:
        await MarketClient(svm, atk.keypair).sync(st.address)
    else:
        # Without sync the donation moves neither the price nor a share's value.
        after = await m.pool(st.address)
        assert (after.reserve_a, after.reserve_b) == (1_001, 1_001)
        assert after.vault_balance_a == before_donation.vault_balance_a + donation
    # 3. The victim deposits with an honestly computed min_lp (exactly what the pool's state
    #    promises: no slack at all).
    cur = await m.pool(st.address)
    min_lp = DEPOSIT * cur.total_shares // cur.reserve_a
    max_b = -(-DEPOSIT * cur.reserve_b // cur.reserve_a)
    if min_lp == 0:
        # A share is now worth more than the whole deposit: the program refuses rather than
        # mint nothing (the victim keeps everything).
        with pytest.raises(TransactionFailed):
            await m.add_liquidity(
                st.address, victim.token_a, victim.token_b, victim.token_lp,
                amount_a=DEPOSIT, max_b=max_b, min_lp=min_lp, user=victim.keypair,
            )  # fmt: skip
        assert await holdings(m, victim) == (DEPOSIT, DEPOSIT, 0)
    else:
        await m.add_liquidity(
            st.address, victim.token_a, victim.token_b, victim.token_lp,
            amount_a=DEPOSIT, max_b=max_b, min_lp=min_lp, user=victim.keypair,
        )  # fmt: skip
    # 4. The attacker takes out everything it can.
    atk_lp = await m.balance(atk.token_lp)
    await m.remove_liquidity(
        st.address, atk.token_a, atk.token_b, atk.token_lp, lp=atk_lp, user=atk.keypair
    )
    atk1 = await holdings(m, atk)
    # The attacker's net (both tokens at the pool's 1:1 price): never positive.
    net = (atk1[0] - atk0[0]) + (atk1[1] - atk0[1])
    assert net <= 0, net
    # The victim: what its LP redeems now, against what it paid in.
    end = await m.pool(st.address)
    va, vb, vlp = await holdings(m, victim)
    ra, rb = end.redeemable(vlp)
    paid = (DEPOSIT - va) + (DEPOSIT - vb)
    loss = paid - (ra + rb)
    share_value = (end.reserve_a + end.reserve_b) // end.total_shares + 1
    # At most one share's worth of rounding, and the attacker lost 1,000 times that.
    assert loss <= share_value, (loss, share_value)
    assert -net >= MINIMUM_LIQUIDITY * max(loss, 0) or loss <= 0, (net, loss)
    if not sync:
        # Unsynced donations do not exist for the pool: the victim lost nothing at all beyond
        # the 1-atom rounding of its own deposit.
        assert loss <= 2, loss
