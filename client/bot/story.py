"""The demo's stories as async calls: ``run_market`` (the on-chain agent cranked by the bot
while the simulator trades the on-chain pool; what ``python -m client demo`` runs) and the older
off-chain ``run_story`` (``ping`` + ``infer`` on an in-memory pool).

    report = await run_story(chain, payer, steps=30)

1. train: a logistic regression on momentum features of a seeded GBM path (label: the next
   return is positive), quantized to INT8 with the project's compiler;
2. deploy it through the registry;
3. create a market: an in-memory constant-product pool (the on-chain pool of issue 6 is not
   wired in yet) walked along the shipped regime-switching price series by ``MarketSimulator``;
4. run the bot with ``InferStrategy`` for ``steps`` steps: each step is ``ping`` + ``infer``
   on chain, its decision checked against the reference executor, then traded on the pool.
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
from ..sim.market import ConstantProductPool, MarketSimulator, PricePublisher
from ..sim.onchain import OnChainPool
from ..sim.paths import gbm, shipped_series
from .agent import AgentStepProgram, VaultAudit
from .metrics import MetricsSnapshot
from .runtime import Bot, BotConfig, BotReport, StepRecord
from .schedule import Schedule
from .strategy import InferStrategy, momentum_features
from .world import World


@dataclass(frozen=True)
class StoryReport:
    model: str
    model_bytes: int
    train_accuracy: float
    bot: BotReport
    timings: dict[str, float]


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

    pool = ConstantProductPool(base=10**12, quote=100 * 10**12, fee_bps=30)
    path = shipped_series().prices.tolist()
    simulator = MarketSimulator(pool, path)
    # The market moves one tick (a simulator trade) before each step is planned.
    strategy = InferStrategy(payer, handle, pool, before_plan=simulator.step)

    bot = Bot(
        chain,
        payer,
        strategy,
        ws_url=ws_url,
        config=BotConfig(schedule=Schedule(every_slots=every_slots)),
    )
    t = time.perf_counter()
    report = await bot.run(steps=steps)
    timings["bot"] = time.perf_counter() - t
    return StoryReport(str(deployed.model), len(model_bytes), accuracy, report, timings)


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
