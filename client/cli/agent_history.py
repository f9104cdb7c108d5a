"""`agent history init|show|close`: an agent's feature history (the window its sequence models
read; docs/agent.md "Feature history").

python -m client agent history init AGENT --window T     # authority; pays the rent
python -m client agent history show AGENT [--vectors]    # shape, counters (and the vectors)
python -m client agent history close AGENT               # authority; rent back
"""

from __future__ import annotations

import argparse
from typing import Any

from ..agent import AgentClient, AgentHistoryState, history_address
from ..chain.base import ChainError
from .context import CliContext, add_common_options
from .market import parse_pubkey


def register(asub: argparse._SubParsersAction) -> None:
    hist = asub.add_parser("history", help="the agent's feature history (window models)")
    hsub = hist.add_subparsers(dest="history_command", metavar="ACTION", required=True)

    p = hsub.add_parser("init", help="create the history (authority only; pays the rent)")
    p.add_argument("agent", metavar="AGENT")
    p.add_argument("--window", type=int, required=True, help="steps it holds, 2..128")
    add_common_options(p)
    p.set_defaults(handler=init)

    p = hsub.add_parser("show", help="the history's shape, counters and (--vectors) contents")
    p.add_argument("agent", metavar="AGENT")
    p.add_argument("--vectors", action="store_true", help="list the vectors, oldest first")
    add_common_options(p)
    p.set_defaults(handler=show)

    p = hsub.add_parser("close", help="close the history (authority only); rent back")
    p.add_argument("agent", metavar="AGENT")
    add_common_options(p)
    p.set_defaults(handler=close)


def history_json(h: AgentHistoryState, vectors: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "history": str(h.address),
        "agent": str(h.agent),
        "window": h.window,
        "n_features": h.n_features,
        "count": h.count,
        "full": h.full,
        "pushed": h.pushed,
        "last_step": h.last_step,
        "last_slot": h.last_slot,
        "created_step": h.created_step,
    }
    if vectors:
        out["vectors"] = h.vectors
    return out


async def init(args: argparse.Namespace, ctx: CliContext) -> int:
    agent = parse_pubkey(args.agent, "AGENT")
    client = AgentClient(await ctx.chain(), ctx.keypair)
    st = await client.state(agent)  # a clear error when AGENT is not an agent
    if st.has_history:
        raise ChainError(f"agent {agent} already has a feature history")
    if st.window_models and args.window != st.history_window:
        raise ValueError(
            f"the agent's window models read {st.history_window} steps: --window "
            f"{st.history_window}"
        )
    res = await client.init_history(agent, args.window)
    out = {
        "agent": str(agent),
        "history": str(history_address(agent)),
        "window": args.window,
        "n_features": len(st.spec),
        "signature": str(res.signature),
    }
    ctx.emit(
        out,
        f"history {history_address(agent)}: {args.window} x {len(st.spec)} features "
        f"(window models take {args.window * len(st.spec)} inputs)",
    )
    return 0


async def show(args: argparse.Namespace, ctx: CliContext) -> int:
    agent = parse_pubkey(args.agent, "AGENT")
    client = AgentClient(await ctx.chain(), ctx.keypair)
    await client.state(agent)
    h = await client.history(agent)
    human = [
        f"history   {h.address}",
        f"shape     {h.window} x {h.n_features} (window models take {h.window * h.n_features})",
        f"held      {h.count} of {h.window}" + (" (full)" if h.full else " (warming up)"),
        f"pushed    {h.pushed} since step {h.created_step}; newest: step {h.last_step}, "
        f"slot {h.last_slot}",
    ]
    if args.vectors:
        human += [f"  t={t:<4} {v}" for t, v in enumerate(h.vectors)]
    ctx.emit(history_json(h, args.vectors), "\n".join(human))
    return 0


async def close(args: argparse.Namespace, ctx: CliContext) -> int:
    agent = parse_pubkey(args.agent, "AGENT")
    client = AgentClient(await ctx.chain(), ctx.keypair)
    await client.history(agent)  # a clear error when there is none
    chain = await ctx.chain()
    acc = await chain.get_account(history_address(agent))
    lamports = acc.lamports if acc is not None else 0
    res = await client.close_history(agent)
    out = {"agent": str(agent), "lamports_returned": lamports, "signature": str(res.signature)}
    ctx.emit(out, f"closed the history of {agent}; {lamports / 1e9:.6f} SOL rent returned")
    return 0
