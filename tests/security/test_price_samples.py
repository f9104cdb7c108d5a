"""Attack 5 of issue 11: the crank choosing the price samples.

Before the fix any Pyth update younger than `max_price_age` was accepted in any order and
several cranks in one slot pushed the same price again, so whoever cranked could write 110,
100, 110, 100 into the history or erase a move from the RETURN feature. Now an agent takes at
most one sample per slot and a feed / Pyth sample must be strictly newer (publish slot / time)
than the last one, otherwise the step is a HOLD with reason `price_not_advanced` and nothing is
pushed. The attacker here holds two genuine, fully verified updates of the same feed and
cranks with whichever suits it, several times per slot and in one transaction.
"""

from __future__ import annotations

import hashlib

from solders.account import Account
from solders.compute_budget import set_compute_unit_limit
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from client.agent import ModelSlot, StepResult
from client.agent.client import SOURCE_FEED, SOURCE_PYTH, decision_from_event
from client.agent.pyth import PYTH_RECEIVER_ID, price_update_v2
from client.chain.litesvm import LiteSvmChain
from client.program import parse_events
from tests.agent.world import World, constant_model, make_world, risk

PAR = 100_000_000  # 1.00 B atom per A atom at exponent -8 (both mints 6 decimals)


async def crank(w: World, agent: Pubkey, **kw: object) -> str:
    r = await w.agents.step(agent, **kw)  # type: ignore[arg-type]
    assert isinstance(r, StepResult)
    return r.decision.reason


async def test_pyth_updates_out_of_order_or_repeated_never_enter_the_history(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    w = await make_world(svm, payer)
    hold, _ = await w.deploy(constant_model(1))
    feed_id = hashlib.sha256(b"A/B").digest()
    now = int(svm.svm.get_clock().unix_timestamp)
    slot = int(svm.svm.get_clock().slot)

    def update(price: int, publish_time: int) -> Pubkey:
        """A genuine Full-verified update account (as the receiver would post it)."""
        key = Keypair().pubkey()
        data = price_update_v2(
            feed_id=feed_id,
            price=price,
            conf=1,
            exponent=-8,
            publish_time=publish_time,
            posted_slot=slot,
        )
        svm.svm.set_account(key, Account(10**9, data, PYTH_RECEIVER_ID, False, 0))
        return key

    # Two real updates: 110 published at t+1 and 100 published at t+2.
    older, newer = update(PAR * 110 // 100, now + 1), update(PAR, now + 2)
    first = update(PAR, now)
    agent = await w.agent(
        [ModelSlot(hold)],
        1,
        source=SOURCE_PYTH,
        price_source=first,
        pyth_feed_id=feed_id,
        risk=risk(max_price_age=600, max_oracle_dev_bps=100),
    )
    svm.warp_slots(1)
    assert await crank(w, agent, price_account=first) == "warmup"
    # Honest order: the 110 then the 100. The attacker instead feeds the newer one first...
    svm.warp_slots(1)
    assert await crank(w, agent, price_account=newer) == "warmup"
    # ...then the older 110 to fake a jump, and the same 100 again to fake calm: neither is
    # pushed, each step is a recorded HOLD.
    for acc in (older, newer, first):
        svm.warp_slots(1)
        assert await crank(w, agent, price_account=acc) == "price_not_advanced"
    st = await w.agents.state(agent)
    assert st.history == [PAR, PAR]
    assert st.last_published == now + 2
    log = [(d.reason, d.price) for d in st.log]
    assert log[-3:] == [("price_not_advanced", 0)] * 3
    # A genuinely newer update is taken.
    svm.warp_slots(1)
    assert await crank(w, agent, price_account=update(PAR * 101 // 100, now + 3)) == "warmup"
    assert (await w.agents.state(agent)).history == [PAR, PAR, PAR * 101 // 100]


async def test_several_cranks_in_one_slot_push_one_sample(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    w = await make_world(svm, payer)
    hold, _ = await w.deploy(constant_model(1))
    feed = await w.market.create_feed(b"S" * 32, -6)
    await w.market.publish(feed, 1_000_000, 100)
    feed_agent = await w.agent(
        [ModelSlot(hold)], 1, source=SOURCE_FEED, price_source=feed, risk=risk()
    )
    pool_agent = await w.agent([ModelSlot(hold)], 2, risk=risk())
    for agent in (feed_agent, pool_agent):
        svm.warp_slots(1)
        if agent == feed_agent:
            await w.market.publish(feed, 1_000_000, 100)
        # Four cranks of the same agent in one transaction (expected_step 0..3).
        ixs = [set_compute_unit_limit(1_400_000)]
        for k in range(4):
            ixs.append(await w.agents.step_instruction(agent, expected_step=k))
        res = await svm.send(ixs, payer)
        reasons = [
            decision_from_event(e.data).reason for e in parse_events(res.logs)
            if e.name == "Decision"
        ]  # fmt: skip
        assert reasons == ["warmup"] + ["price_not_advanced"] * 3, reasons
        st = await w.agents.state(agent)
        assert st.step == 4
        # One sample at most: the pool agent's first step only opens its TWAP window.
        assert len(st.history) == (1 if agent == feed_agent else 0)
        # The feed republished in the same slot is not newer either.
        if agent == feed_agent:
            await w.market.publish(feed, 1_100_000, 100)
            assert await crank(w, agent) == "price_not_advanced"
            svm.warp_slots(1)
            assert await crank(w, agent) == "price_not_advanced"  # same publish slot
            await w.market.publish(feed, 1_000_000, 100)
            assert await crank(w, agent) == "warmup"
            assert (await w.agents.state(agent)).history == [1_000_000, 1_000_000]
