"""The demo's story, end to end, as one async call the CLI's ``demo`` can make.

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

import time
from dataclasses import dataclass

import numpy as np
from solders.keypair import Keypair

from ..chain.base import Chain
from ..inference.model import load_model
from ..model.compiler import compile_model
from ..model.format import encode
from ..model.importers import import_sklearn
from ..registry.registry import ModelRegistry
from ..sim.market import ConstantProductPool, MarketSimulator
from ..sim.paths import gbm, shipped_series
from .runtime import Bot, BotConfig, BotReport
from .schedule import Schedule
from .strategy import InferStrategy, momentum_features


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
