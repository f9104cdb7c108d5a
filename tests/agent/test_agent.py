"""The agent on LiteSVM: every decision path, each refusal reason, attacks, ensembles, version
pinning, and the chain's decisions equal to the offline replay."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from solders.account import Account
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from client.agent import AgentReplay, ModelSlot, Observation, StepResult
from client.agent.client import SOURCE_FEED, SOURCE_PYTH
from client.agent.decide import PRICE_UNCERTAIN, STALE_PRICE
from client.agent.features import FeatureSpec, compute
from client.agent.pyth import PYTH_RECEIVER_ID, price_update_v2
from client.chain.base import TransactionFailed
from client.chain.litesvm import LiteSvmChain
from client.inference.model import load_model
from tests.registry.helpers import (
    CHECKS_EPOCH,
    HEADER_CHECKED,
    MARKS_OFFSET,
    OPS_CHECKED,
    set_account_data,
)

from .world import SPEC, constant_model, make_world, momentum_model, risk, step, warm


def test_feature_twin_matches_the_rust_vectors() -> None:
    doc = json.loads((Path(__file__).parent / "features_vectors.json").read_text())
    spec = FeatureSpec.decode(doc["spec"], len(doc["spec"]) // 2)
    for case in doc["cases"]:
        got = compute(
            case["prices"], spec, base_balance=case["base"], max_position=doc["max_position"]
        )
        assert got == case["features"]


@pytest.mark.parametrize("marked", [True, False], ids=["marked-path", "checked-path"])
async def test_buy_sell_hold_with_real_trades_match_the_replay(
    svm: LiteSvmChain, payer: Keypair, marked: bool
) -> None:
    w = await make_world(svm, payer)
    model, weights = await w.deploy(momentum_model())
    agent = await w.agent([ModelSlot(model)], 1)
    acc = svm.svm.get_account(weights)
    assert acc is not None
    # finalize marked the small model (ModelWeights.padding[0..2]: marks and their epoch), so
    # the agent runs the marked executor; cleared, it runs the checked one.
    marks = bytes([HEADER_CHECKED | OPS_CHECKED, CHECKS_EPOCH])
    assert bytes(acc.data)[MARKS_OFFSET : MARKS_OFFSET + 2] == marks
    if not marked:
        data = bytearray(bytes(acc.data))
        data[MARKS_OFFSET : MARKS_OFFSET + 2] = bytes(2)
        set_account_data(svm, weights, bytes(data))
    handle = await load_model(svm, model)
    replay = AgentReplay(SPEC, risk(), [(handle.qmodel, 1)], 30, 10_000_000, 10_000_000)
    seen: list[str] = []
    moves = [None] * 4 + [True, True, None, False, False, None, True]
    for i, up in enumerate(moves):
        # A move in one slot, the crank in the next: the TWAP window since the last sample is
        # the moved price, so the agent trades on it (in the same slot it would see the old
        # TWAP and refuse: tests/agent/test_attacks.py).
        if up is not None:
            await w.move_price(up)
        svm.warp_slots(1)
        st = await w.market.pool(w.pool)
        clock = svm.svm.get_clock()
        obs = Observation(
            int(clock.slot),
            int(clock.unix_timestamp),
            None,
            st.reserve_a,
            st.reserve_b,
            cumulative=st.cumulative_at(int(clock.slot)),
        )
        before_a = await w.market.balance((await w.agents.state(agent)).vault_a)
        r = await step(w, agent, warp=False)
        d = r.decision
        exp = replay.advance(obs)
        assert (d.step, d.slot, d.price, d.class_id, d.confidence_q16) == (
            exp.step,
            exp.slot,
            exp.price,
            exp.class_id,
            exp.confidence_q16,
        ), i
        assert d.features == exp.features[: len(SPEC)] or d.reason == "warmup"
        assert (d.amount_in, d.amount_out) == (exp.amount_in, exp.amount_out)
        seen.append(f"{d.action}/{d.reason}")
        after_a = await w.market.balance((await w.agents.state(agent)).vault_a)
        if d.reason == "traded":
            assert r.traded
            assert after_a - before_a == (d.amount_out if d.action == "buy" else -d.amount_in)
        else:
            assert after_a == before_a
    assert "buy/traded" in seen and "sell/traded" in seen and "hold/hold" in seen
    assert seen[0] == "hold/warmup"
    ag = await w.agents.state(agent)
    assert ag.trades == seen.count("buy/traded") + seen.count("sell/traded") and ag.buys >= 1
    assert len(await w.agents.export_log(agent)) == len(moves)


async def test_refusal_reasons(svm: LiteSvmChain, payer: Keypair) -> None:
    w = await make_world(svm, payer)
    buy, _ = await w.deploy(constant_model(2))
    # Low confidence: nothing reaches a threshold of 1.0.
    a1 = await w.agent([ModelSlot(buy)], 1, risk=risk(threshold_q16=65536))
    await warm(w, a1)
    assert (await step(w, a1)).decision.reason == "low_confidence"
    # Risk limit: the trade is larger than max_trade; and max_position.
    a2 = await w.agent([ModelSlot(buy)], 2, risk=risk(max_trade=999_999))
    await warm(w, a2)
    assert (await step(w, a2)).decision.reason == "risk_limit"
    a3 = await w.agent([ModelSlot(buy)], 3, risk=risk(max_position=10_500_000))
    await warm(w, a3)
    assert (await step(w, a3)).decision.reason == "risk_limit"
    # Turnover: one trade fits the day, the second does not.
    a4 = await w.agent([ModelSlot(buy)], 4, risk=risk(max_turnover_per_day=1_500_000))
    await warm(w, a4)
    assert (await step(w, a4)).decision.reason == "traded"
    assert (await step(w, a4)).decision.reason == "risk_limit"
    # Cooldown between trades.
    a5 = await w.agent([ModelSlot(buy)], 5, risk=risk(min_slots_between_trades=100))
    await warm(w, a5)
    assert (await step(w, a5)).decision.reason == "traded"
    svm.warp_slots(5)
    assert (await step(w, a5)).decision.reason == "cooldown"
    # Slippage: the 0.3 % fee alone exceeds a 0.1 % bound.
    a6 = await w.agent([ModelSlot(buy)], 6, risk=risk(slippage_bps=10))
    await warm(w, a6)
    assert (await step(w, a6)).decision.reason == "slippage"
    # Paused, then resumed.
    await w.agents.pause(a6)
    r = await step(w, a6)
    assert (r.decision.reason, r.decision.price) == ("paused", 0)
    await w.agents.resume(a6)
    assert (await step(w, a6)).decision.reason == "slippage"


async def test_price_feed_staleness_and_confidence(svm: LiteSvmChain, payer: Keypair) -> None:
    w = await make_world(svm, payer)
    buy, _ = await w.deploy(constant_model(2))
    feed = await w.market.create_feed(b"F" * 32, -6)
    await w.market.publish(feed, 1_000_000, 100)
    a = await w.agent(
        [ModelSlot(buy)],
        1,
        source=SOURCE_FEED,
        price_source=feed,
        risk=risk(max_price_age=10, max_oracle_dev_bps=100),
    )
    r = await step(w, a)
    assert (r.decision.reason, r.decision.price) == ("warmup", 1_000_000)
    svm.warp_slots(11)
    assert (await step(w, a)).decision.reason == "stale_price"
    await w.market.publish(feed, 1_000_000, 200_000)  # 20 % confidence interval
    assert (await step(w, a)).decision.reason == "price_uncertain"
    # Only the publisher may publish.
    other = Keypair()
    await svm.airdrop(other.pubkey(), 10**9)
    with pytest.raises(TransactionFailed) as e:
        await w.market.publish(feed, 1, 1, publisher=other)
    assert e.value.result.custom_error == 6035
    assert STALE_PRICE == 5 and PRICE_UNCERTAIN == 8


async def test_pyth_price_update_v2(svm: LiteSvmChain, payer: Keypair) -> None:
    w = await make_world(svm, payer)
    buy, _ = await w.deploy(constant_model(2))
    feed_id = hashlib.sha256(b"SOL/USD").digest()
    now = int(svm.svm.get_clock().unix_timestamp)
    slot = int(svm.svm.get_clock().slot)

    def put(key: Pubkey, owner: Pubkey, **kw: int | bool) -> None:
        data = price_update_v2(feed_id=feed_id, exponent=-8, posted_slot=slot, **kw)  # type: ignore[arg-type]
        svm.svm.set_account(key, Account(10**9, data, owner, False, 0))

    upd = Keypair().pubkey()
    put(upd, PYTH_RECEIVER_ID, price=15_000_000_000, conf=1_000_000, publish_time=now)
    a = await w.agent(
        [ModelSlot(buy)],
        1,
        source=SOURCE_PYTH,
        price_source=upd,
        pyth_feed_id=feed_id,
        risk=risk(max_price_age=60, max_oracle_dev_bps=100),
    )
    r = await step(w, a, price_account=upd)
    assert (r.decision.reason, r.decision.price) == ("warmup", 15_000_000_000)
    # Old publish time: stale.
    put(upd, PYTH_RECEIVER_ID, price=15_000_000_000, conf=1, publish_time=now - 61)
    assert (await step(w, a, price_account=upd)).decision.reason == "stale_price"
    # Same bytes, wrong owner: refused as a forgery.
    fake = Keypair().pubkey()
    put(fake, Pubkey.default(), price=15_000_000_000, conf=1, publish_time=now)
    res = await w.agents.step(a, price_account=fake, check=False)
    assert not isinstance(res, StepResult) and res.custom_error == 3007
    # Partially verified: refused.
    put(upd, PYTH_RECEIVER_ID, price=1, conf=1, publish_time=now, full=False)
    res = await w.agents.step(a, price_account=upd, check=False)
    assert not isinstance(res, StepResult) and res.custom_error == 6041


async def test_attacks_are_refused(svm: LiteSvmChain, payer: Keypair) -> None:
    w = await make_world(svm, payer)
    buy, _ = await w.deploy(constant_model(2))
    a = await w.agent([ModelSlot(buy)], 1)
    # Duplicate / replayed crank.
    await step(w, a, expected_step=0)
    res = await w.agents.step(a, expected_step=0, check=False)
    assert not isinstance(res, StepResult) and res.custom_error == 6037
    # Unauthorised withdraw.
    thief = Keypair()
    await svm.airdrop(thief.pubkey(), 10**9)
    res = await w.agents.withdraw(a, w.user_a, w.user_b, amount_a=1, authority=thief, check=False)
    assert res.custom_error == 6036
    # A withdraw naming someone else's token account as the vault.
    res = await w.agents.withdraw(
        a, w.user_a, w.user_b, amount_a=1, vaults=(w.user_a, w.user_b), check=False
    )
    assert res.custom_error == 6044
    # The authority may withdraw.
    before = await w.market.balance(w.user_a)
    await w.agents.withdraw(a, w.user_a, w.user_b, amount_a=5)
    assert await w.market.balance(w.user_a) == before + 5
    # A look-alike PriceFeed owned by another program is refused when the agent is created.
    feed = await w.market.create_feed(b"G" * 32, -6)
    acc = await svm.get_account(feed)
    assert acc is not None
    fake = Keypair().pubkey()
    svm.svm.set_account(fake, Account(acc.lamports, bytes(acc.data), Pubkey.default(), False, 0))
    with pytest.raises(TransactionFailed) as e:
        await w.agent(
            [ModelSlot(buy)],
            2,
            source=SOURCE_FEED,
            price_source=fake,
            fund=False,
            risk=risk(max_oracle_dev_bps=100),
        )
    assert e.value.result.custom_error == 3007
    # A model whose inputs do not match the feature spec.
    from .world import linear_model

    wide, _ = await w.deploy(linear_model([[1, 0, 0, 0, 0]] * 3, [0, 0, 0], n=5))
    with pytest.raises(TransactionFailed) as e:
        await w.agent([ModelSlot(wide)], 3, fund=False)
    assert e.value.result.custom_error == 6038


async def test_ensemble_vote_and_version_pinning(svm: LiteSvmChain, payer: Keypair) -> None:
    w = await make_world(svm, payer)
    buy, _ = await w.deploy(constant_model(2))
    sell, _ = await w.deploy(constant_model(0))
    hold, _ = await w.deploy(constant_model(1))
    # 2 x BUY outweighs SELL + HOLD.
    a = await w.agent([ModelSlot(buy, weight=2), ModelSlot(sell), ModelSlot(hold)], 1)
    await warm(w, a)
    assert (await step(w, a)).decision.action == "buy"
    # Equal weights BUY vs SELL: a tie is HOLD.
    b = await w.agent([ModelSlot(buy), ModelSlot(sell)], 2)
    await warm(w, b)
    assert (await step(w, b)).decision.reason == "hold"

    # Version 1 is BUY; version 2 of the same model is SELL.
    m, w1 = await w.deploy(constant_model(2, 2.5))
    follow = await w.agent([ModelSlot(m)], 3)
    pinned = await w.agent([ModelSlot(m, version=1, weights=w1)], 4)
    await w.deploy(constant_model(0, 2.5), target=m)
    await warm(w, follow)
    await warm(w, pinned)
    assert (await step(w, follow)).decision.action == "sell"
    assert (await step(w, pinned)).decision.action == "buy"
