"""What a bot steps: the ``StepProgram`` protocol, its plans and outcomes, and the ``ping``
stand-in crank.

A step program owns an on-chain counter (the crank nonce): ``read_step`` returns how many steps
have landed, ``plan(step)`` builds the instructions for step ``step`` (the counter value before
it lands), ``outcome`` decodes what the landed transaction did. The bot's no-duplicate check is
"the counter advanced by exactly one per confirmed step".

Issue 6's on-chain agent satisfies this with ``agent_step(expected_step)`` (the program itself
then refuses a repeated step); until it lands, ``PingCrank`` uses the ``ping`` instruction: its
``PingRecord.count`` is the counter and the payload carries the step number.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from ..chain.base import Chain, TxResult
from ..program import PROGRAM_ID, build_ix, decode_account, parse_events, ping_record_address

Side = Literal["buy", "sell"]


class StepMismatch(Exception):
    """The chain's counter or events disagree with the step the bot sent (lost or doubled)."""


@dataclass(frozen=True)
class TradeFill:
    """One executed trade: ``amount_in`` of the input token for ``amount_out`` of the other."""

    side: Side
    amount_in: int
    amount_out: int
    price: float


@dataclass(frozen=True)
class StepPlan:
    """The transaction body for one step. ``step`` is the counter value it expects to advance."""

    step: int
    instructions: list[Instruction]
    signers: list[Keypair] = field(default_factory=list)
    # Set by off-chain strategies, which decide before sending; on-chain agents decide on chain.
    decision: str | None = None
    price: float | None = None
    # A floor for the compute-unit limit: a step whose work depends on state at landing (an
    # agent that held in simulation may trade by then) needs more than its simulation showed.
    min_compute_units: int = 0


@dataclass(frozen=True)
class StepOutcome:
    step: int
    decision: str | None = None
    trade: TradeFill | None = None
    # Mark-to-market PnL of the strategy after this step, in quote units (None: not tracked).
    pnl: float | None = None
    events: tuple[str, ...] = ()


class StepProgram(Protocol):
    """What ``Bot`` needs from a crankable agent or strategy."""

    name: str

    @property
    def program_id(self) -> Pubkey: ...

    def watched_accounts(self) -> Sequence[Pubkey]:
        """Accounts whose change is a market move (pool, price feed); may be empty."""
        ...

    def price_of(self, address: Pubkey, data: bytes) -> float | None:
        """The price a watched account's data shows, or None if it shows none."""
        ...

    async def read_step(self, chain: Chain) -> int:
        """The on-chain step counter: how many steps have landed."""
        ...

    async def plan(self, chain: Chain, step: int) -> StepPlan: ...

    async def outcome(self, chain: Chain, plan: StepPlan, result: TxResult) -> StepOutcome:
        """Decode a landed step; raise ``StepMismatch`` if it is not step ``plan.step``."""
        ...


@dataclass
class PingCrank:
    """Stand-in crank: one ``ping`` per step, counted by the authority's ``PingRecord``."""

    authority: Keypair
    name: str = "ping"
    program: Pubkey = PROGRAM_ID

    @property
    def program_id(self) -> Pubkey:
        return self.program

    @property
    def record(self) -> Pubkey:
        return ping_record_address(self.authority.pubkey(), self.program)

    def watched_accounts(self) -> Sequence[Pubkey]:
        return [self.record]

    def price_of(self, address: Pubkey, data: bytes) -> float | None:
        return None

    async def read_step(self, chain: Chain) -> int:
        account = await chain.get_account(self.record)
        if account is None:
            return 0
        _, fields = decode_account(bytes(account.data))
        return int(fields.count)

    def instruction(self, step: int) -> Instruction:
        return build_ix(
            "ping",
            {"payload": struct.pack("<Q", step)},
            {"authority": self.authority.pubkey(), "ping_record": self.record},
            program_id=self.program,
        )

    async def plan(self, chain: Chain, step: int) -> StepPlan:
        return StepPlan(step=step, instructions=[self.instruction(step)], signers=[self.authority])

    async def outcome(self, chain: Chain, plan: StepPlan, result: TxResult) -> StepOutcome:
        return StepOutcome(step=plan.step, events=check_pinged(result, plan.step))


def check_pinged(result: TxResult, step: int, program_id: Pubkey = PROGRAM_ID) -> tuple[str, ...]:
    """The event names of a landed ping step; ``StepMismatch`` unless it counted ``step + 1``."""
    events = parse_events(result.logs, program_id)
    counts = [int(e.data.count) for e in events if e.name == "Pinged"]
    if counts != [step + 1]:
        raise StepMismatch(
            f"step {step}: expected one Pinged event with count {step + 1}, found {counts} "
            f"in transaction {result.signature}"
        )
    return tuple(e.name for e in events)
