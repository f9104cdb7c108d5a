"""The demo's stories as async calls: ``run_market`` (the on-chain agent cranked by the bot
while the simulator trades the on-chain pool; what ``python -m client demo`` runs) and the
off-chain strategy ``run_story`` (``ping`` + ``infer`` + ``swap`` from the bot's own wallet).

    report = await run_story(chain, payer, steps=30)

1. train: a logistic regression on momentum features of a seeded GBM path (label: the next
   return is positive), quantized to INT8 with the project's compiler;
2. deploy it through the registry;
3. create a market: two SPL mints, the program's pool with liquidity, a simulator wallet
   walking the pool along the shipped regime-switching price series with real swaps, and the
   bot's wallet holding both tokens;
4. run the bot with ``InferStrategy`` for ``steps`` steps: each step is one transaction,
   ``ping`` + ``infer`` (+ ``swap`` with a ``min_out`` bound when the decision trades), its
   decision checked against the reference executor and its swap against the wallet balances.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from solders.keypair import Keypair

from ..chain.base import Chain
from ..chain.litesvm import LiteSvmChain
from ..inference.model import load_model
from ..model.compiler import compile_model
from ..model.format import encode
from ..model.importers import import_sklearn
from ..registry.registry import ModelRegistry
from ..sim.market import MarketSimulator, PricePublisher
from ..sim.onchain import OnChainPool, fund_wallet
from ..sim.paths import gbm, shipped_series
from .agent import AgentStepProgram, VaultAudit
from .metrics import MetricsSnapshot
from .runtime import Bot, BotConfig, BotReport, StepRecord
from .schedule import Schedule
from .strategy import InferStrategy, WalletAudit, momentum_features
from .world import World, WorldConfig, create_market


@dataclass(frozen=True)
class StoryReport:
    model: str
    model_bytes: int
    train_accuracy: float
    bot: BotReport
    timings: dict[str, float]
    strategy: InferStrategy
    audit: WalletAudit
    simulator_swaps: int


def train_momentum_model(window: int = 4, n: int = 3000, seed: int = 1) -> tuple[bytes, float]:
    """Train and quantize the story's model; returns (model file bytes, train accuracy)."""
    from sklearn.linear_model import LogisticRegression

    prices = gbm(n, mu=0.0002, sigma=0.01, seed=seed).prices.tolist()
    x = np.array([momentum_features(prices[: t + 1], window) for t in range(window, n - 1)])
    y = np.array([int(prices[t + 1] > prices[t]) for t in range(window, n - 1)])
    clf = LogisticRegression().fit(x, y)
    qmodel = compile_model(import_sklearn(clf, name="momentum"), x, 8)
    return encode(qmodel), float(clf.score(x, y))


async def run_story(
    chain: Chain,
    payer: Keypair,
    *,
    steps: int = 30,
    ws_url: str | None = None,
    every_slots: int = 0,
) -> StoryReport:
    timings: dict[str, float] = {}
    t = time.perf_counter()
    model_bytes, accuracy = train_momentum_model()
    timings["train"] = time.perf_counter() - t

    t = time.perf_counter()
    deployed = await ModelRegistry(chain, payer).deploy(model_bytes)
    handle = await load_model(chain, deployed.model)
    timings["deploy"] = time.perf_counter() - t

    path = shipped_series().prices.tolist()
    cfg = WorldConfig(price=path[0])
    t = time.perf_counter()
    m = await create_market(chain, payer, cfg)
    wallet = await fund_wallet(
        chain, payer, m.mint_a, m.mint_b, amount_a=cfg.agent_base, amount_b=cfg.agent_quote
    )
    timings["market"] = time.perf_counter() - t
    pool = OnChainPool(chain, m.pool, m.sim)
    simulator = MarketSimulator(pool, path)

    async def tick() -> None:  # the market moves one tick (a real swap) before each step
        await simulator.step()
        if isinstance(chain, LiteSvmChain):
            chain.warp_slots(1)

    strategy = InferStrategy(
        wallet,
        handle,
        m.pool,
        trade_quote=100 * 10**cfg.decimals,
        quote_decimals=cfg.decimals,
        before_plan=tick,
    )
    bot = Bot(
        chain,
        wallet.keypair,  # the wallet pays for and signs its own steps
        strategy,
        ws_url=ws_url,
        config=BotConfig(schedule=Schedule(every_slots=every_slots)),
    )
    t = time.perf_counter()
    report = await bot.run(steps=steps)
    timings["bot"] = time.perf_counter() - t
    audit = await strategy.audit(chain)
    return StoryReport(
        str(deployed.model),
        len(model_bytes),
        accuracy,
        report,
        timings,
        strategy,
        audit,
        pool.swaps,
    )


# ---------------------------------------------------------------------- the on-chain agent


@dataclass(frozen=True)
class MarketRun:
    bot: BotReport
    program: AgentStepProgram
    audit: VaultAudit
    simulator_swaps: int
    seconds: float


async def run_market(
    chain: Chain,
    payer: Keypair,
    world: World,
    path: Sequence[float],
    steps: int,
    *,
    ws_url: str | None = None,
    lockstep: bool = True,
    sim_interval: float = 0.2,
    publisher: PricePublisher | None = None,
    on_step: Callable[[StepRecord, MetricsSnapshot], None] | None = None,
    config: BotConfig | None = None,
) -> MarketRun:
    """Crank ``world.agent`` for ``steps`` steps while the simulator walks the on-chain pool
    along ``path`` as its own wallet.

    ``lockstep``: one simulator swap before each step (and, on LiteSVM, one slot), so the run is
    deterministic and ``backtest`` over the same path reproduces it. Otherwise the simulator is
    a concurrent task trading every ``sim_interval`` seconds and the bot steps every slot.
    """
    t0 = time.perf_counter()
    market = OnChainPool(chain, world.pool, world.sim)
    sim = MarketSimulator(market, path, interval=sim_interval, publisher=publisher)

    async def tick() -> None:
        await sim.step()
        if isinstance(chain, LiteSvmChain):
            chain.warp_slots(1)

    program = await AgentStepProgram.load(chain, payer, world.agent)
    if lockstep:
        program.before_plan = tick
    bot_config = config or BotConfig(schedule=Schedule(every_slots=0 if lockstep else 1))
    bot = Bot(chain, payer, program, ws_url=ws_url, config=bot_config, on_step=on_step)
    sim_task = None if lockstep else asyncio.create_task(sim.run(), name="simulator")
    try:
        report = await bot.run(steps=steps, handle_signals=on_step is not None)
    finally:
        if sim_task is not None:
            sim.stop()
            await asyncio.gather(sim_task, return_exceptions=True)
    audit = await program.audit(chain)
    return MarketRun(report, program, audit, market.swaps, time.perf_counter() - t0)
