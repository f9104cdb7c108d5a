"""The agent on a real validator (Surfpool over JSON-RPC): the SDK flow with a BUY and a SELL,
a refused duplicate crank and a refused unauthorised withdraw; and the CLI end to end in
subprocesses (the embedded chain lives in one process, so the CLI is tested against Surfpool)."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from pathlib import Path

import pytest
from solders.keypair import Keypair

from client.agent import ModelSlot, StepResult
from client.artifacts import REPO_ROOT
from client.chain.base import next_slot
from client.chain.connect import ensure_program
from client.chain.rpc import RpcChain
from client.registry import ModelRegistry
from tests.validators import ValidatorEndpoint, over_rpc_backends

from .world import SPEC, constant_model, make_world, momentum_model, risk

pytestmark = pytest.mark.surfpool


@over_rpc_backends  # solana-test-validator too, when installed (else skipped with the reason)
async def test_agent_flow_on_surfpool(rpc_chain: RpcChain, rpc_payer: Keypair) -> None:
    await ensure_program(rpc_chain, rpc_payer)
    w = await make_world(rpc_chain, rpc_payer)
    model, _ = await w.deploy(momentum_model())
    agent = await w.agent([ModelSlot(model)], 1)
    seen: list[str] = []
    # Each move is sent in the crank's own transaction, right after it: the next sample's TWAP
    # window then holds only the moved price (no twap_deviation), however many slots the
    # cluster takes between transactions, and its one-step return is the whole move.
    for up in [None, None, None, None, None, True, None, False, None]:
        await next_slot(rpc_chain)
        if up is None:
            r = await w.agents.step(agent)
            assert isinstance(r, StepResult)
            seen.append(f"{r.decision.action}/{r.decision.reason}")
        else:
            action, reason = await w.step_then_move(agent, up)
            seen.append(f"{action}/{reason}")
    assert seen[0] == "hold/warmup"
    assert "buy/traded" in seen and "sell/traded" in seen, " ".join(seen)
    st = await w.agents.state(agent)
    assert st.step == len(seen) and st.trades == st.buys + st.sells >= 2
    v = await w.agents.valuation(agent)
    assert v.position_a == st.base_bought - st.base_sold
    assert v.mark_to_market_pnl == st.cash_pnl + v.position_value_b

    # A duplicate crank (the step already taken) is refused with StepMismatch.
    res = await w.agents.step(agent, expected_step=st.step - 1, check=False)
    assert not isinstance(res, StepResult) and res.custom_error == 6037
    # Withdraw by anyone but the authority is refused; the authority's goes through.
    thief = Keypair()
    await rpc_chain.airdrop(thief.pubkey(), 10**9)
    res2 = await w.agents.withdraw(
        agent, w.user_a, w.user_b, amount_a=1, authority=thief, check=False
    )
    assert res2.custom_error == 6036
    before = await w.market.balance(w.user_b)
    await w.agents.withdraw(agent, w.user_a, w.user_b, amount_b=7)
    assert await w.market.balance(w.user_b) == before + 7


async def _cli(url: str, keypair: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "client",
        *args,
        "--url",
        url,
        "--keypair",
        str(keypair),
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_cli_market_and_agent_on_surfpool(
    surfpool: ValidatorEndpoint, rpc_chain: RpcChain, rpc_payer: Keypair, tmp_path: Path
) -> None:
    await ensure_program(rpc_chain, rpc_payer)
    key = tmp_path / "id.json"
    key.write_text(json.dumps(list(bytes(rpc_payer))))
    url = surfpool.rpc_url

    async def ok(*args: str) -> dict[str, object]:
        code, out, err = await _cli(url, key, *args, "--json")
        assert code == 0, (args, err)
        doc: dict[str, object] = json.loads(out)
        return doc

    async def refused(*args: str) -> str:
        code, out, err = await _cli(url, key, *args)
        assert code != 0 and err.startswith("error: "), (args, code, out, err)
        return err

    m = await ok("market", "create", "--new-mints", "--supply", "10000000000")
    pool, ua, ub, ulp = (str(m[k]) for k in ("pool", "user_a", "user_b", "user_lp"))
    await ok("market", "add-liquidity", pool, "--user-a", ua, "--user-b", ub, "--user-lp", ulp,
             "--amount-a", "1000000000", "--max-b", "1000000000")  # fmt: skip
    price = await ok("market", "price", pool)
    assert price["reserve_a"] == price["reserve_b"] == 1_000_000_000
    model = (await ModelRegistry(rpc_chain, rpc_payer).deploy(constant_model(2))).model

    a = await ok("agent", "create", "--pool", pool, "--model", str(model), "--agent-id", "7")
    agent = str(a["agent"])
    await ok("agent", "deposit", agent, "--user-a", ua, "--user-b", ub,
             "--amount-a", "10000000", "--amount-b", "10000000")  # fmt: skip
    steps = await ok("agent", "step", agent, "--count", "6")
    reasons = [s["reason"] for s in steps["steps"]]  # type: ignore[attr-defined]
    # Lookback 4: the first step opens the TWAP window, three more fill the history.
    assert reasons[:4] == ["warmup"] * 4 and reasons[4:] == ["traded"] * 2, reasons
    shown = await ok("agent", "show", agent)
    assert shown["step"] == 6 and shown["trades"] == 2 and shown["buys"] == 2
    val = shown["valuation"]
    assert isinstance(val, dict) and val["position_a"] > 0
    assert val["mark_to_market_pnl"] == val["cash_pnl"] + val["position_value_b"]
    code, out, _ = await _cli(url, key, "agent", "show", agent)
    assert code == 0 and "marked to market" in out

    await ok("agent", "export-log", agent, "--out", str(tmp_path / "log.csv"))
    rows = list(csv.DictReader((tmp_path / "log.csv").open()))
    assert [r["action"] for r in rows] == ["hold"] * 4 + ["buy"] * 2
    assert rows[-1]["f0"] != "" and int(rows[-1]["price"]) > 0
    await ok("agent", "export-log", agent, "--out", str(tmp_path / "log.json"))
    doc = json.loads((tmp_path / "log.json").read_text())
    assert len(doc["rows"]) == 6 and doc["rows"][5]["features"] == [
        int(rows[5][f"f{i}"]) for i in range(4)
    ]
    await ok("agent", "pause", agent)
    paused = await ok("agent", "step", agent)
    assert paused["steps"][0]["reason"] == "paused"  # type: ignore[index]
    await ok("agent", "resume", agent)

    # Bad input: each refused with a message and a non-zero exit code.
    assert "not a base58 address" in await refused("agent", "show", "nope")
    assert "not an Agent" in await refused("agent", "show", pool)
    assert "not an agent of this program" in await refused("agent", "show", ua)
    assert "not a pool" in await refused("agent", "create", "--pool", ua, "--model", str(model))
    assert "does not exist" in await refused("market", "price", str(Keypair().pubkey()))
    assert "StepMismatch" in await refused("agent", "step", agent, "--expected-step", "0")
    assert ".csv or .json" in await refused("agent", "export-log", agent, "--out", "x.txt")
    code, _, err = await _cli("http://127.0.0.1:9", key, "agent", "show", agent)
    assert code != 0 and "error:" in err


async def test_window_agent_on_surfpool(rpc_chain: RpcChain, rpc_payer: Keypair) -> None:
    """An agent with a 2-step feature history and a model over the window, on the v3 build:
    warm-up, `warming_up` until the window is full, then the window model trades; the SDK's
    close closes the history and the agent together."""
    from client.agent import history_address

    from .test_history_attacks import BUY, window_constant

    await ensure_program(rpc_chain, rpc_payer)
    w = await make_world(rpc_chain, rpc_payer)
    model, _ = await w.deploy(window_constant(BUY, 2))
    agent = await w.agents.create(
        agent_id=7, pool=w.pool, models=[ModelSlot(model)], spec=SPEC, risk=risk(), window=2
    )
    await w.agents.deposit(agent, w.user_a, w.user_b, amount_a=10_000_000, amount_b=10_000_000)
    seen: list[str] = []
    for _ in range(SPEC.lookback + 2):
        await next_slot(rpc_chain)
        r = await w.agents.step(agent)
        assert isinstance(r, StepResult)
        seen.append(f"{r.decision.action}/{r.decision.reason}")
    assert seen[: SPEC.lookback] == ["hold/warmup"] * SPEC.lookback
    assert seen[SPEC.lookback :] == ["hold/warming_up", "buy/traded"], seen
    h = await w.agents.history(agent)
    assert (h.window, h.count, h.pushed, h.n_features) == (2, 2, 2, len(SPEC))
    await w.agents.close(agent, w.user_a, w.user_b)
    assert await rpc_chain.get_account(history_address(agent)) is None
    assert await rpc_chain.get_account(agent) is None
