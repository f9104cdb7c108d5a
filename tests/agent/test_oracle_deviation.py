"""The oracle deviation bound (issue 6): a feed or Pyth agent trades only while the pool's spot
price is within `max_oracle_dev_bps` of the oracle price (converted to B atoms per A atom with
the mints' decimals and the exponent), refuses with `oracle_deviation` beyond it either way,
and the offline replay still equals the chain step by step."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

import pytest
from solders.account import Account
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from client.agent import AgentReplay, ModelSlot, Observation, StepResult
from client.agent.client import SOURCE_FEED, SOURCE_PYTH
from client.agent.decide import ORACLE_DEVIATION, REASON_NAMES, oracle_value, within_deviation
from client.agent.pyth import PYTH_RECEIVER_ID, price_update_v2
from client.chain.base import TransactionFailed
from client.chain.litesvm import LiteSvmChain
from client.inference.model import load_model

from .world import SPEC, World, constant_model, make_world, risk

DEV = 100  # 1 %


Publish = Callable[[int], Awaitable[int]]


def feed_publisher(w: World, feed: Pubkey) -> Publish:
    """Publishes to the feed in the current slot; returns the publish slot."""

    async def publish(price: int) -> int:
        await w.market.publish(feed, price, 100)
        return (await w.market.feed(feed)).publish_slot

    return publish


async def crank(
    w: World,
    svm: LiteSvmChain,
    agent: Pubkey,
    replay: AgentReplay,
    price: int,
    publish: Publish,
    **kw: object,
) -> str:
    """Next slot, a fresh publication of `price`, one step on chain and in the replay; they
    must agree. Returns the reason."""
    svm.warp_slots(1)
    published = await publish(price)
    st = await w.market.pool(w.pool)
    clock = svm.svm.get_clock()
    obs = Observation(
        int(clock.slot),
        int(clock.unix_timestamp),
        price,
        st.reserve_a,
        st.reserve_b,
        published=published,
    )
    r = await w.agents.step(agent, **kw)  # type: ignore[arg-type]
    assert isinstance(r, StepResult)
    d, exp = r.decision, replay.advance(obs)
    assert (d.step, d.price, d.class_id, d.confidence_q16, d.reason) == (
        exp.step,
        exp.price,
        exp.class_id,
        exp.confidence_q16,
        REASON_NAMES[exp.reason],
    )
    assert (d.amount_in, d.amount_out) == (exp.amount_in, exp.amount_out)
    assert d.features == exp.features[: len(SPEC)] or d.reason == "warmup"
    return d.reason


async def spot_price(w: World, scale: int) -> int:
    """The oracle mantissa matching the pool's spot price, rb * scale / ra."""
    st = await w.market.pool(w.pool)
    return st.reserve_b * scale // st.reserve_a


async def test_feed_bound_allows_within_and_refuses_beyond_both_ways(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    w = await make_world(svm, payer)  # both mints 6 decimals
    buy, _ = await w.deploy(constant_model(2))
    handle = await load_model(svm, buy)
    feed = await w.market.create_feed(b"D" * 32, -6)  # 1,000,000 = 1 B atom per A atom
    await w.market.publish(feed, 1_000_000, 100)
    agent = await w.agent(
        [ModelSlot(buy)],
        1,
        source=SOURCE_FEED,
        price_source=feed,
        risk=risk(max_oracle_dev_bps=DEV),
    )
    st = await w.agents.state(agent)
    assert (st.risk.max_oracle_dev_bps, st.oracle_shift) == (DEV, -6)
    replay = AgentReplay(
        SPEC, risk(max_oracle_dev_bps=DEV), [(handle.qmodel, 1)], 30, 10_000_000, 10_000_000
    )
    replay.oracle_shift = st.oracle_shift
    pub = feed_publisher(w, feed)
    for _ in range(SPEC.lookback - 1):
        assert await crank(w, svm, agent, replay, 1_000_000, pub) == "warmup"
    # At the oracle: trades.
    assert await crank(w, svm, agent, replay, 1_000_000, pub) == "traded"
    # Oracle 2 % above the pool (the pool is cheap): refused.
    assert await crank(w, svm, agent, replay, 1_020_000, pub) == "oracle_deviation"
    # Oracle 2 % below the pool (the pool is dear): refused.
    assert await crank(w, svm, agent, replay, 980_000, pub) == "oracle_deviation"
    # Just inside the bound on either side: trades.
    spot = await spot_price(w, 10**12)  # spot x 10^12 (floor)
    hi = spot // 10**6 * 10_000 // (10_000 - DEV)  # oracle the pool sits ~1 % below
    assert await crank(w, svm, agent, replay, hi - 1, pub) == "traded"
    spot = await spot_price(w, 10**12)
    lo = -(-spot // 10**6 * 10_000 // (10_000 + DEV))  # oracle the pool sits ~1 % above
    assert await crank(w, svm, agent, replay, lo + 1, pub) == "traded"
    ag = await w.agents.state(agent)
    assert ag.trades == 3 and ORACLE_DEVIATION == 10


async def test_pyth_bound_with_different_decimals(svm: LiteSvmChain, payer: Keypair) -> None:
    # A has 9 decimals, B 6: 1 B atom per A atom is 1,000 B per A, i.e. 1000.00000000 at
    # exponent -8; the shift is -8 + 6 - 9 = -11.
    w = await make_world(svm, payer, decimals=(9, 6))
    buy, _ = await w.deploy(constant_model(2))
    handle = await load_model(svm, buy)
    feed_id = hashlib.sha256(b"A/B").digest()
    now = int(svm.svm.get_clock().unix_timestamp)
    slot = int(svm.svm.get_clock().slot)
    upd = Keypair().pubkey()

    stamp = [now]

    def put(price: int) -> int:
        """A newer update (one second later each time) of `price`; returns its publish time."""
        stamp[0] += 1
        data = price_update_v2(
            feed_id=feed_id,
            price=price,
            conf=1,
            exponent=-8,
            publish_time=stamp[0],
            posted_slot=slot,
        )
        svm.svm.set_account(upd, Account(10**9, data, PYTH_RECEIVER_ID, False, 0))
        return stamp[0]

    async def pub(price: int) -> int:
        return put(price)

    par = 100_000_000_000
    put(par)
    agent = await w.agent(
        [ModelSlot(buy)],
        1,
        source=SOURCE_PYTH,
        price_source=upd,
        pyth_feed_id=feed_id,
        risk=risk(max_price_age=60, max_oracle_dev_bps=DEV),
    )
    st = await w.agents.state(agent)
    assert st.oracle_shift == -11
    replay = AgentReplay(
        SPEC, risk(max_oracle_dev_bps=DEV), [(handle.qmodel, 1)], 30, 10_000_000, 10_000_000
    )
    replay.oracle_shift = st.oracle_shift
    for _ in range(SPEC.lookback - 1):
        assert await crank(w, svm, agent, replay, par, pub, price_account=upd) == "warmup"
    assert await crank(w, svm, agent, replay, par, pub, price_account=upd) == "traded"
    for price in (par * 103 // 100, par * 97 // 100):
        r = await crank(w, svm, agent, replay, price, pub, price_account=upd)
        assert r == "oracle_deviation"
    # A mantissa that ignored the decimals (1 B per A) is 1,000x off: refused.
    r = await crank(w, svm, agent, replay, par // 1000, pub, price_account=upd)
    assert r == "oracle_deviation"
    # 0.5 % away, within 1 %
    r = await crank(w, svm, agent, replay, par * 1005 // 1000, pub, price_account=upd)
    assert r == "traded"


async def test_bound_required_at_create_and_configure(svm: LiteSvmChain, payer: Keypair) -> None:
    w = await make_world(svm, payer)
    buy, _ = await w.deploy(constant_model(2))
    feed = await w.market.create_feed(b"E" * 32, -6)
    await w.market.publish(feed, 1_000_000, 100)
    for i, (source, src, dev) in enumerate(
        [(SOURCE_FEED, feed, 0), (SOURCE_FEED, feed, 10_001), (0, None, 0), (0, None, 10_001)]
    ):
        with pytest.raises(TransactionFailed) as e:
            await w.agent(
                [ModelSlot(buy)],
                10 + i,
                source=source,
                price_source=src,
                fund=False,
                risk=risk(max_oracle_dev_bps=dev),
            )
        assert e.value.result.custom_error == 6001
    agent = await w.agent(
        [ModelSlot(buy)], 1, source=SOURCE_FEED, price_source=feed, risk=risk(max_oracle_dev_bps=5)
    )
    with pytest.raises(TransactionFailed) as e:
        await w.agents.configure(agent, risk(max_oracle_dev_bps=0))
    assert e.value.result.custom_error == 6001
    await w.agents.configure(agent, risk(max_oracle_dev_bps=250))
    assert (await w.agents.state(agent)).risk.max_oracle_dev_bps == 250


def test_twin_bound_rounds_against_the_trade() -> None:
    # Exactly at 1 % either side is allowed, one atom beyond is not.
    assert within_deviation(10**6, 1_010_000, 10**6, -6, 100)
    assert not within_deviation(10**6, 1_010_001, 10**6, -6, 100)
    assert within_deviation(10**6, 990_000, 10**6, -6, 100)
    assert not within_deviation(10**6, 989_999, 10**6, -6, 100)
    assert oracle_value(1, 1, -1) == (0, 1)
    assert oracle_value(2**64 - 1, 2**55, 0) is None
    assert oracle_value(7, 3, -60) == (0, 1)


def test_cli_requires_the_bound_for_every_agent(capsys: pytest.CaptureFixture[str]) -> None:
    from client.cli import main

    pk = [str(Pubkey.new_unique()) for _ in range(3)]
    base = ["agent", "create", "--pool", pk[0], "--model", pk[1], "--url", "http://127.0.0.1:9"]
    for source in (["--source", "feed", "--price-source", pk[2]], []):
        assert main([*base, *source, "--max-oracle-dev-bps", "0"]) == 1
        assert "cannot be off" in capsys.readouterr().err
        assert main([*base, *source, "--max-oracle-dev-bps", "10001"]) == 1
        assert "between 1 and 10000" in capsys.readouterr().err
