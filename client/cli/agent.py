"""Agent commands: create, fund, crank and inspect an on-chain trading agent.

python -m client agent create --pool POOL --model MODEL[:WEIGHT[:VERSION:WEIGHTS]] ... \
    [--features return:1,sma_ratio:4,volatility:3,position] [--agent-id N] \
    [--source pool|feed|pyth --price-source ADDR --pyth-feed-id HEX] [risk options]
python -m client agent configure AGENT [risk options: only those given change]
python -m client agent deposit|withdraw AGENT --user-a T --user-b T [--amount-a N] [--amount-b N]
python -m client agent step AGENT [--count N] [--expected-step N] [--price-account ADDR]
python -m client agent set-models AGENT --model MODEL[:WEIGHT[:VERSION:WEIGHTS]] ...
python -m client agent pause|resume|show AGENT
python -m client agent close AGENT --user-a T --user-b T
python -m client agent export-log AGENT --out FILE.csv|FILE.json
python -m client agent history init|show|close AGENT [--window T]   (client/cli/agent_history.py)

`create --window T` gives the agent a feature history of T steps in the same transaction: a
model of T x (number of features) inputs then reads the last T feature vectors (time-major,
oldest first) and holds (`warming_up`) until T exist.

Every agent has a deviation bound, `--max-oracle-dev-bps N` (1..10,000, default 100 = 1 %):
`agent_step` refuses to trade when the pool's spot price is further than N bps from the agent's
reference price: the oracle for a feed or Pyth agent (`oracle_deviation`), the pool's TWAP since
the previous sample for a pool agent (`twap_deviation`). Sizing and the minimum output come
from the reference too, never from the spot the crank's transaction may have moved.
`show` marks the position to market at the pool's mid price. `export-log` writes the on-chain
decision log (the last 32 steps: features, action, class, confidence, price, reason, amounts),
as CSV (features as f0..fN columns, Q16.16 integers) or JSON, for retraining.

A model that cannot run (closed, its pinned version gone, a new active version with other
inputs) makes a step hold with reason `model_unavailable`; `set-models` replaces the models
(same checks as `create`), and `close` pays both vault balances out to --user-a / --user-b and
returns the rent of the agent and its vaults.
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from solders.pubkey import Pubkey

from ..agent import (
    SOURCE_FEED,
    SOURCE_POOL,
    SOURCE_PYTH,
    AgentClient,
    AgentState,
    FeatureSpec,
    ModelSlot,
    Risk,
    StepResult,
)
from ..agent.decide import DEFAULT_MAX_DEV_BPS
from ..chain.base import ChainError, next_slot
from ..market import MarketClient
from ..program import error_name, parse_events
from .context import CliContext, add_common_options, to_jsonable
from .market import _amount, parse_pubkey

DEFAULT_SPEC = "return:1,sma_ratio:4,volatility:3,position"
SOURCES = {"pool": SOURCE_POOL, "feed": SOURCE_FEED, "pyth": SOURCE_PYTH}
# (option, Risk field, default, help)
RISK_OPTIONS: list[tuple[str, str, int, str]] = [
    ("--trade-size", "trade_size", 1_000_000, "amount in per trade (B to buy, A to sell)"),
    ("--max-position", "max_position", 50_000_000, "largest A balance of the agent's vault"),
    ("--max-trade", "max_trade", 5_000_000, "largest single trade"),
    ("--max-turnover", "max_turnover_per_day", 1_000_000_000, "traded amount per day"),
    ("--cooldown-slots", "min_slots_between_trades", 0, "slots between two trades"),
    ("--max-price-age", "max_price_age", 50, "slots (feed) or seconds (Pyth)"),
    ("--threshold-q16", "threshold_q16", 30_000, "minimum vote confidence, Q16.16"),
    ("--max-conf-bps", "max_conf_bps", 100, "largest oracle confidence interval"),
    ("--slippage-bps", "slippage_bps", 200, "largest execution price deviation"),
]
DEV_HELP = (
    "largest gap between the pool's spot price and the reference price (oracle for feed/Pyth "
    f"agents, the pool's TWAP for pool agents), in bps, 1..10000 (default {DEFAULT_MAX_DEV_BPS})"
)


def check_oracle_dev(source: int, dev: int) -> None:
    """The chain's rule (`RiskParams::valid`), with a readable error before any transaction:
    every agent, whatever its source, keeps a deviation bound."""
    del source
    if not 1 <= dev <= 10_000:
        raise ValueError(
            "--max-oracle-dev-bps must be between 1 and 10000 (the deviation bound cannot be off)"
        )


def parse_model(text: str) -> ModelSlot:
    """MODEL[:WEIGHT[:VERSION:WEIGHTS_ACCOUNT]]."""
    parts = text.split(":")
    if len(parts) not in (1, 2, 4):
        raise ValueError(f"--model {text!r}: expected MODEL[:WEIGHT[:VERSION:WEIGHTS]]")
    model = parse_pubkey(parts[0], "--model")
    try:
        weight = int(parts[1]) if len(parts) > 1 else 1
        version = int(parts[2]) if len(parts) == 4 else 0
    except ValueError:
        raise ValueError(f"--model {text!r}: weight and version are integers") from None
    if not 1 <= weight <= 255:
        raise ValueError(f"--model {text!r}: weight must be 1..255")
    weights = parse_pubkey(parts[3], "--model weights") if len(parts) == 4 else None
    return ModelSlot(model, version, weight, weights)


def _agent(args: argparse.Namespace) -> Pubkey:
    return parse_pubkey(args.agent, "AGENT")


def register(sub: argparse._SubParsersAction) -> None:
    agent = sub.add_parser("agent", help="on-chain trading agents")
    asub = agent.add_subparsers(dest="agent_command", metavar="ACTION", required=True)

    p = asub.add_parser("create", help="create an agent on a pool with 1..4 models")
    p.add_argument("--pool", required=True)
    p.add_argument(
        "--model",
        action="append",
        required=True,
        help="MODEL[:WEIGHT[:VERSION:WEIGHTS]] (repeat for an ensemble of up to 4)",
    )
    p.add_argument(
        "--features",
        default=None,
        help="feature spec (default: the spec the first model was trained with, from the "
        "sidecar `train` wrote: --spec-from FILE, else a *.json sidecar in the current "
        f"directory whose model file matches the on-chain model; else {DEFAULT_SPEC})",
    )
    p.add_argument(
        "--spec-from",
        type=Path,
        default=None,
        metavar="MODEL_FILE",
        help="model file whose sidecar MODEL_FILE.json (written by `train`) holds the spec",
    )
    p.add_argument("--agent-id", type=_amount, default=0)
    p.add_argument("--source", choices=sorted(SOURCES), default="pool", help="price source")
    p.add_argument("--price-source", help="PriceFeed or Pyth PriceUpdateV2 account")
    p.add_argument("--pyth-feed-id", default=None, help="Pyth feed id, 64 hex digits")
    for opt, field, default, help_ in RISK_OPTIONS:
        p.add_argument(opt, dest=field, type=_amount, default=default, help=help_)
    p.add_argument("--max-oracle-dev-bps", type=_amount, default=None, help=DEV_HELP)
    p.add_argument(
        "--window",
        type=int,
        default=None,
        metavar="T",
        help="also create a feature history of T steps (2..128): models of T x features "
        "inputs read it (default: the sidecar's `window` with --spec-from)",
    )
    add_common_options(p)
    p.set_defaults(handler=create)

    p = asub.add_parser("configure", help="change risk limits (authority only)")
    p.add_argument("agent", metavar="AGENT")
    for opt, field, _default, help_ in RISK_OPTIONS:
        p.add_argument(opt, dest=field, type=_amount, default=None, help=help_)
    p.add_argument("--max-oracle-dev-bps", type=_amount, default=None, help=DEV_HELP)
    add_common_options(p)
    p.set_defaults(handler=configure)

    for name, handler in (("deposit", deposit), ("withdraw", withdraw)):
        p = asub.add_parser(name, help=f"{name} tokens (authority only)")
        p.add_argument("agent", metavar="AGENT")
        p.add_argument("--user-a", required=True, help="your token account of mint A")
        p.add_argument("--user-b", required=True, help="your token account of mint B")
        p.add_argument("--amount-a", type=_amount, default=0)
        p.add_argument("--amount-b", type=_amount, default=0)
        add_common_options(p)
        p.set_defaults(handler=handler)

    p = asub.add_parser("step", help="crank agent_step (anyone may)")
    p.add_argument("agent", metavar="AGENT")
    p.add_argument("--count", type=int, default=1, help="steps to send, one after the other")
    p.add_argument("--expected-step", type=int, default=None, help="default: the current step")
    p.add_argument("--price-account", default=None, help="Pyth agents: the price update")
    add_common_options(p)
    p.set_defaults(handler=step)

    p = asub.add_parser("set-models", help="replace the agent's models (authority only)")
    p.add_argument("agent", metavar="AGENT")
    p.add_argument(
        "--model",
        action="append",
        required=True,
        help="MODEL[:WEIGHT[:VERSION:WEIGHTS]] (repeat for an ensemble of up to 4)",
    )
    add_common_options(p)
    p.set_defaults(handler=set_models)

    p = asub.add_parser(
        "close", help="close the agent: vault balances to your accounts, rent back (authority)"
    )
    p.add_argument("agent", metavar="AGENT")
    p.add_argument("--user-a", required=True, help="your token account of mint A")
    p.add_argument("--user-b", required=True, help="your token account of mint B")
    add_common_options(p)
    p.set_defaults(handler=close)

    for name, handler in (("pause", pause), ("resume", resume), ("show", show)):
        p = asub.add_parser(name, help=f"{name} the agent")
        p.add_argument("agent", metavar="AGENT")
        add_common_options(p)
        p.set_defaults(handler=handler)

    p = asub.add_parser("export-log", help="write the on-chain decision log to CSV or JSON")
    p.add_argument("agent", metavar="AGENT")
    p.add_argument("--out", required=True, help="FILE.csv or FILE.json")
    p.add_argument("--format", choices=["csv", "json"], default=None, help="default: by suffix")
    add_common_options(p)
    p.set_defaults(handler=export_log)

    from . import agent_history

    agent_history.register(asub)


async def create(args: argparse.Namespace, ctx: CliContext) -> int:
    pool = parse_pubkey(args.pool, "--pool")
    models = [parse_model(m) for m in args.model]
    if not 1 <= len(models) <= 4:
        raise ValueError("an agent has 1..4 models")
    source = SOURCES[args.source]
    price_source = None
    if args.price_source is not None:
        price_source = parse_pubkey(args.price_source, "--price-source")
    if source != SOURCE_POOL and price_source is None:
        raise ValueError(f"--source {args.source} needs --price-source")
    feed_id = bytes(32)
    if args.pyth_feed_id is not None:
        try:
            feed_id = bytes.fromhex(args.pyth_feed_id.removeprefix("0x"))
        except ValueError:
            raise ValueError("--pyth-feed-id must be hex") from None
        if len(feed_id) != 32:
            raise ValueError("--pyth-feed-id must be 32 bytes (64 hex digits)")
    dev = args.max_oracle_dev_bps if args.max_oracle_dev_bps is not None else DEFAULT_MAX_DEV_BPS
    check_oracle_dev(source, dev)
    risk = Risk(
        **{field: getattr(args, field) for _, field, _, _ in RISK_OPTIONS},
        max_oracle_dev_bps=dev,
    )
    chain = await ctx.chain()
    await MarketClient(chain, ctx.keypair).pool(pool)  # a clear error when POOL is not a pool
    if args.window is None and args.spec_from is not None:
        # A model trained over a window (examples/train_window_agent.py) says so in its sidecar.
        meta = Path(str(args.spec_from) + ".json")
        if meta.is_file():
            window = json.loads(meta.read_text()).get("window")
            args.window = int(window) if window else None
    spec_text = await _feature_spec(args, ctx, models[0].model, args.window)
    spec = FeatureSpec.parse(spec_text)
    client = AgentClient(chain, ctx.keypair)
    agent = await client.create(
        agent_id=args.agent_id,
        pool=pool,
        models=models,
        spec=spec,
        risk=risk,
        source=source,
        price_source=price_source,
        pyth_feed_id=feed_id,
        window=args.window,
    )
    st = await client.state(agent)
    out = {
        "agent": str(agent),
        "agent_id": args.agent_id,
        "pool": str(pool),
        "vault_a": str(st.vault_a),
        "vault_b": str(st.vault_b),
        "models": len(models),
        "features": spec_text,
        "source": st.source,
        "window": args.window,
    }
    ctx.emit(out, f"agent {agent}\nvaults  {st.vault_a} (A), {st.vault_b} (B)")
    return 0


async def _feature_spec(
    args: argparse.Namespace, ctx: CliContext, model: Pubkey, window: int | None = None
) -> str:
    """--features, else the model's training metadata, else the default; checked against the
    model's input count (the features, or with `window` a window of them) before anything is
    sent (the program would refuse a mismatch)."""
    import hashlib
    import sys

    from ..registry import ModelInfo, ModelRegistry

    info = await ModelRegistry(await ctx.chain(), ctx.keypair).fetch(model)
    if not isinstance(info, ModelInfo):
        raise ValueError(f"--model {model} is a model version, not a model: pass the model")
    text, source = args.features, "--features"
    if text is None and args.spec_from is not None:
        meta = Path(str(args.spec_from) + ".json")
        if not meta.is_file():
            raise ValueError(f"--spec-from: {meta} does not exist (`train` writes it)")
        text, source = json.loads(meta.read_text())["spec"], str(meta)
    if text is None:
        for meta in sorted(Path.cwd().glob("*.json")):
            trained = meta.with_suffix("")
            try:
                if (
                    trained.is_file()
                    and hashlib.sha256(trained.read_bytes()).digest() == info.model_sha256
                ):
                    text, source = json.loads(meta.read_text())["spec"], str(meta)
                    break
            except (OSError, ValueError, KeyError, TypeError):
                continue
    if text is None:
        text, source = DEFAULT_SPEC, "the default (no training metadata found for the model)"
    n = len(FeatureSpec.parse(text).features)
    inputs = info.arch.inputs
    if inputs and n != inputs and not (window and inputs == window * n):
        raise ValueError(
            f"feature spec {text!r} ({source}) has {n} features but model {model} takes "
            f"{inputs}: pass the spec it was trained with (--features, or --spec-from "
            "MODEL_FILE for a model from `train`)"
        )
    if args.features is None and not ctx.json:
        print(f"features: {text} (from {source})", file=sys.stderr)
    return str(text)


async def configure(args: argparse.Namespace, ctx: CliContext) -> int:
    agent = _agent(args)
    client = AgentClient(await ctx.chain(), ctx.keypair)
    st = await client.state(agent)
    fields = [f for _, f, _, _ in RISK_OPTIONS] + ["max_oracle_dev_bps"]
    changes = {f: getattr(args, f) for f in fields if getattr(args, f) is not None}
    if not changes:
        raise ValueError("give at least one risk option to change")
    risk = replace(st.risk, **changes)
    check_oracle_dev({"pool": SOURCE_POOL}.get(st.source, SOURCE_FEED), risk.max_oracle_dev_bps)
    res = await client.configure(agent, risk)
    out = {"agent": str(agent), "risk": to_jsonable(risk), "signature": str(res.signature)}
    ctx.emit(out, f"configured {agent}: " + ", ".join(f"{k}={v}" for k, v in changes.items()))
    return 0


async def _funds(args: argparse.Namespace, ctx: CliContext, deposit: bool) -> int:
    agent = _agent(args)
    ua = parse_pubkey(args.user_a, "--user-a")
    ub = parse_pubkey(args.user_b, "--user-b")
    if args.amount_a == 0 and args.amount_b == 0:
        raise ValueError("give --amount-a and/or --amount-b")
    client = AgentClient(await ctx.chain(), ctx.keypair)
    if deposit:
        res = await client.deposit(agent, ua, ub, amount_a=args.amount_a, amount_b=args.amount_b)
    else:
        res = await client.withdraw(agent, ua, ub, amount_a=args.amount_a, amount_b=args.amount_b)
    out = {
        "agent": str(agent),
        "amount_a": args.amount_a,
        "amount_b": args.amount_b,
        "signature": str(res.signature),
    }
    verb = "deposited" if deposit else "withdrew"
    ctx.emit(out, f"{verb} {args.amount_a:,} A and {args.amount_b:,} B ({res.signature})")
    return 0


async def deposit(args: argparse.Namespace, ctx: CliContext) -> int:
    return await _funds(args, ctx, True)


async def withdraw(args: argparse.Namespace, ctx: CliContext) -> int:
    return await _funds(args, ctx, False)


async def step(args: argparse.Namespace, ctx: CliContext) -> int:
    agent = _agent(args)
    if args.count < 1:
        raise ValueError("--count must be >= 1")
    price = None
    if args.price_account is not None:
        price = parse_pubkey(args.price_account, "--price-account")
    chain = await ctx.chain()
    client = AgentClient(chain, ctx.keypair)
    steps: list[dict[str, Any]] = []
    lines: list[str] = []
    for i in range(args.count):
        if i:
            await next_slot(chain)  # an agent takes one price sample per slot
        expected = args.expected_step if i == 0 else None
        r = await client.step(agent, expected_step=expected, price_account=price, check=False)
        if not isinstance(r, StepResult):
            keep = [ln for ln in r.logs if "ml_agent" in ln or "rror" in ln]
            detail = "".join(f"\n  {ln}" for ln in keep)
            code = ""
            if r.custom_error is not None:
                code = f" ({error_name(r.custom_error) or 'custom error'} {r.custom_error})"
            ctx.emit({"steps": steps, "error": r.error}, "\n".join(lines))
            raise ChainError(f"agent_step failed{code}: {r.error}{detail}")
        d = r.decision
        steps.append(
            to_jsonable(d)
            | {"traded": r.traded, "compute_units": r.compute_units, "signature": r.signature}
        )
        lines.append(
            f"step {d.step}: {d.action:<4} {d.reason:<15} class {d.class_id} conf "
            f"{d.confidence_q16 / 65536:.3f} price {d.price} in {d.amount_in} out "
            f"{d.amount_out}  {r.compute_units:,} CU"
        )
        if r.unavailable is not None:
            u = r.unavailable
            name = error_name(u.error) or "custom error"
            steps[-1]["unavailable"] = {"index": u.index, "model": str(u.model), "error": name}
            lines.append(
                f"  model {u.index} ({u.model}) could not run: {name} {u.error}; "
                "`agent set-models` replaces it"
            )
    ctx.emit({"steps": steps}, "\n".join(lines))
    return 0


async def set_models(args: argparse.Namespace, ctx: CliContext) -> int:
    agent = _agent(args)
    models = [parse_model(m) for m in args.model]
    if not 1 <= len(models) <= 4:
        raise ValueError("an agent has 1..4 models")
    client = AgentClient(await ctx.chain(), ctx.keypair)
    await client.state(agent)  # a clear error when AGENT is not an agent
    res = await client.set_models(agent, models)
    st = await client.state(agent)
    out = {
        "agent": str(agent),
        "models": [
            {"model": str(m.model), "version": m.version, "weight": m.weight} for m in st.models
        ],
        "signature": str(res.signature),
    }
    human = "\n".join(
        f"model {i}  {m.model} w{m.weight} "
        + (f"pinned to version {m.version} ({m.weights})" if m.version else "follows active")
        for i, m in enumerate(st.models)
    )
    ctx.emit(out, f"set the models of {agent}\n{human}")
    return 0


async def close(args: argparse.Namespace, ctx: CliContext) -> int:
    agent = _agent(args)
    ua = parse_pubkey(args.user_a, "--user-a")
    ub = parse_pubkey(args.user_b, "--user-b")
    client = AgentClient(await ctx.chain(), ctx.keypair)
    await client.state(agent)  # a clear error when AGENT is not an agent
    res = await client.close(agent, ua, ub)
    ev = [e.data for e in parse_events(res.logs) if e.name == "AgentClosed"]
    if len(ev) != 1:
        raise ChainError("close_agent emitted no AgentClosed event")
    amount_a, amount_b, lamports = int(ev[0].amount_a), int(ev[0].amount_b), int(ev[0].lamports)
    out = {
        "agent": str(agent),
        "amount_a": amount_a,
        "amount_b": amount_b,
        "lamports_returned": lamports,
        "signature": str(res.signature),
    }
    ctx.emit(
        out,
        f"closed {agent}: paid out {amount_a:,} A and {amount_b:,} B; "
        f"{lamports / 1e9:.6f} SOL rent returned",
    )
    return 0


async def _admin(args: argparse.Namespace, ctx: CliContext, pause: bool) -> int:
    agent = _agent(args)
    client = AgentClient(await ctx.chain(), ctx.keypair)
    await client.state(agent)  # a clear error when AGENT is not an agent
    res = await (client.pause(agent) if pause else client.resume(agent))
    out = {"agent": str(agent), "paused": pause, "signature": str(res.signature)}
    ctx.emit(out, f"{'paused' if pause else 'resumed'} {agent}")
    return 0


async def pause(args: argparse.Namespace, ctx: CliContext) -> int:
    return await _admin(args, ctx, True)


async def resume(args: argparse.Namespace, ctx: CliContext) -> int:
    return await _admin(args, ctx, False)


def state_json(st: AgentState) -> dict[str, Any]:
    return {
        "agent": str(st.address),
        "authority": str(st.authority),
        "pool": str(st.pool),
        "source": st.source,
        "price_source": str(st.price_source),
        "vault_a": str(st.vault_a),
        "vault_b": str(st.vault_b),
        "models": [
            {
                "model": str(m.model),
                "version": m.version,
                "weight": m.weight,
                "pinned_weights": str(m.weights) if m.weights else None,
                "pinned_chunk_root": m.root.hex() if m.root else None,
            }
            for m in st.models
        ],
        "features": [str(f) for f in st.spec.features],
        "risk": to_jsonable(st.risk),
        "step": st.step,
        "paused": st.paused,
        "trades": st.trades,
        "buys": st.buys,
        "sells": st.sells,
        "quote_spent": st.quote_spent,
        "quote_received": st.quote_received,
        "base_bought": st.base_bought,
        "base_sold": st.base_sold,
        "turnover_today": st.turnover_today,
        "last_price": st.last_price,
        "log_len": len(st.log),
        "has_history": st.has_history,
        "history_window": st.history_window,
        "window_models": st.window_models,
    }


async def show(args: argparse.Namespace, ctx: CliContext) -> int:
    agent = _agent(args)
    client = AgentClient(await ctx.chain(), ctx.keypair)
    st = await client.state(agent)
    v = await client.valuation(agent)
    out = state_json(st) | {"valuation": to_jsonable(v) | {"price": v.price}}
    human = [
        f"agent     {agent}  ({'PAUSED' if st.paused else 'running'}, step {st.step})",
        f"pool      {st.pool}  source {st.source}",
        "models    "
        + ", ".join(
            f"{m.model} w{m.weight}" + (f" pinned v{m.version}" if m.version else "")
            for m in st.models
        ),
        "features  " + ",".join(str(f) for f in st.spec.features),
        "history   "
        + (
            f"{st.history_window} steps"
            if st.has_history
            else (f"none (window models read {st.history_window})" if st.window_models else "none")
        ),
        f"trades    {st.trades} ({st.buys} buys, {st.sells} sells)",
        f"vaults    {v.vault_a:,} A, {v.vault_b:,} B  (equity {v.equity_b:,} B at {v.price:.6g})",
        f"position  {v.position_a:+,} A from trades, worth {v.position_value_b:+,} B",
        f"PnL       cash {v.cash_pnl:+,} B, marked to market {v.mark_to_market_pnl:+,} B",
    ]
    ctx.emit(out, "\n".join(human))
    return 0


def log_rows(log: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Flatten the features into f0..fN columns for CSV."""
    n = max((len(r["features"]) for r in log), default=0)
    cols = ["step", "slot", "price", "action", "reason", "class", "confidence_q16"]
    cols += [f"f{i}" for i in range(n)] + ["amount_in", "amount_out"]
    rows = []
    for r in log:
        row = {k: v for k, v in r.items() if k != "features"}
        feats = list(r["features"]) + [""] * (n - len(r["features"]))
        row |= {f"f{i}": v for i, v in enumerate(feats)}
        rows.append(row)
    return cols, rows


async def export_log(args: argparse.Namespace, ctx: CliContext) -> int:
    agent = _agent(args)
    out = Path(args.out)
    fmt = args.format or out.suffix.lstrip(".").lower()
    if fmt not in ("csv", "json"):
        raise ValueError(f"--out {args.out!r}: give a .csv or .json file, or --format")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"directory {out.parent} does not exist")
    client = AgentClient(await ctx.chain(), ctx.keypair)
    st = await client.state(agent)
    log = await client.export_log(agent)
    if fmt == "json":
        doc = {
            "agent": str(agent),
            "features": [str(f) for f in st.spec.features],
            "feature_scale": 65536,
            "rows": log,
        }
        out.write_text(json.dumps(doc, indent=2) + "\n")
    else:
        cols, rows = log_rows(log)
        with out.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=cols)
            w.writeheader()
            w.writerows(rows)
    result = {"agent": str(agent), "rows": len(log), "path": str(out), "format": fmt}
    ctx.emit(result, f"wrote {len(log)} decisions to {out}")
    return 0
