"""The CLI's feature-history commands, run as from argv on LiteSVM: `agent create --window`,
`agent history show|close|init`, `agent show`, and `agent close` closing both."""

from __future__ import annotations

import json

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from client.agent import history_address
from client.chain.litesvm import LiteSvmChain
from client.cli import build_parser
from client.cli.context import CliContext
from client.config import resolve_url

from .test_history_attacks import BUY, T, window_constant
from .world import make_world, step, warm


async def run(ctx: CliContext, argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    args = build_parser().parse_args(argv)
    assert await args.handler(args, ctx) == 0
    return dict(json.loads(capsys.readouterr().out))


async def test_cli_window_agent_history_show_close_and_init(
    svm: LiteSvmChain, payer: Keypair, capsys: pytest.CaptureFixture[str]
) -> None:
    w = await make_world(svm, payer)
    m, _ = await w.deploy(window_constant(BUY, T))
    ctx = CliContext(resolve_url("embedded"), None, True, _chain=svm, _keypair=payer)
    spec = "return:1,sma_ratio:4,volatility:3,position"
    out = await run(
        ctx,
        [
            "agent",
            "create",
            "--pool",
            str(w.pool),
            "--model",
            str(m),
            "--features",
            spec,
            "--window",
            str(T),
            "--agent-id",
            "4",
        ],
        capsys,
    )
    agent = out["agent"]
    assert out["window"] == T
    shown = await run(ctx, ["agent", "show", agent], capsys)
    assert (shown["has_history"], shown["history_window"], shown["window_models"]) == (
        True,
        T,
        1,
    )
    key = Pubkey.from_string(agent)
    await warm(w, key)
    assert (await step(w, key)).decision.reason == "warming_up"
    h = await run(ctx, ["agent", "history", "show", agent, "--vectors"], capsys)
    assert (h["window"], h["n_features"], h["count"], h["full"]) == (T, 4, 1, False)
    assert h["history"] == str(history_address(key)) and len(h["vectors"]) == 1
    closed = await run(ctx, ["agent", "history", "close", agent], capsys)
    assert closed["lamports_returned"] > 0
    assert await svm.get_account(history_address(key)) is None
    # A window other than the window models' is refused before anything is sent.
    args = build_parser().parse_args(["agent", "history", "init", agent, "--window", "5"])
    with pytest.raises(ValueError, match="--window 3"):
        await args.handler(args, ctx)
    again = await run(ctx, ["agent", "history", "init", agent, "--window", str(T)], capsys)
    assert again["n_features"] == 4
    # `agent close` closes the history too (the program refuses to orphan it).
    out = await run(
        ctx,
        ["agent", "close", agent, "--user-a", str(w.user_a), "--user-b", str(w.user_b)],
        capsys,
    )
    assert out["lamports_returned"] > 0
    assert await svm.get_account(history_address(key)) is None
    assert await svm.get_account(key) is None
