"""`infer` called by another program: risk_gate (programs/risk_gate, through the ml_agent_cpi
crate) deployed next to ml_agent on LiteSVM, lending only when the model approves. Each loan's
decision is checked against the numpy reference on the features the gate computes on chain."""

from __future__ import annotations

import numpy as np
import pytest
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from client.bench.cpi import GIB, Gate, deploy_gate
from client.chain.base import TransactionFailed
from client.chain.litesvm import LiteSvmChain
from client.inference import infer_instruction
from client.model import execute
from client.program import PROGRAM_ID, anchor_error, parse_events
from client.registry import ModelRegistry
from client.risk_gate import (
    BAD_AMOUNT,
    BAD_GATE,
    DENIED,
    WRONG_MODEL,
    GateState,
    borrow,
    feature_fx,
    init_gate,
    risk_gate_so_path,
)
from tests.inference.conftest import golden_bytes


@pytest.fixture
async def gate(svm: LiteSvmChain, payer: Keypair) -> Gate:
    if not risk_gate_so_path().is_file():
        pytest.fail(f"{risk_gate_so_path()} is missing: run `bash scripts/build-program.sh`")
    return await deploy_gate(svm, payer)


async def borrower_with(svm: LiteSvmChain, lamports: int) -> Keypair:
    kp = Keypair()
    await svm.airdrop(kp.pubkey(), lamports)
    return kp


def reference(g: Gate, amount: int, balance: int) -> tuple[int, int]:
    fx = np.array([[feature_fx(amount, g.caps[0]), feature_fx(balance, g.caps[1])]])
    t = execute(g.qmodel, fx)
    return int(t.classes[0]), int(t.confidence[0])


async def balances(svm: LiteSvmChain, *keys: Pubkey) -> list[int]:
    return [await svm.get_balance(k) for k in keys]


async def test_gate_lends_only_when_the_model_approves(
    svm: LiteSvmChain, payer: Keypair, gate: Gate
) -> None:
    g = gate
    decided = set()
    for amount_u, balance_u in [(1.0, 8.0), (3.0, 4.0), (0.5, 12.0), (1.5, 3.0)]:
        amount, balance = int(amount_u * GIB), int(balance_u * GIB)
        borrower = await borrower_with(svm, balance)
        want_class, _ = reference(g, amount, balance)
        approve = want_class == 1
        decided.add(approve)
        before = await balances(svm, borrower.pubkey(), g.gate)
        ix = borrow(g.program, borrower.pubkey(), g.gate, g.model.model, g.model.weights, amount)
        res = await svm.send([ix], payer, [borrower], check=False)
        after = await balances(svm, borrower.pubkey(), g.gate)
        # ml_agent ran nested inside the gate and emitted its Inference event there.
        assert f"Program {PROGRAM_ID} invoke [2]" in res.logs, res.logs
        if approve:
            assert res.ok, res.logs
            assert after == [before[0] + amount, before[1] - amount]
            events = parse_events(res.logs)
            assert [e.name for e in events] == ["Inference"]
            assert events[0].data.class_ == 1 and events[0].data.model == g.model.model
        else:
            assert not res.ok and res.custom_error == DENIED, res.logs
            assert after == before  # nothing moved
            assert "Program log: risk_gate: the model denied the loan" in res.logs
    assert decided == {True, False}  # both branches exercised
    acc = await svm.get_account(g.gate)
    assert acc is not None
    state = GateState.decode(bytes(acc.data))
    assert state.lent == int(1.0 * GIB) + int(0.5 * GIB) and state.model == g.model.model


async def test_gate_result_equals_a_direct_infer(
    svm: LiteSvmChain, payer: Keypair, gate: Gate
) -> None:
    # What the gate read by CPI is what a direct infer on the same features returns.
    g = gate
    amount, balance = int(0.75 * GIB), int(6 * GIB)
    borrower = await borrower_with(svm, balance)
    fx = [feature_fx(amount, g.caps[0]), feature_fx(balance, g.caps[1])]
    direct = await svm.send([infer_instruction(g.model.model, g.model.weights, fx)], payer)
    res = await svm.send(
        [borrow(g.program, borrower.pubkey(), g.gate, g.model.model, g.model.weights, amount)],
        payer,
        [borrower],
    )
    direct_ev = parse_events(direct.logs)[0].data
    cpi_ev = parse_events(res.logs)[0].data
    assert cpi_ev.outputs_sha256 == direct_ev.outputs_sha256
    assert (cpi_ev.class_, cpi_ev.confidence_q16) == (direct_ev.class_, direct_ev.confidence_q16)
    assert (direct_ev.class_, direct_ev.confidence_q16) == reference(g, amount, balance)


async def test_gate_refuses_other_models_programs_and_amounts(
    svm: LiteSvmChain, payer: Keypair, gate: Gate
) -> None:
    g = gate
    borrower = await borrower_with(svm, 8 * GIB)
    other = await ModelRegistry(svm, payer).deploy(golden_bytes("decision_tree"))

    async def refused(ix_amount: int, code: int, **over: Pubkey) -> list[str]:
        model, weights = over.get("model", g.model.model), over.get("weights", g.model.weights)
        ml_agent = over.get("ml_agent", PROGRAM_ID)
        ix = borrow(
            g.program, borrower.pubkey(), g.gate, model, weights, ix_amount, ml_agent=ml_agent
        )
        before = await balances(svm, borrower.pubkey(), g.gate)
        with pytest.raises(TransactionFailed) as ei:
            await svm.send([ix], payer, [borrower])
        assert ei.value.result.custom_error == code, ei.value.result.logs
        assert await balances(svm, borrower.pubkey(), g.gate) == before
        return ei.value.result.logs

    # Another model (one its owner could make approve anything) is not the gate's model.
    await refused(GIB, WRONG_MODEL, model=other.model, weights=other.weights)
    # A program other than ml_agent in its slot.
    await refused(GIB, WRONG_MODEL, ml_agent=Pubkey.new_unique())
    # Zero, above the maximum, or more than the vault holds above its floor.
    await refused(0, BAD_AMOUNT)
    await refused(5 * GIB, BAD_AMOUNT)
    # The gate's model with another model's weights: ml_agent itself refuses, inside the CPI,
    # and its AnchorError line names the error and the program that raised it.
    logs = await refused(GIB, 6027, weights=other.weights)
    err = anchor_error(logs)
    assert err is not None and err.program == PROGRAM_ID and err.name == "NotActiveVersion"


async def test_gate_cannot_be_reconfigured(svm: LiteSvmChain, payer: Keypair, gate: Gate) -> None:
    g = gate
    attacker = await borrower_with(svm, GIB)
    ix = init_gate(
        g.program,
        attacker.pubkey(),
        g.gate,
        g.model.model,
        approve_class=0,
        min_confidence_q16=0,
        max_amount=100 * GIB,
        caps=g.caps,
    )
    # Without the gate's signature the program refuses; with it (as if its key leaked) the
    # gate is already configured: neither rewrites it.
    unsigned = Instruction(
        ix.program_id, ix.data, [ix.accounts[0], AccountMeta(g.gate, False, True)]
    )
    res = await svm.send([unsigned], attacker, check=False)
    assert not res.ok and "MissingRequiredSignature" in str(res.error), res.logs
    with pytest.raises(TransactionFailed) as ei:
        await svm.send([ix], attacker, [g.gate_keypair])
    assert ei.value.result.custom_error == BAD_GATE
    acc = await svm.get_account(g.gate)
    assert acc is not None and GateState.decode(bytes(acc.data)).admin == payer.pubkey()
