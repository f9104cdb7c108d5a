"""Attacks on an agent's feature history (issue 15), on LiteSVM, each performed the way a crank
or the authority would and each gaining nothing: filling the window with one price by cranking
in one slot, feeding another agent's window (or none), closing and recreating the history,
models of the wrong width, skipping the warm-up."""

from __future__ import annotations

import pytest
from solders.compute_budget import set_compute_unit_limit
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer

from client.agent import ModelSlot, history_address
from client.chain.base import TransactionFailed
from client.chain.litesvm import LiteSvmChain
from client.program import PROGRAM_ID, build_ix, error_name, parse_events
from tests.registry.helpers import expect_error, funded

from .world import SPEC, World, constant_model, linear_model, make_world, risk, step, warm

BUY = 2
T, F = 3, len(SPEC)


def window_constant(cls: int, t: int = T, margin: float = 3.0) -> bytes:
    """Always `cls` over a `t`-step window of the 4 features."""
    n = t * F
    w = [[0.01 if j == i else 0.0 for j in range(n)] for i in range(3)]
    bias = [0.0, 0.0, 0.0]
    bias[cls] = margin
    return linear_model(w, bias, n=n)


async def window_agent(w: World, agent_id: int, *, t: int = T) -> Pubkey:
    m, _ = await w.deploy(window_constant(BUY, t))
    agent = await w.agents.create(
        agent_id=agent_id, pool=w.pool, models=[ModelSlot(m)], spec=SPEC, risk=risk(), window=t
    )
    await w.agents.deposit(agent, w.user_a, w.user_b, amount_a=10_000_000, amount_b=10_000_000)
    return agent


async def fill(w: World, agent: Pubkey, t: int = T) -> None:
    """Price warm-up, then `t` vectors: the last step runs the window model (and buys)."""
    await warm(w, agent)
    for _ in range(t - 1):
        assert (await step(w, agent)).decision.reason == "warming_up"
    d = (await step(w, agent)).decision
    assert (d.action, d.reason) == ("buy", "traded")


async def test_cranking_many_times_in_one_slot_pushes_one_vector(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    """The attacker's transaction cranks T times in one slot to fill the window with one
    price: only the first step samples; the others push nothing (price_not_advanced), so the
    window model still waits for T distinct slots."""
    w = await make_world(svm, payer)
    agent = await window_agent(w, 1)
    await warm(w, agent)
    for k in range(T - 1):
        svm.warp_slots(1)
        s0 = (await w.agents.state(agent)).step
        ixs = [await w.agents.step_instruction(agent, expected_step=s0 + i) for i in range(T + 1)]
        res = await w.chain.send([set_compute_unit_limit(1_000_000), *ixs], payer)
        reasons = [int(e.data.reason) for e in parse_events(res.logs) if e.name == "Decision"]
        assert reasons == [14] + [13] * T  # warming_up, then price_not_advanced
        h = await w.agents.history(agent)
        assert (h.count, h.pushed) == (k + 1, k + 1)
    # The T-th distinct slot fills it; only then does the model run.
    d = (await step(w, agent)).decision
    assert (d.action, d.reason) == ("buy", "traded")


async def test_a_crank_cannot_pass_another_history_or_none(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    """An agent with a history must be given its own: another agent's (even a full one), none,
    a read-only one or any other account fails the transaction and changes nothing. So a crank
    can neither skip a push, nor force a HOLD, nor feed another agent's window."""
    w = await make_world(svm, payer)
    a = await window_agent(w, 1)
    b = await window_agent(w, 2)
    await fill(w, b)  # B's window is full; A's is empty
    await warm(w, a)
    svm.warp_slots(1)
    honest = await w.agents.step_instruction(a)
    metas = list(honest.accounts)
    assert metas[8].pubkey == history_address(a) and metas[8].is_writable
    before = (await w.agents.state(a), await w.agents.history(a))

    async def attempt(accounts: list[AccountMeta], error: str) -> None:
        await expect_error(svm, [Instruction(PROGRAM_ID, honest.data, accounts)], payer, error)
        assert (await w.agents.state(a), await w.agents.history(a)) == before

    other = AccountMeta(history_address(b), False, True)
    await attempt([*metas[:8], other, *metas[9:]], "HistoryMismatch")
    await attempt([*metas[:8], *metas[9:]], "HistoryMismatch")  # none: a model header in its place
    await attempt(metas[:8], "HistoryMismatch")
    await attempt([*metas[:8], AccountMeta(a, False, True), *metas[9:]], "HistoryMismatch")
    ro = AccountMeta(history_address(a), False, False)
    await attempt([*metas[:8], ro, *metas[9:]], "ConstraintMut")
    # The honest crank pushes A's first vector and holds.
    assert (await step(w, a, warp=False)).decision.reason == "warming_up"


async def test_closing_and_recreating_the_history_resets_it_and_poisons_nothing(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    """The authority closes and recreates a full history (one transaction): the new one is
    empty (zeros, count 0), so the window model waits T steps again; no old value survives.
    A window of another shape than the agent's window models is refused; close_agent refuses
    while a history exists, and the SDK's close closes both with every lamport returned."""
    w = await make_world(svm, payer)
    agent = await window_agent(w, 1)
    await fill(w, agent)
    full = await w.agents.history(agent)
    assert full.count == T and any(any(v) for v in full.vectors)
    step_now = (await w.agents.state(agent)).step
    auth = payer.pubkey()
    ixs = [
        w.agents.close_history_instruction(agent, auth),
        w.agents.init_history_instruction(agent, T, auth),
    ]
    await w.chain.send(ixs, payer)
    fresh = await w.agents.history(agent)
    assert (fresh.count, fresh.head, fresh.pushed, fresh.created_step) == (0, 0, 0, step_now)
    acc = svm.svm.get_account(history_address(agent))
    assert acc is not None and bytes(acc.data)[80:] == bytes(4 * T * F)
    for _ in range(T - 1):
        d = (await step(w, agent)).decision
        assert (d.reason, d.class_id) == ("warming_up", 255)
    assert (await step(w, agent)).decision.reason == "traded"

    # Another shape than the window models read; a second history; a stranger.
    await w.chain.send([w.agents.close_history_instruction(agent, auth)], payer)
    st = await w.agents.state(agent)
    assert (st.has_history, st.history_window, st.window_models) == (False, T, 1)
    # Without a history the window models hold (and the crank passes none).
    d = (await step(w, agent)).decision
    assert (d.reason, d.class_id) == ("warming_up", 255)
    raw = build_ix(
        "init_agent_history",
        {"window": T + 1},
        {"authority": auth, "agent": agent, "history": history_address(agent)},
    )
    await expect_error(svm, [raw], payer, "BadWindow")
    stranger = funded(svm)
    await expect_error(
        svm,
        [w.agents.init_history_instruction(agent, T, stranger.pubkey())],
        stranger,
        "NotAgentAuthority",
    )
    await w.agents.init_history(agent, T)
    await expect_error(
        svm, [w.agents.init_history_instruction(agent, T, auth)], payer, "HistoryExists"
    )

    # close_agent alone would orphan the history: refused. The SDK closes both.
    st = await w.agents.state(agent)
    raw_close = build_ix(
        "close_agent",
        {},
        {
            "authority": auth,
            "agent": agent,
            "vault_a": st.vault_a,
            "vault_b": st.vault_b,
            "user_a": w.user_a,
            "user_b": w.user_b,
        },
    )
    await expect_error(svm, [raw_close], payer, "HistoryExists")
    rent = sum(
        svm.svm.get_account(k).lamports  # type: ignore[union-attr]
        for k in (agent, history_address(agent), st.vault_a, st.vault_b)
    )
    before = svm.svm.get_balance(auth) or 0
    res = await w.agents.close(agent, w.user_a, w.user_b)
    for k in (history_address(agent), agent):
        gone = svm.svm.get_account(k)
        assert gone is None or (gone.lamports, len(gone.data)) == (0, 0)
    assert res.ok and (svm.svm.get_balance(auth) or 0) == before + rent - 5000  # one signature


async def test_models_of_the_wrong_width_and_windows_out_of_range_are_refused(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    """Window models must read exactly the history's shape (T x F); a set mixing two windows,
    or a width that is no window of the features, is refused; the history's window must be
    2..=128 and the one the agent's window models read."""
    w = await make_world(svm, payer)
    auth = payer.pubkey()
    win3, _ = await w.deploy(window_constant(BUY, 3))
    win2, _ = await w.deploy(window_constant(BUY, 2))
    odd, _ = await w.deploy(linear_model([[0.01] * 13] * 3, [0.0, 0.0, 3.0], n=13))
    agent = await window_agent(w, 1)  # a history of 3 x 4
    before = await w.agents.state(agent)
    for models in ([win2], [odd], [win3, win2]):
        res = await w.agents.set_models(agent, [ModelSlot(m) for m in models], check=False)
        assert res.custom_error is not None
        assert error_name(res.custom_error) == "FeatureSpecMismatch", models
    assert (await w.agents.state(agent)).models == before.models
    assert (await w.agents.set_models(agent, [ModelSlot(win3), ModelSlot(win3)])).ok
    assert (await w.agents.state(agent)).window_models == 2
    # Creation: two window shapes in one set are refused; one shape declares the window.
    with pytest.raises(TransactionFailed) as ei:
        await w.agents.create(
            agent_id=9,
            pool=w.pool,
            models=[ModelSlot(win3), ModelSlot(win2)],
            spec=SPEC,
            risk=risk(),
        )
    assert error_name(ei.value.result.custom_error or 0) == "FeatureSpecMismatch"
    a2 = await w.agents.create(
        agent_id=2, pool=w.pool, models=[ModelSlot(win2)], spec=SPEC, risk=risk()
    )
    st = await w.agents.state(a2)
    assert (st.has_history, st.history_window, st.window_models) == (False, 2, 1)

    def init(agent: Pubkey, window: int) -> Instruction:
        return build_ix(
            "init_agent_history",
            {"window": window},
            {"authority": auth, "agent": agent, "history": history_address(agent)},
        )

    for bad in (0, 1, 3, 129):
        await expect_error(svm, [init(a2, bad)], payer, "BadWindow")
    await w.chain.send([init(a2, 2)], payer)
    assert (await w.agents.history(a2)).window == 2
    # No window models: any window in 2..=128 (128 x 4 values: 2 KiB of ring).
    single, _ = await w.deploy(constant_model(BUY))
    a3 = await w.agents.create(
        agent_id=3, pool=w.pool, models=[ModelSlot(single)], spec=SPEC, risk=risk()
    )
    for bad in (1, 129):
        await expect_error(svm, [init(a3, bad)], payer, "BadWindow")
    await w.chain.send([init(a3, 128)], payer)
    h = await w.agents.history(a3)
    assert (h.window, h.n_features) == (128, F)
    acc = svm.svm.get_account(history_address(a3))
    assert acc is not None and len(acc.data) == 80 + 4 * 128 * F
    # A history without window models records but never holds the single-vector model.
    await warm(w, a3)
    d = (await step(w, a3)).decision  # (unfunded: the BUY meets the risk limit)
    assert (d.action, d.class_id, d.reason) == ("buy", BUY, "risk_limit")
    assert (await w.agents.history(a3)).pushed == 1


async def test_lamports_sent_to_the_history_address_do_not_block_it(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    """Anyone can send lamports to the history's PDA before it exists (a plain transfer makes
    a system account there): the authority's `init_agent_history` still creates it, and the
    donation stays in the account (the authority gets it back at close)."""
    w = await make_world(svm, payer)
    m, _ = await w.deploy(constant_model(BUY))
    agent = await w.agents.create(
        agent_id=1, pool=w.pool, models=[ModelSlot(m)], spec=SPEC, risk=risk()
    )
    griefer = funded(svm)
    addr = history_address(agent)
    gift = transfer(TransferParams(from_pubkey=griefer.pubkey(), to_pubkey=addr, lamports=1234))
    await w.chain.send([gift], griefer)
    await w.agents.init_history(agent, T)
    acc = svm.svm.get_account(addr)
    assert acc is not None and acc.owner == PROGRAM_ID and len(acc.data) == 80 + 4 * T * F
    rent = svm.svm.minimum_balance_for_rent_exemption(80 + 4 * T * F)
    assert acc.lamports == max(rent, 1234)
    h = await w.agents.history(agent)
    assert (h.window, h.count) == (T, 0)
