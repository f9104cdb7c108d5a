"""The constant-product pool on LiteSVM: real SPL token movements, fees, bounds, rejections."""

from __future__ import annotations

import json

import pytest
from solders.keypair import Keypair
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import TransferParams, transfer

from client.chain.base import TransactionFailed
from client.chain.litesvm import LiteSvmChain
from client.cli import build_parser
from client.cli.context import CliContext
from client.config import resolve_url
from client.market import MINIMUM_LIQUIDITY
from client.program import parse_events
from tests.agent.world import RESERVE, make_world


async def test_liquidity_and_swaps_move_tokens(svm: LiteSvmChain, payer: Keypair) -> None:
    w = await make_world(svm, payer)
    st = await w.market.pool(w.pool)
    # The first deposit mints sqrt(a * b) shares and locks MINIMUM_LIQUIDITY of them.
    assert (st.reserve_a, st.reserve_b, st.fee_bps) == (RESERVE, RESERVE, 30)
    assert (st.lp_supply, st.locked_lp) == (RESERVE - MINIMUM_LIQUIDITY, MINIMUM_LIQUIDITY)
    assert await w.market.balance(w.user_lp) == RESERVE - MINIMUM_LIQUIDITY

    before_a, before_b = await w.market.balance(w.user_a), await w.market.balance(w.user_b)
    expected = w.market.quote(st, 1_000_000, a_to_b=True)
    res = await w.market.swap(
        w.pool, w.user_a, w.user_b, amount_in=1_000_000, min_out=expected, a_to_b=True
    )
    assert await w.market.balance(w.user_a) == before_a - 1_000_000
    assert await w.market.balance(w.user_b) == before_b + expected
    ev = next(e for e in parse_events(res.logs) if e.name == "Swapped").data
    assert (ev.amount_out, ev.reserve_a) == (expected, RESERVE + 1_000_000)
    after = await w.market.pool(w.pool)
    # The fee stays in the pool: k grows.
    assert after.reserve_a * after.reserve_b > RESERVE * RESERVE

    # Proportional add (B rounded up) and remove (rounded down).
    await w.market.add_liquidity(
        w.pool, w.user_a, w.user_b, w.user_lp, amount_a=1_000_000, max_b=2_000_000
    )
    lp = await w.market.balance(w.user_lp)
    assert lp == RESERVE - MINIMUM_LIQUIDITY + 1_000_000 * RESERVE // after.reserve_a
    await w.market.remove_liquidity(w.pool, w.user_a, w.user_b, w.user_lp, lp=lp // 2)
    assert await w.market.balance(w.user_lp) == lp - lp // 2


async def test_min_out_and_bad_accounts_are_refused(svm: LiteSvmChain, payer: Keypair) -> None:
    w = await make_world(svm, payer)
    st = await w.market.pool(w.pool)
    expected = w.market.quote(st, 1_000_000, a_to_b=True)
    with pytest.raises(TransactionFailed) as e:
        await w.market.swap(
            w.pool, w.user_a, w.user_b, amount_in=1_000_000, min_out=expected + 1, a_to_b=True
        )
    assert e.value.result.custom_error == 6033  # SlippageExceeded
    with pytest.raises(TransactionFailed) as e:
        await w.market.add_liquidity(
            w.pool, w.user_a, w.user_b, w.user_lp, amount_a=1_000_000, max_b=999_999
        )
    assert e.value.result.custom_error == 6033
    # A swap naming another token account as the pool's vault.
    from client.program import build_ix

    ix = build_ix(
        "swap",
        {"amount_in": 10, "min_out": 0, "a_to_b": True},
        {
            "user": payer.pubkey(),
            "pool": w.pool,
            "vault_a": w.user_a,
            "vault_b": st.vault_b,
            "user_src": w.user_a,
            "user_dst": w.user_b,
        },
    )
    res = await svm.send([ix], payer, check=False)
    assert res.custom_error == 6044  # WrongVault
    # The same pool cannot be created twice.
    with pytest.raises(TransactionFailed) as e:
        await w.market.create_pool(w.mint_a, w.mint_b)
    assert e.value.result.custom_error == 3000


async def test_donations_wait_for_sync_and_the_cli_syncs(
    svm: LiteSvmChain, payer: Keypair, capsys: pytest.CaptureFixture[str]
) -> None:
    w = await make_world(svm, payer)
    st = await w.market.pool(w.pool)
    ix = transfer(TransferParams(TOKEN_PROGRAM_ID, w.user_a, st.vault_a, payer.pubkey(), 5_000))
    await svm.send([ix], payer)
    # A donation is not a reserve: price and share value are unchanged, the swap quote too.
    after = await w.market.pool(w.pool)
    assert (after.reserve_a, after.vault_balance_a) == (RESERVE, RESERVE + 5_000)
    assert after.price_q32 == st.price_q32
    args = build_parser().parse_args(["market", "sync", str(w.pool), "--json"])
    ctx = CliContext(resolve_url("embedded"), None, True, _chain=svm, _keypair=payer)
    assert await args.handler(args, ctx) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["reserve_a"], out["vault_balance_a"]) == (RESERVE + 5_000, RESERVE + 5_000)
    assert out["locked_lp"] == MINIMUM_LIQUIDITY
