"""An off-chain strategy on the ``infer`` instruction: decide locally, prove it on chain.

Each step's transaction is ``[ping(step), infer(features)]``: the ping is the crank nonce
(counter = ``PingRecord.count``), the ``infer`` puts the model's decision on chain. The decision
is computed first with the bit-exact reference executor; after landing, the ``Inference``
event's class must equal it (``StepMismatch`` otherwise). The trade is then executed against
a ``Market`` (the in-memory pool until the on-chain pool of issue 6 can take a ``swap`` in the
same transaction).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from ..chain.base import Chain, TxResult
from ..inference.client import features_to_fx, infer_instruction, reference_result
from ..inference.model import ModelHandle
from ..program import PROGRAM_ID, parse_events
from ..sim.market import ConstantProductPool
from .steps import PingCrank, StepMismatch, StepOutcome, StepPlan, TradeFill, check_pinged

FeatureFn = Callable[[Sequence[float]], list[float]]


def momentum_features(prices: Sequence[float], window: int = 4) -> list[float]:
    """The last ``window`` log returns in percent (zeros before enough history)."""
    logs = [math.log(p) for p in prices[-(window + 1) :]]
    rets = [100 * (b - a) for a, b in itertools.pairwise(logs)]
    return [0.0] * (window - len(rets)) + rets


@dataclass
class InferStrategy:
    authority: Keypair
    model: ModelHandle
    market: ConstantProductPool
    trade_quote: int = 1_000_000  # quote units per buy; sells return the base bought
    window: int = 4
    features: FeatureFn | None = None
    name: str = "infer"
    # Awaited before each plan (e.g. a simulator tick that moves the market).
    before_plan: Callable[[], Awaitable[object]] | None = None
    prices: list[float] = field(default_factory=list)
    base_held: int = 0
    cash_spent: int = 0
    realized: float = 0.0

    def __post_init__(self) -> None:
        self.crank = PingCrank(self.authority)

    @property
    def program_id(self) -> Pubkey:
        return PROGRAM_ID

    def watched_accounts(self) -> Sequence[Pubkey]:
        return []

    def price_of(self, address: Pubkey, data: bytes) -> float | None:
        return None

    async def read_step(self, chain: Chain) -> int:
        return await self.crank.read_step(chain)

    def features_fx(self) -> list[int]:
        fn = self.features or (lambda p: momentum_features(p, self.window))
        x = features_to_fx(fn(self.prices))
        # Clamp to the range the model was compiled for (the program refuses values outside).
        return [
            min(max(v, int(self.model.lo_fx[j])), int(self.model.hi_fx[j])) for j, v in enumerate(x)
        ]

    async def plan(self, chain: Chain, step: int) -> StepPlan:
        if self.before_plan is not None:
            await self.before_plan()
        price = await self.market.price()
        self.prices.append(price)
        x = self.features_fx()
        decided = reference_result(self.model, x).class_id
        decision = "buy" if decided == 1 else "sell"
        ixs = [
            self.crank.instruction(step),
            infer_instruction(self.model.address, self.model.weights, x),
        ]
        return StepPlan(step, ixs, [self.authority], decision=decision, price=price)

    async def outcome(self, chain: Chain, plan: StepPlan, result: TxResult) -> StepOutcome:
        names = check_pinged(result, plan.step)
        classes = [int(e.data.class_) for e in parse_events(result.logs) if e.name == "Inference"]
        want = 1 if plan.decision == "buy" else 0
        if classes != [want]:
            raise StepMismatch(f"step {plan.step}: chain decided {classes}, reference {want}")
        trade: TradeFill | None = None
        if plan.decision == "buy" and self.base_held == 0:
            fill = self.market.swap("buy", self.trade_quote)
            self.base_held, self.cash_spent = fill.amount_out, fill.amount_in
            trade = TradeFill("buy", fill.amount_in, fill.amount_out, fill.price_after)
        elif plan.decision == "sell" and self.base_held > 0:
            fill = self.market.swap("sell", self.base_held)
            self.realized += fill.amount_out - self.cash_spent
            self.base_held = self.cash_spent = 0
            trade = TradeFill("sell", fill.amount_in, fill.amount_out, fill.price_after)
        open_value = self.base_held * self.market.spot() - self.cash_spent
        return StepOutcome(
            plan.step, plan.decision, trade, pnl=self.realized + open_value, events=names
        )
