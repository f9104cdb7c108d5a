"""The bot against a real Surfpool, directly and through the fault-injecting proxy.

What each test proves:
* websocket feed: subscriptions deliver slots and the program's events; steps land once;
* RPC faults (5xx, 429, held requests, dropped connections, lost responses): every step lands
  exactly once (counter and fee audit);
* websocket drops: the feed reconnects, resubscribes, and polls meanwhile;
* forced blockhash expiry: sends are swallowed until the blockhash expires, the sender re-signs
  once, and exactly one transaction lands;
* outage: both endpoints go down mid-run (connections reset, new ones refused) and come back.
  This is a *node restart as a client sees it*, not a ledger restart: restarting Surfpool
  itself loses all state (program, accounts), which no client can recover from, so it is not
  what is tested.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest
from solders.keypair import Keypair

from client.bot import Bot, BotConfig, FeedConfig, PingCrank, Schedule, StepSender
from client.bot.metrics import BotMetrics
from client.bot.soak import SoakConfig, run_soak
from client.chain.connect import ensure_program
from client.chain.rpc import RpcChain
from client.faults import FaultPlan, FaultProxy, require_loopback
from tests.validators import ValidatorEndpoint, over_rpc_backends

pytestmark = pytest.mark.surfpool

FAST_FEED = FeedConfig(idle_timeout=2.0, poll_interval=0.2)


@pytest.fixture
async def deployed(rpc_chain: RpcChain, rpc_payer: Keypair) -> Keypair:
    await ensure_program(rpc_chain, rpc_payer)
    return rpc_payer


async def test_bot_over_websocket(
    surfpool: ValidatorEndpoint, rpc_chain: RpcChain, deployed: Keypair
) -> None:
    crank = PingCrank(deployed)
    config = BotConfig(schedule=Schedule(every_slots=1), feed=FAST_FEED)
    bot = Bot(rpc_chain, deployed, crank, ws_url=surfpool.ws_url, config=config)
    report = await asyncio.wait_for(bot.run(steps=10), 120)
    assert report.end_step - report.start_step == 10 == report.steps_landed
    assert report.metrics.ws_connects == 1 and report.metrics.ws_drops == 0
    assert report.metrics.events_seen.get("Pinged", 0) >= 1  # logsSubscribe delivered
    slots = [r.slot for r in report.records]
    assert all(b is not None and a is not None and b > a for a, b in itertools.pairwise(slots))


async def test_rpc_faults_lose_and_double_nothing(surfpool: ValidatorEndpoint) -> None:
    plan = FaultPlan(
        error_rate=0.1,
        rate_limit_rate=0.05,
        timeout_rate=0.05,
        drop_rate=0.05,
        lost_response_rate=0.1,
        hold_seconds=0.6,
        seed=11,
    )
    config = SoakConfig(steps=30, faults=plan, outage_every=None, expiry_every=None)
    report = await asyncio.wait_for(run_soak(surfpool.rpc_url, surfpool.ws_url, config), 240)
    assert report.faults.injected > 0 and report.faults.lost_responses > 0
    assert report.metrics.send_retries > 0
    assert (report.lost, report.duplicated) == (0, 0)
    assert report.end_step - report.start_step == 30
    assert report.fees_paid == report.fees_expected == 30 * 5000


async def test_websocket_drops_reconnect_and_poll(
    surfpool: ValidatorEndpoint, deployed: Keypair
) -> None:
    async with FaultProxy(surfpool.rpc_url, surfpool.ws_url, FaultPlan(ws_drop_after=0.6)) as px:
        chain = RpcChain(px.rpc_url)
        try:
            config = BotConfig(schedule=Schedule(every_slots=2), feed=FAST_FEED)
            bot = Bot(chain, deployed, PingCrank(deployed), ws_url=px.ws_url, config=config)
            report = await asyncio.wait_for(bot.run(steps=20), 180)
        finally:
            await chain.close()
    m = report.metrics
    assert m.ws_drops >= 1 and m.ws_connects >= 2 and px.stats.ws_drops >= 1
    assert m.polls >= 2  # once per reconnect at least
    assert report.end_step - report.start_step == 20


async def test_forced_blockhash_expiry_resigns_once(
    surfpool: ValidatorEndpoint, deployed: Keypair
) -> None:
    async with FaultProxy(surfpool.rpc_url, None, FaultPlan(blackhole_sends=True)) as px:
        chain = RpcChain(px.rpc_url)
        crank = PingCrank(deployed)
        try:
            start = await crank.read_step(chain)
            metrics = BotMetrics()
            sender = StepSender(chain, deployed, metrics=metrics)
            task = asyncio.create_task(
                sender.send(await crank.plan(chain, start), counter=lambda: crank.read_step(chain))
            )
            while metrics.resigns == 0 and not task.done():
                await asyncio.sleep(0.05)
            px.plan.blackhole_sends = False
            receipt = await asyncio.wait_for(task, 120)
            assert receipt.resigns == 1 and receipt.result.ok
            assert px.stats.blackholed >= 1
            assert await crank.read_step(chain) == start + 1
        finally:
            await chain.close()


async def test_outage_mid_run(surfpool: ValidatorEndpoint) -> None:
    config = SoakConfig(
        steps=24,
        faults=FaultPlan(),
        outage_every=8,
        outage_seconds=1.5,
        expiry_every=None,
    )
    report = await asyncio.wait_for(run_soak(surfpool.rpc_url, surfpool.ws_url, config), 240)
    assert report.outages == 2
    assert report.metrics.ws_drops >= 1
    assert report.ok, report


@pytest.mark.slow
async def test_soak_100_steps_all_faults(surfpool: ValidatorEndpoint) -> None:
    config = SoakConfig(steps=100, outage_every=40, expiry_every=60)
    report = await asyncio.wait_for(run_soak(surfpool.rpc_url, surfpool.ws_url, config), 600)
    assert report.forced_expiries == 1 and report.outages == 2
    assert report.faults.injected > 0 and report.metrics.resigns >= 1
    assert report.ok, report


@over_rpc_backends  # solana-test-validator too, when installed (else skipped with the reason)
async def test_agent_soak_under_faults(rpc_endpoint: ValidatorEndpoint) -> None:
    """agent_step through RPC faults while the simulator trades the pool: counter, fees and
    vaults (start + the Trade events the bot saw) all agree."""
    plan = FaultPlan(
        error_rate=0.05, timeout_rate=0.03, lost_response_rate=0.08, hold_seconds=0.6, seed=3
    )
    config = SoakConfig(steps=40, faults=plan, outage_every=None, expiry_every=None, target="agent")
    report = await asyncio.wait_for(
        run_soak(rpc_endpoint.rpc_url, rpc_endpoint.ws_url, config), 300
    )
    assert report.faults.injected > 0 and report.simulator_swaps > 0
    assert report.vaults is not None and report.vaults.steps_counted == 40
    assert report.metrics.decisions == 40
    assert report.ok, report


@pytest.mark.slow
async def test_agent_soak_100_steps_all_faults(surfpool: ValidatorEndpoint) -> None:
    config = SoakConfig(steps=100, outage_every=40, expiry_every=60, target="agent")
    report = await asyncio.wait_for(run_soak(surfpool.rpc_url, surfpool.ws_url, config), 600)
    assert report.forced_expiries == 1 and report.outages == 2 and report.metrics.resigns >= 1
    assert report.vaults is not None and report.vaults.steps_counted == 100
    assert report.metrics.trades == report.vaults.trades_counted > 0
    assert report.ok, report


def test_proxy_refuses_non_loopback() -> None:
    with pytest.raises(ValueError, match="only talks to loopback"):
        require_loopback("http://10.0.0.1:8899")
    with pytest.raises(ValueError, match="only talks to loopback"):
        FaultProxy("https://api.devnet.solana.com:443")
    with pytest.raises(ValueError, match="sum to at most 1"):
        FaultPlan(error_rate=0.6, drop_rate=0.6)
