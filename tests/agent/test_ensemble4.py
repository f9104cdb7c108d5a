"""A 4-model ensemble end to end: create (10 fixed + 8 model accounts, above the old entrypoint
cap of 16), then steps that buy and sell, within the issue's CU target."""

from __future__ import annotations

from solders.keypair import Keypair

from client.agent import ModelSlot, StepResult
from client.chain.litesvm import LiteSvmChain

from .world import constant_model, make_world, momentum_model

ENSEMBLE_CU_TARGET = 60_000
SINGLE_CU_TARGET = 30_000


async def test_four_model_ensemble_trades_both_ways(svm: LiteSvmChain, payer: Keypair) -> None:
    w = await make_world(svm, payer)
    slots = [ModelSlot((await w.deploy(momentum_model(k)))[0]) for k in (40.0, 60.0, 80.0)]
    hold, _ = await w.deploy(constant_model(1, 1.0))
    agent = await w.agent([*slots, ModelSlot(hold)], 1)
    st = await w.agents.state(agent)
    assert len(st.models) == 4
    seen: list[str] = []
    cus: list[int] = []
    # A move in one slot, the crank in the next (the TWAP then carries the move).
    for up in [None, None, None, None, None, True, True, None, False, False]:
        if up is not None:
            await w.move_price(up)
        svm.warp_slots(1)
        r = await w.agents.step(agent)
        assert isinstance(r, StepResult)
        seen.append(f"{r.decision.action}/{r.decision.reason}")
        if r.decision.reason != "warmup":
            cus.append(r.compute_units)
    assert "buy/traded" in seen and "sell/traded" in seen, seen
    assert max(cus) <= ENSEMBLE_CU_TARGET, cus


async def test_single_model_step_cu(svm: LiteSvmChain, payer: Keypair) -> None:
    w = await make_world(svm, payer)
    buy, _ = await w.deploy(constant_model(2))
    agent = await w.agent([ModelSlot(buy)], 1)
    cus = []
    for _ in range(7):
        svm.warp_slots(1)
        r = await w.agents.step(agent)
        assert isinstance(r, StepResult)
        if r.decision.reason == "traded":
            cus.append(r.compute_units)
    assert cus and max(cus) <= SINGLE_CU_TARGET, cus
