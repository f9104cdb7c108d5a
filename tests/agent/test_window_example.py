"""examples/train_window_agent.py end to end on LiteSVM: the model it trains over a window of
the agent's own features deploys, runs in an agent with a feature history of that window, and
every decision equals the replay (the reference executor on `window_rows`' windows)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from client.agent import AgentReplay, FeatureSpec, ModelSlot
from client.artifacts import REPO_ROOT
from client.chain.litesvm import LiteSvmChain
from client.cli import build_parser
from client.cli.context import CliContext
from client.config import resolve_url
from client.inference.model import load_model

from .test_history import moves, run_against_replay
from .world import make_world, risk


def load_example():  # type: ignore[no-untyped-def]
    path = REPO_ROOT / "examples" / "train_window_agent.py"
    spec = importlib.util.spec_from_file_location("train_window_agent", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["train_window_agent"] = mod
    spec.loader.exec_module(mod)
    return mod


async def test_the_window_example_trains_a_model_an_agent_runs_bit_exact(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    ex = load_example()
    t = 6
    model, meta = ex.train_window(steps=1500, window=t, seed=3)
    spec = FeatureSpec.parse(meta["spec"])
    assert meta["inputs"] == t * len(spec) and meta["quantized_agreement"] > 0.95
    w = await make_world(svm, payer)
    m, _ = await w.deploy(model)
    agent = await w.agents.create(
        agent_id=1, pool=w.pool, models=[ModelSlot(m)], spec=spec, risk=risk(), window=t
    )
    await w.agents.deposit(agent, w.user_a, w.user_b, amount_a=10_000_000, amount_b=10_000_000)
    replay = AgentReplay(
        spec,
        risk(),
        [((await load_model(svm, m)).qmodel, 1)],
        30,
        10_000_000,
        10_000_000,
        window=t,
    )
    n = spec.lookback + t + 8
    seen, _ = await run_against_replay(w, svm, agent, replay, moves(n, 5))
    assert seen.count("hold/warming_up") == t - 1
    assert len([s for s in seen if "warm" not in s]) == 9


async def test_cli_create_takes_the_window_from_the_sidecar(
    svm: LiteSvmChain, payer: Keypair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`agent create --spec-from MODEL_FILE` reads the spec and the window the example wrote."""
    ex = load_example()
    model, meta = ex.train_window(steps=1200, window=4, seed=1)
    path = tmp_path / "window_agent.mla"
    path.write_bytes(model)
    Path(str(path) + ".json").write_text(json.dumps(meta))
    w = await make_world(svm, payer)
    m, _ = await w.deploy(model)
    ctx = CliContext(resolve_url("embedded"), None, True, _chain=svm, _keypair=payer)
    argv = ["agent", "create", "--pool", str(w.pool), "--model", str(m), "--spec-from", str(path)]
    args = build_parser().parse_args(argv)
    assert await args.handler(args, ctx) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["window"], out["features"]) == (4, meta["spec"])
    h = await w.agents.history(Pubkey.from_string(out["agent"]))
    assert (h.window, h.n_features) == (4, 5)
