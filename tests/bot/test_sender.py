"""The exactly-once rule of StepSender, against a scripted chain (no validator needed)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.transaction import Transaction

from client.bot import CounterMoved, PingCrank, SendFailed, StepSender
from client.bot.metrics import BotMetrics, percentile
from client.chain.base import TxResult
from client.chain.errors import BlockhashExpired, RpcUnavailable


class ScriptedChain:
    """Raises the scripted errors from send_transaction, then lands; records signatures."""

    name = "scripted"

    def __init__(self, script: Sequence[BaseException | None]) -> None:
        self.script = list(script)
        self.sent: list[str] = []
        self.blockhashes = 0

    async def latest_blockhash_with_expiry(self) -> tuple[Hash, int]:
        self.blockhashes += 1
        return Hash.new_unique(), 100 + self.blockhashes

    async def send_transaction(
        self, tx: Transaction, last_valid_block_height: int | None, *, check: bool = True
    ) -> TxResult:
        self.sent.append(str(tx.signatures[0]))
        error = self.script.pop(0) if self.script else None
        if error is not None:
            raise error
        return TxResult(tx.signatures[0], True, 900, slot=7)

    async def simulate(
        self, instructions: Sequence[Instruction], payer: Keypair, signers: Sequence[Keypair] = ()
    ) -> TxResult:
        return TxResult(None, True, 1000)


def expired() -> BlockhashExpired:
    return BlockhashExpired("sig", 100, 101)


def unavailable() -> RpcUnavailable:
    return RpcUnavailable("http://127.0.0.1:1", "sendTransaction", 3, "injected")


async def plan_for(chain: ScriptedChain, payer: Keypair, step: int = 0) -> object:
    return await PingCrank(payer).plan(chain, step)  # type: ignore[arg-type]


async def test_transport_errors_resend_the_same_signature() -> None:
    payer = Keypair()
    chain = ScriptedChain([unavailable(), unavailable(), None])
    metrics = BotMetrics()
    sender = StepSender(chain, payer, metrics=metrics, retry_backoff=(0.001, 0.002))  # type: ignore[arg-type]
    receipt = await sender.send(await plan_for(chain, payer))  # type: ignore[arg-type]
    assert len(chain.sent) == 3 and len(set(chain.sent)) == 1
    assert (receipt.retries, receipt.resigns, metrics.send_retries) == (2, 0, 2)
    assert receipt.compute_unit_limit == 1100  # 1000 simulated + 10 %


async def test_resign_only_after_expiry_with_unmoved_counter() -> None:
    payer = Keypair()
    chain = ScriptedChain([expired(), None])
    reads: list[int] = []

    async def counter() -> int:
        reads.append(0)
        return 0

    sender = StepSender(chain, payer)  # type: ignore[arg-type]
    receipt = await sender.send(await plan_for(chain, payer), counter=counter)  # type: ignore[arg-type]
    assert len(set(chain.sent)) == 2 and receipt.resigns == 1 and reads == [0]


async def test_counter_moved_means_no_resign() -> None:
    payer = Keypair()
    chain = ScriptedChain([expired(), None])

    async def counter() -> int:
        return 1  # someone else landed step 0

    sender = StepSender(chain, payer)  # type: ignore[arg-type]
    with pytest.raises(CounterMoved, match="counter is 1"):
        await sender.send(await plan_for(chain, payer), counter=counter)  # type: ignore[arg-type]
    assert len(chain.sent) == 1


async def test_resigns_are_bounded() -> None:
    payer = Keypair()
    chain = ScriptedChain([expired()] * 5)
    sender = StepSender(chain, payer, max_resigns=2)  # type: ignore[arg-type]
    with pytest.raises(SendFailed, match="expired 3 times"):
        await sender.send(await plan_for(chain, payer))  # type: ignore[arg-type]
    assert len(set(chain.sent)) == 3


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        percentile([1.0], 101)
