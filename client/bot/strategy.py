"""An off-chain strategy on the ``infer`` instruction: decide locally, prove it and trade it on
chain in one transaction.

Each step's transaction, signed and paid by the strategy's wallet (which owns both token
accounts), is

    ping(step)                       the crank nonce: the wallet's PingRecord.count
    infer(features)                  the model's decision, on chain
    swap(amount_in, min_out, side)   only when the decision trades

All three land or none does. The decision is computed first with the bit-exact reference
executor from the pool's reserves as read at plan time; ``min_out`` is the pool's own output
formula on those reserves less ``slippage_bps``, so a pool that moved too far before landing
fails the whole step (``SlippageExceeded``, 6033) and the bot plans it again on the new state.

Exactly once (docs/bots.md, "Off-chain strategies on chain"): ``swap`` has no step nonce, so the
ping carries it. The ping and the swap are atomic, hence "the PingRecord count is still ``k``"
means "no swap of step ``k`` landed", which is exactly what the sender checks before it ever signs
a second transaction for a step (and it re-signs only after the first provably expired). After
every step the wallet's two token balances must equal their start plus the sum of the swaps the
bot saw land (``StepMismatch`` otherwise), so a doubled or foreign trade is caught at the next
step. The program does not refuse a stale ping, so two bots on one wallet could each land a
step: one wallet, one bot.

Classes: a 3-class model is SELL/HOLD/BUY (0/1/2), a binary one SELL/BUY (0/1). The position
rule is one trade at a time: BUY spends ``trade_quote`` when flat, SELL sells what was bought;
anything else holds (no swap).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from solders.instruction import Instruction
from solders.pubkey import Pubkey

from ..chain.base import Chain, TxResult
from ..inference.client import features_to_fx, infer_instruction, reference_result
from ..inference.model import ModelHandle
from ..market import MarketClient, PoolState
from ..program import PROGRAM_ID, build_ix, parse_events
from ..sim.onchain import SimWallet, pool_swap_out
from .steps import PingCrank, Side, StepMismatch, StepOutcome, StepPlan, TradeFill, check_pinged

FeatureFn = Callable[[Sequence[float]], list[float]]
DECISIONS = {2: ("sell", "buy"), 3: ("sell", "hold", "buy")}


def momentum_features(prices: Sequence[float], window: int = 4) -> list[float]:
    """The last ``window`` log returns in percent (zeros before enough history)."""
    logs = [math.log(p) for p in prices[-(window + 1) :]]
    rets = [100 * (b - a) for a, b in itertools.pairwise(logs)]
    return [0.0] * (window - len(rets)) + rets


def min_out_for(expected_out: int, slippage_bps: int) -> int:
    """The least output accepted: the expected one less ``slippage_bps``, rounded up."""
    return -(-expected_out * (10_000 - slippage_bps) // 10_000)


def swap_instruction(
    pool: PoolState, user: Pubkey, src: Pubkey, dst: Pubkey, side: Side, amount_in: int,
    min_out: int,
) -> Instruction:  # fmt: skip
    """The program's ``swap``: "buy" is quote (B) in, base (A) out; "sell" the reverse."""
    return build_ix(
        "swap",
        {"amount_in": amount_in, "min_out": min_out, "a_to_b": side == "sell"},
        {
            "user": user,
            "pool": pool.address,
            "vault_a": pool.vault_a,
            "vault_b": pool.vault_b,
            "user_src": src,
            "user_dst": dst,
        },
    )


@dataclass(frozen=True)
class PlannedSwap:
    side: Side
    amount_in: int
    expected_out: int
    min_out: int
    reserve_a: int
    reserve_b: int


@dataclass(frozen=True)
class WalletAudit:
    """The strategy's steps and swaps against the chain: the ping counter and the wallet."""

    steps_counted: int
    steps_landed: int
    swaps: int
    base_expected: int
    base_actual: int
    quote_expected: int
    quote_actual: int

    @property
    def ok(self) -> bool:
        return (
            self.steps_counted == self.steps_landed
            and self.base_expected == self.base_actual
            and self.quote_expected == self.quote_actual
        )


@dataclass
class InferStrategy:
    """``wallet`` signs and pays every step and holds the traded tokens (A = base, B = quote)."""

    wallet: SimWallet
    model: ModelHandle
    pool: Pubkey
    trade_quote: int = 1_000_000  # quote atoms per buy; a sell returns the base bought
    slippage_bps: int = 50
    window: int = 4
    features: FeatureFn | None = None
    quote_decimals: int = 0  # PnL is reported in quote atoms / 10**quote_decimals
    name: str = "infer"
    # Awaited before each plan (e.g. a simulator tick that moves the market).
    before_plan: Callable[[], Awaitable[object]] | None = None
    prices: list[float] = field(default_factory=list)
    base_held: int = 0
    cash_spent: int = 0
    realized: int = 0
    fills: list[TradeFill] = field(default_factory=list)
    steps_landed: int = 0

    def __post_init__(self) -> None:
        self.crank = PingCrank(self.wallet.keypair)
        self.planned: dict[int, PlannedSwap | None] = {}
        self.start: tuple[int, int] | None = None
        self.start_step: int | None = None
        self._priced_step: int | None = None
        self.base_delta = 0
        self.quote_delta = 0

    @property
    def program_id(self) -> Pubkey:
        return PROGRAM_ID

    def watched_accounts(self) -> Sequence[Pubkey]:
        return [self.pool]

    def price_of(self, address: Pubkey, data: bytes) -> float | None:
        return None  # the reserves live in the vaults; the strategy reads them at plan time

    async def read_step(self, chain: Chain) -> int:
        return await self.crank.read_step(chain)

    async def balances(self, chain: Chain) -> tuple[int, int]:
        market = MarketClient(chain, self.wallet.keypair)
        return await market.balance(self.wallet.token_a), await market.balance(self.wallet.token_b)

    def features_fx(self) -> list[int]:
        fn = self.features or (lambda p: momentum_features(p, self.window))
        x = features_to_fx(fn(self.prices))
        # Clamp to the range the model was compiled for (the program refuses values outside).
        return [
            min(max(v, int(self.model.lo_fx[j])), int(self.model.hi_fx[j])) for j, v in enumerate(x)
        ]

    def decision_of(self, class_id: int) -> str:
        names = DECISIONS.get(int(self.model.qmodel.n_classes), DECISIONS[3])
        return names[class_id] if class_id < len(names) else "hold"

    def swap_for(self, decision: str, pool: PoolState) -> PlannedSwap | None:
        side: Side
        if decision == "buy" and self.base_held == 0:
            side, amount = "buy", self.trade_quote
            out = pool_swap_out(pool.reserve_b, pool.reserve_a, amount, pool.fee_bps)
        elif decision == "sell" and self.base_held > 0:
            side, amount = "sell", self.base_held
            out = pool_swap_out(pool.reserve_a, pool.reserve_b, amount, pool.fee_bps)
        else:
            return None
        if out <= 0:
            return None
        return PlannedSwap(
            side,
            amount,
            out,
            min_out_for(out, self.slippage_bps),
            pool.reserve_a,
            pool.reserve_b,
        )

    async def plan(self, chain: Chain, step: int) -> StepPlan:
        if self.before_plan is not None:
            await self.before_plan()
        if self.start is None:
            # Before this strategy's first step lands (a failed step moves no tokens).
            self.start = await self.balances(chain)
            self.start_step = step
        pool = await MarketClient(chain, self.wallet.keypair).pool(self.pool)
        price = pool.price
        if self._priced_step == step and self.prices:
            self.prices[-1] = price  # re-planning a step that failed: its price, not another
        else:
            self.prices.append(price)
        self._priced_step = step
        x = self.features_fx()
        decision = self.decision_of(reference_result(self.model, x).class_id)
        swap = self.swap_for(decision, pool)
        self.planned = {step: swap}
        kp = self.wallet.keypair
        ixs = [
            self.crank.instruction(step),
            infer_instruction(self.model.address, self.model.weights, x),
        ]
        if swap is not None:
            src, dst = (
                (self.wallet.token_b, self.wallet.token_a)
                if swap.side == "buy"
                else (self.wallet.token_a, self.wallet.token_b)
            )
            ixs.append(
                swap_instruction(
                    pool, kp.pubkey(), src, dst, swap.side, swap.amount_in, swap.min_out
                )
            )
        return StepPlan(step, ixs, [kp], decision=decision, price=price)

    async def outcome(self, chain: Chain, plan: StepPlan, result: TxResult) -> StepOutcome:
        names = check_pinged(result, plan.step)
        events = parse_events(result.logs)
        classes = [int(e.data.class_) for e in events if e.name == "Inference"]
        decided = [self.decision_of(c) for c in classes]
        if decided != [plan.decision]:
            raise StepMismatch(
                f"step {plan.step}: chain decided {decided}, reference {plan.decision}"
            )
        want = self.planned.get(plan.step)
        swaps = [e.data for e in events if e.name == "Swapped"]
        if want is None:
            if swaps:
                raise StepMismatch(f"step {plan.step}: unplanned swap in {result.signature}")
        elif (
            len(swaps) != 1
            or int(swaps[0].amount_in) != want.amount_in
            or int(swaps[0].amount_out) < want.min_out
            or bool(swaps[0].a_to_b) != (want.side == "sell")
            or swaps[0].user != self.wallet.keypair.pubkey()
        ):
            raise StepMismatch(f"step {plan.step}: swap events {swaps} disagree with {want}")
        self.steps_landed += 1
        trade: TradeFill | None = None
        spot = plan.price or 0.0
        if want is not None:
            s = swaps[0]
            out = int(s.amount_out)
            spot = int(s.reserve_b) / max(int(s.reserve_a), 1)
            trade = TradeFill(want.side, want.amount_in, out, spot)
            self.fills.append(trade)
            if want.side == "buy":
                self.base_held, self.cash_spent = out, want.amount_in
                self.base_delta += out
                self.quote_delta -= want.amount_in
            else:
                self.realized += out - self.cash_spent
                self.base_held = self.cash_spent = 0
                self.base_delta -= want.amount_in
                self.quote_delta += out
        await self.check_balances(chain, plan.step)
        open_value = self.base_held * spot - self.cash_spent
        pnl = (self.realized + open_value) / 10**self.quote_decimals
        return StepOutcome(plan.step, plan.decision, trade, pnl=pnl, events=names)

    async def check_balances(self, chain: Chain, step: int) -> None:
        """The wallet must hold its start plus exactly the swaps seen (a doubled or foreign
        trade shows here)."""
        assert self.start is not None
        base, quote = await self.balances(chain)
        want = (self.start[0] + self.base_delta, self.start[1] + self.quote_delta)
        if (base, quote) != want:
            raise StepMismatch(
                f"after step {step} the wallet holds (base, quote) = {(base, quote)}, "
                f"expected {want} from the {len(self.fills)} swaps seen"
            )

    async def audit(self, chain: Chain) -> WalletAudit:
        base, quote = await self.balances(chain)
        start = self.start or (base, quote)
        first = self.start_step if self.start_step is not None else await self.read_step(chain)
        return WalletAudit(
            steps_counted=await self.read_step(chain) - first,
            steps_landed=self.steps_landed,
            swaps=len(self.fills),
            base_expected=start[0] + self.base_delta,
            base_actual=base,
            quote_expected=start[1] + self.quote_delta,
            quote_actual=quote,
        )
