"""The on-chain agent as a ``StepProgram``: one ``agent_step(expected_step)`` per bot step.

The program itself refuses a step whose ``expected_step`` is not its counter (``StepMismatch``,
6037), so a rebroadcast or re-signed crank can never trade twice. The outcome is read from the
transaction's ``Decision`` and ``Trade`` events; the ``AgentLedger`` sums the trades so an audit
can compare them with the vault balances (``audit``).
"""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from ..agent import AgentClient, AgentState, Decision
from ..agent.client import decision_from_event
from ..chain.base import Chain, ChainError, TxResult
from ..chain.errors import RpcUnavailable
from ..market import MarketClient
from ..program import PROGRAM_ID, decode_account, parse_events
from .steps import StepMismatch, StepOutcome, StepPlan, TradeFill

Q32 = 1 << 32
SIDE_SELL, SIDE_BUY = 0, 2
# Issue 6's budget for one model's step is 30k CU (a trade included).
STEP_CU_FLOOR_PER_MODEL = 30_000


@dataclass(frozen=True)
class AgentTrade:
    step: int
    side: str  # "buy": quote (B) in, base (A) out; "sell": base in, quote out
    amount_in: int
    amount_out: int
    base_balance: int
    quote_balance: int
    reserve_a: int
    reserve_b: int

    @property
    def base_delta(self) -> int:
        return self.amount_out if self.side == "buy" else -self.amount_in

    @property
    def quote_delta(self) -> int:
        return -self.amount_in if self.side == "buy" else self.amount_out


@dataclass
class AgentLedger:
    """Vault balances at the start and every trade the bot saw land, in order."""

    base_start: int
    quote_start: int
    decisions: list[Decision] = field(default_factory=list)
    trades: list[AgentTrade] = field(default_factory=list)

    @property
    def base_delta(self) -> int:
        return sum(t.base_delta for t in self.trades)

    @property
    def quote_delta(self) -> int:
        return sum(t.quote_delta for t in self.trades)

    def pnl_atoms(self, price_q32: int) -> float:
        """Trading PnL in quote atoms: the quote gained plus the base gained marked at
        ``price_q32`` (the starting inventory's own price move is not counted)."""
        return self.quote_delta + self.base_delta * price_q32 / Q32


@dataclass(frozen=True)
class VaultAudit:
    steps_counted: int
    trades_seen: int
    trades_counted: int
    base_expected: int
    base_actual: int
    quote_expected: int
    quote_actual: int

    @property
    def ok(self) -> bool:
        return (
            self.trades_seen == self.trades_counted
            and self.base_expected == self.base_actual
            and self.quote_expected == self.quote_actual
        )


def _with_step(ix: Instruction, step: int) -> Instruction:
    """``ix`` (an ``agent_step``) for another ``expected_step``: discriminator + u64."""
    return Instruction(ix.program_id, bytes(ix.data)[:8] + struct.pack("<Q", step), ix.accounts)


class AgentStepProgram:
    """Cranks one agent. Build it with ``await AgentStepProgram.load(chain, payer, agent)``."""

    def __init__(
        self,
        client: AgentClient,
        agent: Pubkey,
        state: AgentState,
        template: Instruction,
        ledger: AgentLedger,
        *,
        quote_decimals: int,
        price_account: Pubkey | None = None,
        name: str = "agent",
        before_plan: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.client = client
        self.agent = agent
        self.state = state
        self.template = template
        self.ledger = ledger
        self.quote_decimals = quote_decimals
        self.price_account = price_account
        self.name = name
        # Awaited before each step is planned (a lockstep simulator tick, say).
        self.before_plan = before_plan
        self.trades_counted_start = state.trades
        self.last_price_q32 = state.last_price
        self.max_cu = 0

    @classmethod
    async def load(
        cls, chain: Chain, payer: Keypair, agent: Pubkey, *, price_account: Pubkey | None = None
    ) -> AgentStepProgram:
        client = AgentClient(chain, payer)
        state = await client.state(agent)
        template = await client.step_instruction(
            agent, expected_step=state.step, price_account=price_account
        )
        market = MarketClient(chain, payer)
        base, quote = await market.balance(state.vault_a), await market.balance(state.vault_b)
        pool = await market.pool(state.pool)
        mint_b = await chain.get_account(pool.mint_b)
        decimals = bytes(mint_b.data)[44] if mint_b is not None else 0
        return cls(
            client,
            agent,
            state,
            template,
            AgentLedger(base, quote),
            quote_decimals=decimals,
            price_account=price_account,
        )

    @property
    def program_id(self) -> Pubkey:
        return PROGRAM_ID

    def watched_accounts(self) -> Sequence[Pubkey]:
        # The pool's reserves are its price; a feed/Pyth source is watched too.
        return list(dict.fromkeys([self.state.pool, self.state.price_source]))

    def price_of(self, address: Pubkey, data: bytes) -> float | None:
        if address == self.state.price_source and address != self.state.pool:
            try:
                name, f = decode_account(data)
            except Exception:
                return None
            return float(f.price) if name == "PriceFeed" else None
        return None  # pool reserves live in the vaults; any pool write is not a price

    async def read_step(self, chain: Chain) -> int:
        return (await self.client.state(self.agent)).step

    async def plan(self, chain: Chain, step: int) -> StepPlan:
        if self.before_plan is not None:
            await self.before_plan()
        try:
            # Fresh: a model that follows its active version may have a new weights account.
            ix = await self.client.step_instruction(
                self.agent, expected_step=step, price_account=self.price_account
            )
            self.template = ix
        except (RpcUnavailable, httpx.HTTPError):
            ix = _with_step(self.template, step)  # the accounts rarely change; the program checks
        # Simulation may hold where landing trades (the price moves in between): size for the
        # trade path, never below what a step of this agent has used so far.
        floor = max(STEP_CU_FLOOR_PER_MODEL * len(self.state.models), self.max_cu * 5 // 4)
        return StepPlan(step=step, instructions=[ix], min_compute_units=floor)

    async def outcome(self, chain: Chain, plan: StepPlan, result: TxResult) -> StepOutcome:
        events = [
            e for e in parse_events(result.logs) if getattr(e.data, "agent", None) == self.agent
        ]
        decisions = [decision_from_event(e.data) for e in events if e.name == "Decision"]
        if [d.step for d in decisions] != [plan.step]:
            raise StepMismatch(
                f"step {plan.step}: expected one Decision for step {plan.step}, found "
                f"{[d.step for d in decisions]} in {result.signature}"
            )
        d = decisions[0]
        trades = [
            AgentTrade(
                int(e.data.step),
                "buy" if int(e.data.side) == SIDE_BUY else "sell",
                int(e.data.amount_in),
                int(e.data.amount_out),
                int(e.data.base_balance),
                int(e.data.quote_balance),
                int(e.data.reserve_a),
                int(e.data.reserve_b),
            )
            for e in events
            if e.name == "Trade"
        ]
        if len(trades) != (1 if d.reason == "traded" else 0) or any(
            t.step != plan.step or (t.amount_in, t.amount_out) != (d.amount_in, d.amount_out)
            for t in trades
        ):
            raise StepMismatch(f"step {plan.step}: Trade events {trades} disagree with {d}")
        self.ledger.decisions.append(d)
        self.max_cu = max(self.max_cu, result.compute_units)
        self.ledger.trades += trades
        if d.price:
            self.last_price_q32 = d.price
        fill: TradeFill | None = None
        if trades:
            t = trades[0]
            fill = TradeFill(t.side, t.amount_in, t.amount_out, t.reserve_b / max(t.reserve_a, 1))  # type: ignore[arg-type]
        pnl = self.ledger.pnl_atoms(self.last_price_q32) / 10**self.quote_decimals
        return StepOutcome(
            plan.step,
            decision=f"{d.action}/{d.reason}",
            trade=fill,
            pnl=pnl,
            events=tuple(e.name for e in events),
        )

    async def audit(self, chain: Chain) -> VaultAudit:
        """Trades seen (events) against the agent's trade counter, and the start balances plus
        the sum of the trades against the vaults now. Assumes no deposit/withdraw meanwhile."""
        st = await self.client.state(self.agent)
        market = MarketClient(chain, self.client.payer)
        base, quote = await market.balance(st.vault_a), await market.balance(st.vault_b)
        if st.vault_a != self.state.vault_a or st.vault_b != self.state.vault_b:
            raise ChainError("the agent's vaults changed")
        return VaultAudit(
            steps_counted=st.step - self.state.step,
            trades_seen=len(self.ledger.trades),
            trades_counted=st.trades - self.trades_counted_start,
            base_expected=self.ledger.base_start + self.ledger.base_delta,
            base_actual=base,
            quote_expected=self.ledger.quote_start + self.ledger.quote_delta,
            quote_actual=quote,
        )
