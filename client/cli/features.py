"""Features accounts and inference jobs.

python -m client features create --values 0.5,1.25,... [--count N] [--id N]
python -m client features write PUBKEY --values ... [--offset N]
python -m client features show PUBKEY
python -m client features close PUBKEY
python -m client job show PUBKEY
python -m client job close PUBKEY
"""

from __future__ import annotations

import argparse
from typing import Any

from solders.pubkey import Pubkey

from ..inference.client import features_to_fx
from ..inference.features import (
    close_features,
    create_features,
    features_address,
    read_features,
    write_features,
)
from ..inference.jobs import close_job_ix, read_job
from .context import CliContext, add_common_options, fail


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("features", help="features accounts: an input vector held on chain")
    fs = p.add_subparsers(dest="features_command", metavar="ACTION", required=True)
    c = fs.add_parser("create", help="create a features account (you sign and pay the rent)")
    c.add_argument(
        "--values",
        help="comma-separated raw values (floats; stored as Q16.16); write --values=-1.5,2 "
        "when the first is negative",
    )
    c.add_argument("--count", type=int, help="values the account holds (default: --values')")
    c.add_argument("--id", type=int, default=None, help="account id (default: random)")
    add_common_options(c)
    c.set_defaults(handler=create)
    w = fs.add_parser("write", help="overwrite values of your features account")
    w.add_argument("address", metavar="PUBKEY")
    w.add_argument(
        "--values",
        required=True,
        help="comma-separated raw values (floats); --values=-1.5,2 when the first is negative",
    )
    w.add_argument("--offset", type=int, default=0, help="index of the first value written")
    add_common_options(w)
    w.set_defaults(handler=write)
    s = fs.add_parser("show", help="print a features account")
    s.add_argument("address", metavar="PUBKEY")
    add_common_options(s)
    s.set_defaults(handler=show)
    x = fs.add_parser("close", help="close your features account and take the rent back")
    x.add_argument("address", metavar="PUBKEY")
    add_common_options(x)
    x.set_defaults(handler=close)

    p = sub.add_parser("job", help="inference jobs (see `infer --large`)")
    js = p.add_subparsers(dest="job_command", metavar="ACTION", required=True)
    s = js.add_parser("show", help="print an inference job: pinned version, progress, result")
    s.add_argument("address", metavar="PUBKEY")
    add_common_options(s)
    s.set_defaults(handler=job_show)
    x = js.add_parser("close", help="close your job (finished or not) and take the rent back")
    x.add_argument("address", metavar="PUBKEY")
    add_common_options(x)
    x.set_defaults(handler=job_close)


def _values(text: str) -> list[int]:
    try:
        return features_to_fx([float(v) for v in text.replace(" ", "").split(",") if v != ""])
    except ValueError:
        raise ValueError(f"--values must be comma-separated numbers, got {text!r}") from None


def _address(text: str) -> Pubkey | None:
    try:
        return Pubkey.from_string(text)
    except ValueError:
        return None


async def create(args: argparse.Namespace, ctx: CliContext) -> int:
    values = _values(args.values) if args.values else []
    count = args.count if args.count is not None else len(values)
    if count < len(values):
        return fail(f"--count {count} is smaller than the {len(values)} values given", 2)
    if count == 0:
        return fail("give --values or --count", 2)
    if args.id is not None and not 0 <= args.id < 2**64:
        return fail("--id must be a u64", 2)
    chain = await ctx.chain()
    address = await create_features(chain, ctx.keypair, values, count=count, features_id=args.id)
    info = await read_features(chain, address)
    ctx.emit(_features_json(info), f"features account {address} ({count} values)")
    return 0


async def write(args: argparse.Namespace, ctx: CliContext) -> int:
    address = _address(args.address)
    if address is None:
        return fail(f"{args.address!r} is not a base58 address", 2)
    if args.offset < 0:
        return fail("--offset must be >= 0", 2)
    chain = await ctx.chain()
    txs = await write_features(chain, ctx.keypair, address, _values(args.values), args.offset)
    info = await read_features(chain, address)
    ctx.emit(
        {**_features_json(info), "transactions": txs},
        f"wrote {len(_values(args.values))} values at {args.offset} ({txs} transactions)",
    )
    return 0


async def show(args: argparse.Namespace, ctx: CliContext) -> int:
    address = _address(args.address)
    if address is None:
        return fail(f"{args.address!r} is not a base58 address", 2)
    info = await read_features(await ctx.chain(), address)
    human = (
        f"features  {info.address}\nowner     {info.owner} (id {info.features_id})\n"
        f"values    {len(info.values_fx)}: "
        + ", ".join(f"{v / 65536:g}" for v in info.values_fx[:16])
        + (" ..." if len(info.values_fx) > 16 else "")
        + f"\nwrites    {info.writes} (last slot {info.updated_slot})"
    )
    ctx.emit(_features_json(info), human)
    return 0


async def close(args: argparse.Namespace, ctx: CliContext) -> int:
    address = _address(args.address)
    if address is None:
        return fail(f"{args.address!r} is not a base58 address", 2)
    chain = await ctx.chain()
    info = await read_features(chain, address)
    if info.owner != ctx.keypair.pubkey():
        return fail(f"features account {address} belongs to {info.owner}, not to your keypair")
    await close_features(chain, ctx.keypair, address)
    ctx.emit(
        {"closed": str(address), "lamports": info.lamports},
        f"closed {address}: {info.lamports:,} lamports back",
    )
    return 0


def _features_json(info: Any) -> dict[str, Any]:
    return {
        "address": str(info.address),
        "owner": str(info.owner),
        "id": info.features_id,
        "values_fx": list(info.values_fx),
        "writes": info.writes,
        "updated_slot": info.updated_slot,
        "lamports": info.lamports,
        "pda_ok": features_address(info.owner, info.features_id) == info.address,
    }


async def job_show(args: argparse.Namespace, ctx: CliContext) -> int:
    address = _address(args.address)
    if address is None:
        return fail(f"{args.address!r} is not a base58 address", 2)
    j = await read_job(await ctx.chain(), address)
    out = {
        "address": str(j.address),
        "owner": str(j.owner),
        "model": str(j.model),
        "weights": str(j.weights),
        "version": j.version,
        "chunk_root": j.chunk_root.hex(),
        "model_sha256": j.model_sha256.hex(),
        "done": j.done,
        "op": j.op,
        "unit": j.unit,
        "units_done": j.units_done,
        "steps": j.steps,
        "class": j.class_id if j.done else None,
        "confidence_q16": j.confidence_q16 if j.done else None,
        "outputs": list(j.outputs),
        "source": str(j.source) if j.source else None,
        "lamports": j.lamports,
    }
    state = (
        f"done: class {j.class_id}, confidence {j.confidence_q16}/65536, outputs {list(j.outputs)}"
        if j.done
        else f"running: op {j.op}, unit {j.unit} ({j.units_done} units in {j.steps} steps)"
    )
    human = (
        f"job       {j.address} (owner {j.owner})\nmodel     {j.model} v{j.version} "
        f"(weights {j.weights}, chunk root {j.chunk_root.hex()[:16]}...)\n{state}"
    )
    ctx.emit(out, human)
    return 0


async def job_close(args: argparse.Namespace, ctx: CliContext) -> int:
    address = _address(args.address)
    if address is None:
        return fail(f"{args.address!r} is not a base58 address", 2)
    chain = await ctx.chain()
    j = await read_job(chain, address)
    if j.owner != ctx.keypair.pubkey():
        return fail(f"job {address} belongs to {j.owner}, not to your keypair")
    await chain.send([close_job_ix(ctx.keypair.pubkey(), address)], ctx.keypair)
    ctx.emit(
        {"closed": str(address), "lamports": j.lamports},
        f"closed {address}: {j.lamports:,} lamports back",
    )
    return 0
