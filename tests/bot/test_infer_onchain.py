"""The off-chain ``infer`` strategy trades the program's pool (LiteSVM): one transaction of
``ping`` + ``infer`` + ``swap`` signed by the bot's wallet moves real SPL tokens; HOLD sends no
swap; the ``min_out`` bound refuses a pool that moved too far and the bot plans again."""

from __future__ import annotations

from dataclasses import dataclass

from solders.keypair import Keypair

from client.bot import Bot, BotConfig, Schedule
from client.bot.steps import StepPlan, TradeFill
from client.bot.strategy import InferStrategy, min_out_for
from client.bot.world import MarketSetup, WorldConfig, create_market
from client.chain.base import Chain
from client.chain.litesvm import LiteSvmChain
from client.inference.model import ModelHandle, load_model
from client.market import MarketClient
from client.registry.registry import ModelRegistry
from client.sim.onchain import OnChainPool, SimWallet, fund_wallet, pool_swap_out
from tests.agent.world import constant_model

BACK_TO_BACK = BotConfig(schedule=Schedule(every_slots=0))
ONE = 10**6
TRADE = 100 * ONE
SELL, HOLD, BUY = 0, 1, 2


@dataclass
class Setup:
    market: MarketSetup
    wallet: SimWallet
    models: dict[int, ModelHandle]
    client: MarketClient

    async def wallet_balances(self) -> tuple[int, int]:
        c = self.client
        return await c.balance(self.wallet.token_a), await c.balance(self.wallet.token_b)

    async def reserves(self) -> tuple[int, int, int]:
        st = await self.client.pool(self.market.pool)
        return st.reserve_a, st.reserve_b, st.fee_bps


async def make_setup(chain: Chain, payer: Keypair, classes: list[int]) -> Setup:
    m = await create_market(chain, payer, WorldConfig())
    wallet = await fund_wallet(chain, payer, m.mint_a, m.mint_b, amount_a=0, amount_b=1_000 * ONE)
    registry = ModelRegistry(chain, payer)
    models = {}
    for c in classes:
        deployed = await registry.deploy(constant_model(c))
        models[c] = await load_model(chain, deployed.model)
    return Setup(m, wallet, models, MarketClient(chain, payer))


def strategy(s: Setup, cls: int) -> InferStrategy:
    return InferStrategy(s.wallet, s.models[cls], s.market.pool, trade_quote=TRADE)


async def test_buy_then_sell_moves_the_tokens(svm: LiteSvmChain, payer: Keypair) -> None:
    s = await make_setup(svm, payer, [BUY, SELL])
    strat = strategy(s, BUY)
    a0, b0, fee = await s.reserves()
    wa0, wb0 = await s.wallet_balances()
    payer_lamports = await svm.get_balance(payer.pubkey())

    buy = await Bot(svm, s.wallet.keypair, strat, config=BACK_TO_BACK).run(steps=1)
    out = pool_swap_out(b0, a0, TRADE, fee)
    [rec] = buy.records
    assert rec.decision == "buy" and rec.trade == TradeFill(
        "buy", TRADE, out, (b0 + TRADE) / (a0 - out)
    )
    assert rec.events == ("Pinged", "Inference", "Swapped")
    assert await s.wallet_balances() == (wa0 + out, wb0 - TRADE)
    assert await s.reserves() == (a0 - out, b0 + TRADE, fee)
    # Signed and paid by the bot's wallet, not the payer that set the market up.
    assert await svm.get_balance(payer.pubkey()) == payer_lamports

    strat.model = s.models[SELL]
    sell = await Bot(svm, s.wallet.keypair, strat, config=BACK_TO_BACK).run(steps=2)
    back = pool_swap_out(a0 - out, b0 + TRADE, out, fee)
    first, second = sell.records
    assert first.decision == "sell" and first.trade is not None
    assert (first.trade.side, first.trade.amount_in, first.trade.amount_out) == ("sell", out, back)
    assert await s.reserves() == (a0, b0 + TRADE - back, fee)
    # Flat now: a second SELL holds, and its transaction carries no swap.
    assert second.decision == "sell" and second.trade is None
    assert second.events == ("Pinged", "Inference")
    assert await s.wallet_balances() == (wa0, wb0 - TRADE + back)
    audit = await strat.audit(svm)
    assert audit.ok and audit.steps_counted == 3 and audit.swaps == 2, audit
    assert strat.realized == back - TRADE


async def test_hold_sends_no_swap(svm: LiteSvmChain, payer: Keypair) -> None:
    s = await make_setup(svm, payer, [HOLD])
    strat = strategy(s, HOLD)
    before, wallet = await s.reserves(), await s.wallet_balances()
    plan = await strat.plan(svm, 0)
    assert len(plan.instructions) == 2  # ping + infer, no swap
    report = await Bot(svm, s.wallet.keypair, strat, config=BACK_TO_BACK).run(steps=3)
    assert [r.decision for r in report.records] == ["hold"] * 3
    assert all(r.trade is None and "Swapped" not in r.events for r in report.records)
    assert await s.reserves() == before and await s.wallet_balances() == wallet
    assert report.metrics.decisions == 3 and report.metrics.trades == 0


async def test_min_out_refuses_a_moved_pool(svm: LiteSvmChain, payer: Keypair) -> None:
    s = await make_setup(svm, payer, [BUY])
    strat = InferStrategy(s.wallet, s.models[BUY], s.market.pool, trade_quote=TRADE)
    a0, b0, fee = await s.reserves()
    plan = await strat.plan(svm, 0)
    planned = strat.planned[0]
    assert planned is not None
    assert planned.min_out == min_out_for(pool_swap_out(b0, a0, TRADE, fee), 50)

    # Someone buys 2 % of the price up before the step lands: 50 bps of slippage is exceeded.
    sim = OnChainPool(svm, s.market.pool, s.market.sim)
    await sim.trade_toward(1.02 * b0 / a0)
    wallet, reserves = await s.wallet_balances(), await s.reserves()
    result = await svm.send(plan.instructions, s.wallet.keypair, plan.signers, check=False)
    assert not result.ok and result.custom_error == 6033  # SlippageExceeded
    # Atomic: no ping, no swap.
    assert await strat.read_step(svm) == 0
    assert await s.wallet_balances() == wallet and await s.reserves() == reserves


async def test_bot_replans_a_step_the_bound_refused(svm: LiteSvmChain, payer: Keypair) -> None:
    s = await make_setup(svm, payer, [BUY])
    sim = OnChainPool(svm, s.market.pool, s.market.sim)

    class MovedAfterPlan(InferStrategy):
        moved: tuple[int, int, int] | None = None

        async def plan(self, chain: Chain, step: int) -> StepPlan:
            p = await super().plan(chain, step)
            if self.moved is None:  # the pool jumps 2 % between planning and sending, once
                a, b, _ = await s.reserves()
                await sim.trade_toward(1.02 * b / a)
                self.moved = await s.reserves()
            return p

    strat = MovedAfterPlan(s.wallet, s.models[BUY], s.market.pool, trade_quote=TRADE)
    report = await Bot(svm, s.wallet.keypair, strat, config=BACK_TO_BACK).run(steps=1)
    assert report.metrics.errors["simulation_failed"] == 1
    [rec] = report.records
    assert rec.step == 0 and rec.trade is not None
    # Filled on the moved pool, at exactly what the re-planned step expected.
    assert strat.moved is not None
    a, b, fee = strat.moved
    assert rec.trade.amount_out == pool_swap_out(b, a, TRADE, fee)
    assert await s.reserves() == (a - rec.trade.amount_out, b + TRADE, fee)
    assert (await strat.audit(svm)).ok
