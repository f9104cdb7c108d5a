"""The CLI's market and agent flows built by @anchor-lang/core's `program.methods` with the
accounts resolved from the IDL (scripts/anchor-ts/flows.cjs, on Surfpool): create_pool,
add_liquidity, swap, remove_liquidity, create_price_feed, publish_price, create_agent,
configure_agent, deposit, agent_step (x3), pause/resume_agent, withdraw, init_agent_history,
agent_step with the history, close_agent_history. (The registry flow is
the quickstart's, tests/program/test_anchor_ts_quickstart.py.)

Asserted: every account given by hand is a signer or one the IDL cannot derive (no fixed
address, no relations, no PDA seeds other than its own fields); every resolved account is the
address the Python SDK derives; the state the transactions leave is what they should; and a
failing swap reaches TypeScript as an AnchorError named SlippageExceeded."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from client.agent import AgentClient, FeatureSpec, history_address
from client.agent.client import agent_address, agent_vault
from client.artifacts import REPO_ROOT
from client.bench.agent import SPEC, bench_risk, buy_mlp
from client.chain.connect import ensure_program
from client.chain.rpc import RpcChain
from client.market.client import MarketClient, feed_address, pool_address
from client.program import PROGRAM_ID, idl_json
from client.registry import ModelRegistry
from tests.validators import ValidatorEndpoint

SCRIPT = REPO_ROOT / "scripts" / "anchor-ts" / "flows.cjs"


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def idl_accounts(ix_name: str) -> dict[str, dict[str, Any]]:
    ix = next(i for i in idl_json()["instructions"] if i["name"] == ix_name)
    return {camel(a["name"]): a for a in ix["accounts"]}


def derivable(acc: dict[str, Any]) -> bool:
    """What Anchor's resolver can fill in: a fixed address, a relation, or PDA seeds that do
    not read the account itself."""
    if "address" in acc or acc.get("relations"):
        return True
    seeds = acc.get("pda", {}).get("seeds", [])
    own = acc["name"]
    return bool(seeds) and not any(
        s["kind"] == "account" and s["path"].split(".")[0] == own for s in seeds
    )


def run_flows(request: dict[str, Any]) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None or not (REPO_ROOT / "node_modules" / "@anchor-lang" / "core").is_dir():
        pytest.fail("node or @anchor-lang/core missing: run `bash scripts/setup.sh`")
    proc = subprocess.run(
        [node, str(SCRIPT)], input=json.dumps(request), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


async def test_main_flows_resolve_their_accounts_from_the_idl(
    rpc_chain: RpcChain, rpc_payer: Keypair, rpc_endpoint: ValidatorEndpoint
) -> None:
    await ensure_program(rpc_chain, rpc_payer)
    me = rpc_payer.pubkey()
    market = MarketClient(rpc_chain, rpc_payer)
    mint_a = await market.create_mint(6)
    mint_b = await market.create_mint(6)
    user_a = await market.create_token_account(mint_a, me)
    user_b = await market.create_token_account(mint_b, me)
    await market.mint_to(mint_a, user_a, 100_000_000)
    await market.mint_to(mint_b, user_b, 100_000_000)
    deployed = await ModelRegistry(rpc_chain, rpc_payer).deploy(buy_mlp(7))
    spec = FeatureSpec.parse(SPEC)
    agent_id = 4242
    setup = {
        "source_kind": 0,
        "n_features": len(spec),
        "features": list(spec.encode()),
        "n_models": 1,
        "model_versions": [0, 0, 0, 0],
        "model_weights": [1, 0, 0, 0],
        "pyth_feed_id": [0] * 32,
        "risk": bench_risk().to_idl(),
    }
    out = run_flows(
        {
            "url": rpc_chain.url,
            "wsUrl": rpc_endpoint.ws_url,
            "keypair": list(bytes(rpc_payer)),
            "mintA": str(mint_a),
            "mintB": str(mint_b),
            "userA": str(user_a),
            "userB": str(user_b),
            "model": str(deployed.model),
            "weights": str(deployed.weights),
            "agentId": agent_id,
            "setup": setup,
            "risk": bench_risk().to_idl(),
        }
    )
    steps = out["steps"]
    assert [s["name"] for s in steps] == [
        "create_pool",
        "add_liquidity",
        "swap",
        "remove_liquidity",
        "create_price_feed",
        "publish_price",
        "create_agent",
        "configure_agent",
        "deposit",
        "agent_step",
        "agent_step",
        "agent_step",
        "pause_agent",
        "resume_agent",
        "withdraw",
        "init_agent_history",
        "agent_step",
        "close_agent_history",
    ]

    # Only signers and accounts the IDL cannot derive were given by hand; everything else was
    # resolved (and every account of the instruction has an address).
    for s in steps:
        accounts = idl_accounts(s["name"])
        for name in s["passed"]:
            acc = accounts[name]
            assert acc.get("signer") or not derivable(acc), (s["name"], name)
        for name, acc in accounts.items():
            if name not in s["passed"] and not acc.get("optional"):
                assert derivable(acc), (s["name"], name)
                assert name in s["resolved"], (s["name"], name, s["resolved"])

    # Resolved addresses are the ones the Python SDK derives.
    pool = pool_address(mint_a, mint_b)
    pool_state = await market.pool(pool)
    agent = agent_address(me, agent_id)
    by_name = {s["name"]: s["resolved"] for s in steps}
    assert by_name["create_pool"]["pool"] == str(pool)
    for name in ("add_liquidity", "remove_liquidity", "swap"):
        r = by_name[name]
        assert (r["vaultA"], r["vaultB"]) == (str(pool_state.vault_a), str(pool_state.vault_b))
    assert by_name["add_liquidity"]["lpMint"] == str(pool_state.lp_mint)
    assert by_name["create_price_feed"]["feed"] == str(feed_address(me, bytes(range(1, 33))))
    created = by_name["create_agent"]
    assert (created["agent"], created["pool"]) == (str(agent), str(pool))
    assert created["vaultA"] == str(agent_vault(agent, mint_a))
    crank = by_name["agent_step"]
    assert crank["pool"] == str(pool) and crank["priceSource"] == str(pool)
    assert (crank["poolVaultA"], crank["poolVaultB"]) == (
        str(pool_state.vault_a),
        str(pool_state.vault_b),
    )
    assert (crank["vaultA"], crank["vaultB"]) == (
        str(agent_vault(agent, mint_a)),
        str(agent_vault(agent, mint_b)),
    )

    # The transactions did what they say.
    assert pool_state.reserve_a > 0 and pool_state.lp_supply > 0
    assert by_name["init_agent_history"]["history"] == str(history_address(agent))
    assert by_name["close_agent_history"]["history"] == str(history_address(agent))
    state = await AgentClient(rpc_chain, rpc_payer).state(agent)
    assert state.step == 4 and not state.paused and state.pool == pool
    assert not state.has_history and await rpc_chain.get_account(history_address(agent)) is None
    assert await market.balance(Pubkey.from_string(out["userLp"])) > 0

    # A swap whose min_out cannot be met: Anchor's typed error, named, from our program.
    assert out["failure"] == {
        "kind": "AnchorError",
        "code": "SlippageExceeded",
        "number": 6033,
        "program": str(PROGRAM_ID),
    }
