"""Models under an agent (issue 11, attacks 2 and 4), on LiteSVM, performed the way a model
author or a crank would: a pinned agent runs the bytes it pinned or nothing; a closed model id
can never be recreated; a model author cannot stop an agent's steps; a crank cannot make a
healthy agent hold by passing other model accounts; `set_agent_models` recovers an agent and
`close_agent` ends one with every token and lamport returned."""

from __future__ import annotations

import base64
import json
from argparse import Namespace

import pytest
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from client.agent import ModelSlot, StepResult
from client.agent.client import agent_vault
from client.chain.litesvm import LiteSvmChain
from client.cli import agent as agent_cli
from client.cli import registry as registry_cli
from client.cli.context import CliContext
from client.config import resolve_url
from client.program import PROGRAM_ID, build_ix, decode_account, error_name, parse_events
from client.registry import ModelRegistry
from client.registry import instructions as reg_ix
from client.registry.registry import RegistryError
from tests.registry.helpers import Upload, expect_error, funded, set_account_data

from .world import World, constant_model, linear_model, make_world, step, warm

BUY, SELL, HOLD = 2, 0, 1
# ModelWeights: discriminator 8, model 32, authority 32, model_sha256 32 -> chunk_root at 104.
CHUNK_ROOT_OFFSET = 104


async def vaults(w: World, agent: Pubkey) -> tuple[int, int]:
    st = await w.agents.state(agent)
    return await w.market.balance(st.vault_a), await w.market.balance(st.vault_b)


async def assert_held_unavailable(w: World, agent: Pubkey, error: str) -> StepResult:
    """One step: it succeeds, holds with model_unavailable, moves no token, advances the step."""
    before_step = (await w.agents.state(agent)).step
    before = await vaults(w, agent)
    r = await step(w, agent)
    assert (r.decision.action, r.decision.reason) == ("hold", "model_unavailable")
    assert r.decision.class_id == 255 and not r.traded
    assert r.unavailable is not None and r.unavailable.index == 0
    assert error_name(r.unavailable.error) == error, r.unavailable
    assert await vaults(w, agent) == before
    st = await w.agents.state(agent)
    assert st.step == before_step + 1
    assert st.log[-1].reason == "model_unavailable"
    return r


def three_input_model() -> bytes:
    """A 3-class model over 3 inputs: it no longer fits a 4-feature agent."""
    return linear_model([[0.01, 0, 0], [0, 0.01, 0], [0, 0, 0.01]], [0.0, 0.0, 3.0], n=3)


async def test_closed_model_id_cannot_be_recreated_and_pinned_agent_keeps_stepping(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    """Attack 2 as the author would run it: the victim pins version 1 (a HOLD model); the
    author closes the model and recreates the same (creator, model_id) with a BUY model, so
    that version 1 of the same address would now buy. The recreate is refused (tombstone), the
    pinned agent holds with model_unavailable instead of failing, and the attacker gained
    nothing: no trade happened."""
    w = await make_world(svm, payer)
    author = funded(svm)
    reg = ModelRegistry(svm, author)
    d = await reg.deploy(constant_model(HOLD), model_id=77)
    agent = await w.agent([ModelSlot(d.model, version=1, weights=d.weights)], 1)
    st = await w.agents.state(agent)
    assert st.models[0].weights == d.weights and st.models[0].root == bytes.fromhex(d.chunk_root)
    await warm(w, agent)
    assert (await step(w, agent)).decision.reason == "hold"

    await reg.close_model(d.model)
    tomb = svm.svm.get_account(d.model)
    assert tomb is not None and tomb.owner == PROGRAM_ID
    name, t = decode_account(bytes(tomb.data))
    assert name == "ModelTombstone" and int(t.model_id) == 77 and t.creator == author.pubkey()
    assert tomb.lamports == await svm.minimum_balance_for_rent_exemption(len(bytes(tomb.data)))

    # The recreate, instruction by instruction as the author would send it.
    again = Upload(svm, author, constant_model(BUY), model_id=77)
    await expect_error(svm, await again.create_ixs(), author, "ModelClosed", [again.weights_kp])
    # The SDK says so in words before sending anything.
    with pytest.raises(RegistryError, match="was closed"):
        await reg.deploy(constant_model(BUY), model_id=77)

    await assert_held_unavailable(w, agent, "ModelClosed")
    assert (await w.agents.state(agent)).trades == 0


async def test_recreating_the_pinned_weights_account_at_its_address_runs_nothing(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    """Attack 2 without closing the model: weights accounts are keypair accounts, so the author
    (who holds the keypair) activates v2, closes the pinned v1, recreates an account at v1's
    address and claims it as a new version with BUY bytes. Same address as the pin, other
    content: the pinned agent holds with model_unavailable and trades nothing."""
    w = await make_world(svm, payer)
    author = funded(svm)
    v1 = Upload(svm, author, constant_model(HOLD), model_id=31)
    await v1.run()
    agent = await w.agent([ModelSlot(v1.model, version=1, weights=v1.weights)], 1)
    await warm(w, agent)
    assert (await step(w, agent)).decision.reason == "hold"
    v2 = Upload(svm, author, constant_model(SELL), model_id=31)
    await v2.run(new_model=False, previous=v1.weights)
    await svm.send([reg_ix.close_version(author.pubkey(), v1.model, v1.weights)], author)
    assert await svm.get_account(v1.weights) is None
    v3 = Upload(svm, author, constant_model(BUY, 4.0), model_id=31, weights_kp=v1.weights_kp)
    await v3.run(new_model=False, previous=v2.weights)
    assert v3.weights == v1.weights
    r = await assert_held_unavailable(w, agent, "PinnedVersionMismatch")
    assert r.decision.amount_in == 0
    assert (await w.agents.state(agent)).trades == 0


async def test_pin_checks_the_content_hash_not_only_the_address(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    """Defence in depth behind the tombstone: even if the pinned weights account held other
    content at the same address under the same version number (as after a recreate), the pin's
    chunk root no longer matches and the agent does not run it."""
    w = await make_world(svm, payer)
    hold_model, hold_w = await w.deploy(constant_model(HOLD))
    agent = await w.agent([ModelSlot(hold_model, version=1, weights=hold_w)], 1)
    await warm(w, agent)
    assert (await step(w, agent)).decision.reason == "hold"
    # Another version of the same model with BUY bytes, its account data moved to the pinned
    # address with the version number patched to 1: address, model and version all match.
    d2 = await w.registry.deploy(constant_model(BUY, margin=4.0), model_id=None, target=hold_model)
    acc2 = svm.svm.get_account(d2.weights)
    acc1 = svm.svm.get_account(hold_w)
    assert acc1 is not None and acc2 is not None
    forged = bytearray(bytes(acc2.data))
    # version (u32) sits after model, authority, sha256, root and five u64s.
    at = 8 + 32 * 4 + 8 * 5
    forged[at : at + 4] = (1).to_bytes(4, "little")
    set_account_data(svm, hold_w, bytes(forged))
    assert (
        bytes(svm.svm.get_account(hold_w).data)[CHUNK_ROOT_OFFSET : CHUNK_ROOT_OFFSET + 32]
        != (bytes(acc1.data)[CHUNK_ROOT_OFFSET : CHUNK_ROOT_OFFSET + 32])
    )
    await assert_held_unavailable(w, agent, "PinnedVersionMismatch")
    # Put the real bytes back: the same agent runs again, nothing else changed.
    set_account_data(svm, hold_w, bytes(acc1.data))
    assert (await step(w, agent)).decision.reason == "hold"


async def test_model_author_cannot_brick_an_agent_and_set_models_recovers_it(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    """Attack 4: the author of a model an agent follows activates a version with other inputs,
    then closes the model. Each step still counts as a model_unavailable HOLD (no tokens move);
    the agent's authority swaps the model with set_agent_models and the agent trades again."""
    w = await make_world(svm, payer)
    author = funded(svm)
    reg = ModelRegistry(svm, author)
    d1 = await reg.deploy(constant_model(BUY), model_id=5)
    agent = await w.agent([ModelSlot(d1.model)], 1)
    await warm(w, agent)
    assert (await step(w, agent)).decision.reason == "traded"

    d2 = await reg.deploy(three_input_model(), model_id=5)
    assert d2.version == 2
    await assert_held_unavailable(w, agent, "FeatureSpecMismatch")
    await reg.close_model(d1.model, retired=[d1.weights])
    # A crank for a closed model passes the header and whatever weights account: still a HOLD.
    await assert_held_unavailable(w, agent, "ModelClosed")

    own, own_w = await w.deploy(constant_model(BUY, margin=4.0))
    res = await w.agents.set_models(agent, [ModelSlot(own, version=1, weights=own_w)])
    ev = [e for e in parse_events(res.logs) if e.name == "AgentModelsSet"]
    assert len(ev) == 1 and ev[0].data.models[0] == own and int(ev[0].data.n_models) == 1
    st = await w.agents.state(agent)
    assert st.models[0].model == own and st.models[0].weights == own_w
    r = await step(w, agent)
    assert r.decision.reason == "traded" and r.traded


async def test_a_crank_cannot_force_model_unavailable_with_other_accounts(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    """The model accounts are determined by the agent: any other header or weights account
    fails the whole step (nothing recorded, counter unchanged), so a crank
    cannot turn a healthy agent's step into a HOLD."""
    w = await make_world(svm, payer)
    m, w1 = await w.deploy(constant_model(BUY))
    d2 = await w.registry.deploy(constant_model(SELL), target=m)
    other, other_w = await w.deploy(constant_model(BUY, margin=4.0))
    pinned = await w.agent([ModelSlot(m, version=1, weights=w1)], 1)
    follow = await w.agent([ModelSlot(m)], 2)

    async def crank(agent: Pubkey, header: Pubkey, weights: Pubkey, error: str) -> None:
        svm.warp_slots(1)  # a new slot: a second sample in one slot would hold before the models
        base = await w.agents.step_instruction(agent)
        pair = [AccountMeta(header, False, False), AccountMeta(weights, False, False)]
        metas = [*base.accounts[:8], *pair]
        before = await w.agents.state(agent)
        await expect_error(svm, [Instruction(PROGRAM_ID, base.data, metas)], payer, error)
        after = await w.agents.state(agent)
        assert (after.step, after.log) == (before.step, before.log)

    # (Warm-up steps run no model, so the accounts only matter once the history is full.)
    await warm(w, pinned)
    await warm(w, follow)
    # Pinned: the active version's weights, another model's, or another header.
    await crank(pinned, m, d2.weights, "PinnedVersionMismatch")
    await crank(pinned, m, other_w, "PinnedVersionMismatch")
    await crank(pinned, other, w1, "ModelSetMismatch")
    # Following: the retired version, another model's weights, or another header.
    await crank(follow, m, w1, "NotActiveVersion")
    await crank(follow, m, other_w, "NotActiveVersion")
    await crank(follow, other, other_w, "ModelSetMismatch")
    # Missing or extra model accounts.
    svm.warp_slots(1)
    base = await w.agents.step_instruction(follow)
    short = Instruction(PROGRAM_ID, base.data, list(base.accounts[:9]))
    await expect_error(svm, [short], payer, "ModelSetMismatch")
    # The honest crank still works for both.
    assert (await step(w, pinned)).decision.reason == "traded"
    assert (await step(w, follow)).decision.action == "sell"


async def test_set_agent_models_refusals(svm: LiteSvmChain, payer: Keypair) -> None:
    w = await make_world(svm, payer)
    m, mw = await w.deploy(constant_model(BUY))
    agent = await w.agent([ModelSlot(m)], 1)
    narrow, _ = await w.deploy(three_input_model())
    stranger = funded(svm)
    before = await w.agents.state(agent)

    def ix(
        n: int,
        versions: list[int],
        weights: list[int],
        pairs: list[tuple[Pubkey, Pubkey]],
        authority: Pubkey | None = None,
    ) -> Instruction:
        return build_ix(
            "set_agent_models",
            {"n_models": n, "model_versions": versions, "model_weights": weights},
            {"authority": authority or payer.pubkey(), "agent": agent},
            remaining=[AccountMeta(k, False, False) for p in pairs for k in p],
        )

    ok_pair = [(m, mw)]
    await expect_error(
        svm,
        [ix(1, [0] * 4, [1, 0, 0, 0], ok_pair, stranger.pubkey())],
        stranger,
        "NotAgentAuthority",
    )
    narrow_info = await w.registry.fetch_model(narrow)
    assert narrow_info is not None and narrow_info.active_weights is not None
    await expect_error(
        svm,
        [ix(1, [0] * 4, [1, 0, 0, 0], [(narrow, narrow_info.active_weights)])],
        payer,
        "FeatureSpecMismatch",
    )
    await expect_error(svm, [ix(1, [0] * 4, [0] * 4, ok_pair)], payer, "InvalidArgument")
    await expect_error(svm, [ix(0, [0] * 4, [0] * 4, [])], payer, "InvalidArgument")
    await expect_error(svm, [ix(5, [0] * 4, [1] * 4, ok_pair * 5)], payer, "InvalidArgument")
    await expect_error(svm, [ix(1, [0] * 4, [1, 1, 0, 0], ok_pair)], payer, "InvalidArgument")
    await expect_error(svm, [ix(2, [0] * 4, [1, 1, 0, 0], ok_pair)], payer, "ModelSetMismatch")
    await expect_error(
        svm, [ix(1, [2, 0, 0, 0], [1, 0, 0, 0], ok_pair)], payer, "PinnedVersionMismatch"
    )
    # Nothing changed.
    after = await w.agents.state(agent)
    assert after.models == before.models and after.step == before.step


async def test_close_agent_returns_every_token_and_lamport(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    w = await make_world(svm, payer)
    m, _ = await w.deploy(constant_model(BUY))
    agent = await w.agent([ModelSlot(m)], 1)
    await warm(w, agent)
    assert (await step(w, agent)).traded
    st = await w.agents.state(agent)
    # A donation to a vault leaves with the rest.
    await w.market.mint_to(w.mint_b, st.vault_b, 12_345)
    stranger = funded(svm)
    s_a = await w.market.create_token_account(w.mint_a, stranger.pubkey())
    s_b = await w.market.create_token_account(w.mint_b, stranger.pubkey())

    res = await w.agents.close(agent, s_a, s_b, authority=stranger, check=False)
    assert not res.ok and error_name(res.custom_error or 0) == "NotAgentAuthority"
    res = await w.agents.close(agent, w.user_a, w.user_b, vaults=(s_a, s_b), check=False)
    assert not res.ok and error_name(res.custom_error or 0) == "WrongVault"

    va, vb = await vaults(w, agent)
    ua, ub = await w.market.balance(w.user_a), await w.market.balance(w.user_b)
    accounts = [agent, st.vault_a, st.vault_b]
    rent = sum(a.lamports for a in await svm.get_multiple_accounts(accounts) if a is not None)
    lamports_before = await svm.get_balance(payer.pubkey())
    res = await w.agents.close(agent, w.user_a, w.user_b)
    ev = [e for e in parse_events(res.logs) if e.name == "AgentClosed"]
    assert len(ev) == 1
    assert (int(ev[0].data.amount_a), int(ev[0].data.amount_b)) == (va, vb)
    assert int(ev[0].data.lamports) == rent
    assert await w.market.balance(w.user_a) == ua + va
    assert await w.market.balance(w.user_b) == ub + vb
    assert await svm.get_balance(payer.pubkey()) == lamports_before + rent - 5000
    assert await svm.get_multiple_accounts(accounts) == [None, None, None]
    assert st.vault_a == agent_vault(agent, w.mint_a)


def b64(data: bytes) -> str:
    return base64.b64encode(bytes(data)).decode()


def _ctx(svm: LiteSvmChain, payer: Keypair) -> CliContext:
    """A CLI context bound to this test's chain and keypair (the handlers run as from argv)."""
    return CliContext(resolve_url("embedded"), None, True, _chain=svm, _keypair=payer)


async def test_cli_close_model_warns_and_needs_force_then_agent_set_models_and_close(
    svm: LiteSvmChain, payer: Keypair, capsys: pytest.CaptureFixture[str]
) -> None:
    w = await make_world(svm, payer)
    m, mw = await w.deploy(constant_model(BUY))
    agent = await w.agent([ModelSlot(m, version=1, weights=mw)], 3)
    await warm(w, agent)
    ctx = _ctx(svm, payer)

    # Closing the version, or the model, an agent of this authority runs: refused without
    # --force, with the agent named.
    for target in (mw, m):
        code = await registry_cli.close(Namespace(address=str(target), force=False), ctx)
        err = capsys.readouterr().err
        assert code == 1 and str(agent) in err and "--force" in err, err
    assert svm.svm.get_account(m) is not None and svm.svm.get_account(mw) is not None
    assert await registry_cli.close(Namespace(address=str(m), force=True), ctx) == 0
    capsys.readouterr()

    # The crank's view: a HOLD naming the model and the error (in a new slot: one sample each).
    svm.warp_slots(1)
    assert (
        await agent_cli.step(
            Namespace(agent=str(agent), count=1, expected_step=None, price_account=None), ctx
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    (s,) = out["steps"]
    assert s["reason"] == "model_unavailable"
    assert s["unavailable"] == {"index": 0, "model": str(m), "error": "ModelClosed"}

    own, own_w = await w.deploy(constant_model(BUY, margin=4.0))
    spec = f"{own}:2:1:{own_w}"
    assert await agent_cli.set_models(Namespace(agent=str(agent), model=[spec]), ctx) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["models"] == [{"model": str(own), "version": 1, "weight": 2}]
    assert (await step(w, agent)).traded

    va, vb = await vaults(w, agent)
    ua = await w.market.balance(w.user_a)
    ns = Namespace(agent=str(agent), user_a=str(w.user_a), user_b=str(w.user_b))
    assert await agent_cli.close(ns, ctx) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["amount_a"], out["amount_b"]) == (va, vb) and out["lamports_returned"] > 0
    assert await w.market.balance(w.user_a) == ua + va
    assert await svm.get_account(agent) is None


async def test_typescript_anchor_client_decodes_pins_tombstones_and_the_new_events(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    """The official TS client reads what this change added to the IDL: the Agent's pins (an
    array of 32-byte arrays), the ModelTombstone account, the ModelUnavailable event, and
    encodes set_agent_models as the program reads it."""
    from tests.program.test_anchor_ts_client import run_codec

    w = await make_world(svm, payer)
    m, mw = await w.deploy(constant_model(HOLD))
    agent = await w.agent([ModelSlot(m, version=1, weights=mw)], 1)
    await warm(w, agent)
    await w.registry.close_model(m)
    svm.warp_slots(1)
    res = await svm.send([await w.agents.step_instruction(agent)], payer)
    lines = [ln.removeprefix("Program data: ") for ln in res.logs if ln.startswith("Program data")]
    assert len(lines) == 2
    st = await w.agents.state(agent)
    agent_acc, tomb = await svm.get_multiple_accounts([agent, m])
    assert agent_acc is not None and tomb is not None

    args = {"n_models": 1, "model_versions": [1, 0, 0, 0], "model_weights": [3, 0, 0, 0]}
    out = run_codec(
        {
            "instruction": {"name": "set_agent_models", "args": args},
            "account": {"name": "Agent", "data": b64(agent_acc.data)},
            "event": lines[0],  # ModelUnavailable, then Decision
        }
    )
    ours = build_ix("set_agent_models", args, {"authority": payer.pubkey(), "agent": agent})
    assert base64.b64decode(str(out["instruction"])) == bytes(ours.data)
    a = out["account"]
    assert isinstance(a, dict)
    assert a["pinned_weights"][0] == str(mw) and a["step"] == str(st.step)
    assert bytes(a["pinned_roots"][0]) == st.models[0].root
    ev = out["event"]
    assert isinstance(ev, dict) and ev["name"] == "ModelUnavailable"
    assert ev["data"]["model"] == str(m) and ev["data"]["error"] == 6060

    out = run_codec({"account": {"name": "ModelTombstone", "data": b64(tomb.data)}})
    t = out["account"]
    assert isinstance(t, dict) and t["creator"] == str(payer.pubkey()) and t["version_count"] == 1
