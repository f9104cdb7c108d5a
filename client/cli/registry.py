"""Model registry commands: deploy-model, verify, inspect, activate, close, set-authority, freeze.

Thin wrappers over `client.registry.ModelRegistry`; each prints what a user needs (or JSON with
--json) and exits non-zero with the reason on failure.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path

from solders.pubkey import Pubkey

from ..chain.base import Chain, TransactionFailed
from ..chain.errors import InsufficientFunds
from ..chain.rpc import LAMPORTS_PER_SIGNATURE
from ..model.errors import ModelError
from ..program import PROGRAM_ID
from ..registry import ModelInfo, ModelRegistry, ProgressBar, RegistryError, VersionInfo
from ..registry.accounts import describe_model
from ..registry.layout import (
    MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
    MODEL_HEADER_LEN,
    TS_SAFE_CHUNK_SIZE,
    WeightsLayout,
)
from .context import CliContext, add_common_options, fail
from .errors import BadArgument, report_exception

LAMPORTS_PER_SOL = 1_000_000_000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "deploy-model",
        help="upload a model file to the on-chain registry (resumable), finalize, activate, verify",
    )
    p.add_argument("model_file", metavar="MODEL_FILE", type=Path)
    p.add_argument(
        "--model-id",
        type=int,
        default=None,
        help="model id (u64) under your authority; an existing id gets a new version "
        "(default: derived from the file's SHA-256, so a rerun resumes the same upload)",
    )
    p.add_argument(
        "--chunk-size",
        type=int,
        default=MAX_CHUNK_SIZE,
        help=f"bytes per chunk, {MIN_CHUNK_SIZE}-{MAX_CHUNK_SIZE} (default {MAX_CHUNK_SIZE}; "
        f"{TS_SAFE_CHUNK_SIZE} is the largest @anchor-lang/core can encode)",
    )
    p.add_argument(
        "--concurrency", type=int, default=32, help="transactions in flight (default 32)"
    )
    p.add_argument(
        "--no-activate", action="store_true", help="leave the new version staged (finalized)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="check the file and the balance, print the rent and fee estimate, send nothing",
    )
    p.add_argument(
        "--yes",
        action="store_true",
        help="confirm paying more than 1 SOL of rent on devnet/mainnet",
    )
    p.add_argument(
        "--any-bytes",
        action="store_true",
        help="store a file that is not a model file (the registry takes any bytes; `infer` "
        "will refuse it)",
    )
    add_common_options(p)
    p.set_defaults(handler=deploy_model)

    p = sub.add_parser("verify", help="download a model version and check every hash")
    p.add_argument("address", metavar="ADDRESS", help="model (header) or weights address")
    p.add_argument("--model", type=Path, default=None, help="also compare with this local file")
    add_common_options(p)
    p.set_defaults(handler=verify)

    p = sub.add_parser("inspect", help="show a model or model version account")
    p.add_argument("address", metavar="ADDRESS", help="model (header) or weights address")
    add_common_options(p)
    p.set_defaults(handler=inspect)

    p = sub.add_parser("activate", help="activate a model's staged, finalized version")
    p.add_argument("address", metavar="MODEL")
    add_common_options(p)
    p.set_defaults(handler=activate)

    p = sub.add_parser(
        "close", help="close a model version or a whole model; rent returns to the authority"
    )
    p.add_argument("address", metavar="ADDRESS", help="model (header) or weights address")
    p.add_argument(
        "--force",
        action="store_true",
        help="close even when an agent of this authority runs the model (or pins the version); "
        "its steps then hold with reason model_unavailable until `agent set-models`",
    )
    add_common_options(p)
    p.set_defaults(handler=close)

    p = sub.add_parser(
        "set-authority",
        help="two-step authority transfer: propose NEW_AUTHORITY, then it runs --accept",
    )
    p.add_argument("address", metavar="MODEL")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("new_authority", metavar="NEW_AUTHORITY", nargs="?", default=None)
    group.add_argument(
        "--accept", action="store_true", help="accept a proposed transfer (as --keypair)"
    )
    group.add_argument("--cancel", action="store_true", help="withdraw a pending proposal")
    add_common_options(p)
    p.set_defaults(handler=set_authority)

    p = sub.add_parser("freeze", help="make a model immutable forever (irreversible)")
    p.add_argument("address", metavar="MODEL")
    p.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    add_common_options(p)
    p.set_defaults(handler=freeze)


# ---------------------------------------------------------------------- helpers


async def _registry(
    ctx: CliContext, *, progress: bool = False, concurrency: int = 32
) -> ModelRegistry:
    chain = await ctx.chain()
    await _require_program(chain)
    bar = ProgressBar() if progress and not ctx.json else None
    return ModelRegistry(chain, ctx.keypair, concurrency=concurrency, progress=bar)


async def _require_program(chain: Chain) -> None:
    acc = await chain.get_account(PROGRAM_ID)
    if acc is None or not acc.executable:
        raise RegistryError(
            f"the ml_agent program {PROGRAM_ID} is not deployed on {chain.name}; deploy "
            "target/deploy/ml_agent.so there first (or use --url embedded)"
        )


def _pubkey(text: str, what: str = "address") -> Pubkey:
    try:
        return Pubkey.from_string(text)
    except ValueError as e:
        raise ValueError(f"{what} {text!r} is not a base58 public key") from e


def _sol(lamports: int) -> str:
    return f"{lamports / LAMPORTS_PER_SOL:.9f}".rstrip("0").rstrip(".") + " SOL"


def _tx_failure(e: TransactionFailed) -> int:
    """The program's error by name, with its message and a hint (client.cli.errors)."""
    return report_exception(e)


# ---------------------------------------------------------------------- commands


def read_model_file(path: Path, *, any_bytes: bool = False) -> bytes:
    """The bytes of a model file, refused (before anything is sent) unless it decodes."""
    if path.is_dir():
        raise BadArgument(f"{path} is a directory, not a model file")
    if not path.is_file():
        raise BadArgument(f"model file {path} does not exist")
    data = path.read_bytes()
    if not data:
        raise ValueError(f"{path} is empty, not a model file")
    if not any_bytes:
        from ..model.format import decode

        try:
            decode(data)
        except ModelError as e:
            raise ValueError(
                f"{path} is not a valid model file ({e}); make one with `python -m client "
                "compile`, or pass --any-bytes to store arbitrary data"
            ) from e
    return data


@dataclass(frozen=True)
class DeployEstimate:
    """What a deploy-model costs at most: rent of the new accounts plus signature fees."""

    rent_lamports: int
    fee_lamports: int
    transactions: int
    payer_balance: int

    @property
    def total(self) -> int:
        return self.rent_lamports + self.fee_lamports


async def estimate_deploy(
    chain: Chain, payer: Pubkey, size: int, chunk_size: int, new_model: bool
) -> DeployEstimate:
    layout = WeightsLayout.for_model(size, chunk_size)
    rent = await chain.minimum_balance_for_rent_exemption(layout.space)
    if new_model:
        rent += await chain.minimum_balance_for_rent_exemption(MODEL_HEADER_LEN)
    # Upload pages hold rent while their chunks are written and give it back when merged.
    for index in range(layout.page_count):
        rent += await chain.minimum_balance_for_rent_exemption(layout.page(index).space)
    transactions = layout.chunk_count + layout.page_count + 4
    fees = LAMPORTS_PER_SIGNATURE * (transactions + 1)  # the create also signs for weights
    return DeployEstimate(rent, fees, transactions, await chain.get_balance(payer))


async def deploy_model(args: argparse.Namespace, ctx: CliContext) -> int:
    path: Path = args.model_file
    if args.model_id is not None and not 0 <= args.model_id < 2**64:
        return fail("--model-id must fit in an unsigned 64-bit integer", 2)
    data = read_model_file(path, any_bytes=args.any_bytes)
    registry = await _registry(
        ctx, progress=not args.no_progress, concurrency=max(1, args.concurrency)
    )
    format_version, arch = describe_model(data)
    from ..registry.layout import default_model_id, model_address

    model_id = args.model_id
    if model_id is None:
        model_id = default_model_id(hashlib.sha256(data).digest())
    existing = await registry.chain.get_account(model_address(ctx.keypair.pubkey(), model_id))
    est = await estimate_deploy(
        registry.chain, ctx.keypair.pubkey(), len(data), args.chunk_size, existing is None
    )
    estimate = (
        f"estimate      at most {_sol(est.rent_lamports)} rent + {_sol(est.fee_lamports)} fees "
        f"({est.transactions} transactions); payer {ctx.keypair.pubkey()} has "
        f"{_sol(est.payer_balance)} on {ctx.cluster.name}"
    )
    if est.payer_balance < est.total:
        raise InsufficientFunds(
            str(ctx.keypair.pubkey()), est.payer_balance, est.total, ctx.cluster.url or "embedded"
        )
    if args.dry_run:
        ctx.emit(
            {"dry_run": True, "file": str(path), "bytes": len(data), **est.__dict__},
            f"{estimate}\ndry run: nothing sent",
        )
        return 0
    if ctx.cluster.public and est.rent_lamports > LAMPORTS_PER_SOL and not args.yes:
        return fail(
            f"this upload locks {_sol(est.rent_lamports)} of rent on {ctx.cluster.name}; "
            "rerun with --yes to confirm (or --dry-run to see the estimate)",
            2,
        )
    if not ctx.json:
        print(estimate, file=sys.stderr)
    try:
        d = await registry.deploy(
            data,
            model_id=args.model_id,
            arch=arch,
            format_version=format_version,
            chunk_size=args.chunk_size,
            activate=not args.no_activate,
        )
    except TransactionFailed as e:
        return _tx_failure(e)
    state = "already active" if d.already_active else ("resumed" if d.resumed else "new")
    ctx.emit(
        asdict(d),
        "\n".join(
            [
                f"model         {d.model}  (id {d.model_id}, version {d.version}, {state})",
                f"weights       {d.weights}",
                f"sha256        {d.sha256}  (compare: sha256sum {path})",
                f"bytes         {d.bytes} in {d.chunks} chunks of {d.chunk_size}",
                f"transactions  {d.transactions} (fees {_sol(d.fee_lamports)})",
                f"rent paid     {_sol(d.rent_lamports)}",
                f"seconds       {d.seconds}",
                f"verified      {'yes' if d.verified else 'no'} (downloaded and re-hashed; "
                f"whole-file hash checked on chain: "
                f"{'yes' if d.file_hash_verified_on_chain else 'no, root of chunk hashes'})",
            ]
        ),
    )
    return 0


async def verify(args: argparse.Namespace, ctx: CliContext) -> int:
    address = _pubkey(args.address)
    model = None
    if args.model is not None:
        if not args.model.is_file():
            return fail(f"model file {args.model} does not exist", 2)
        model = args.model.read_bytes()
    registry = await _registry(ctx)
    r = await registry.verify(address, model)
    lines = [
        f"weights       {r.weights}  (model {r.model}, version {r.version}, {r.status})",
        f"bytes         {r.bytes}",
        f"declared      {r.declared_sha256}",
        f"on-chain data {r.computed_sha256}",
    ]
    if r.file_sha256 is not None:
        lines.append(f"local file    {r.file_sha256}")
    lines.append("OK: the on-chain bytes match every declared hash" if r.ok else "FAILED:")
    lines += [f"  - {p}" for p in r.problems]
    ctx.emit({**asdict(r), "ok": r.ok}, "\n".join(lines))
    return 0 if r.ok else 1


async def inspect(args: argparse.Namespace, ctx: CliContext) -> int:
    registry = await _registry(ctx)
    info = await registry.fetch(_pubkey(args.address))
    if isinstance(info, ModelInfo):
        version = await registry.fetch_version(info.active_weights) if info.active_weights else None
        ranges, labels = _features_of(version)
        ctx.emit(
            asdict(info) | {"feature_ranges": ranges, "labels": labels},
            _describe_model(info) + _describe_features(ranges, labels),
        )
    else:
        ranges, labels = _features_of(info)
        ctx.emit(
            {k: v for k, v in asdict(info).items() if k not in ("data", "declared_hashes")}
            | {"written": sum(info.written), "feature_ranges": ranges, "labels": labels},
            _describe_version(info) + _describe_features(ranges, labels),
        )
    return 0


def _features_of(
    version: VersionInfo | None,
) -> tuple[list[list[float]] | None, list[str] | None]:
    """Declared feature ranges in real units (the Q16.16 bounds the chain enforces / 65536)
    and class labels, when the version holds a complete model file."""
    if version is None or version.data is None:
        return None, None
    from ..model.format import decode

    try:
        qm = decode(version.data)
    except ModelError:
        return None, None  # arbitrary bytes (--any-bytes): nothing to describe
    lo, hi = qm.input.lo.tolist(), qm.input.hi.tolist()
    ranges = [[a / 65536, b / 65536] for a, b in zip(lo, hi, strict=True)]
    labels = [str(x) for x in qm.labels] if qm.labels else None
    return ranges, labels


def _describe_features(ranges: list[list[float]] | None, labels: list[str] | None) -> str:
    if ranges is None:
        return ""
    shown = ", ".join(f"[{a:.6g}, {b:.6g}]" for a, b in ranges[:8])
    more = f", ... ({len(ranges)} in all)" if len(ranges) > 8 else ""
    text = f"\nfeatures       {len(ranges)}, accepted ranges {shown}{more}"
    if labels:
        text += f"\nlabels         {', '.join(labels)}"
    return text


async def activate(args: argparse.Namespace, ctx: CliContext) -> int:
    registry = await _registry(ctx)
    model = _pubkey(args.address, "model")
    try:
        await registry.activate(model)
    except TransactionFailed as e:
        return _tx_failure(e)
    info = await registry.fetch_model(model)
    assert info is not None
    ctx.emit(
        asdict(info), f"activated version {info.active_version} of {model} ({info.active_weights})"
    )
    return 0


async def close(args: argparse.Namespace, ctx: CliContext) -> int:
    registry = await _registry(ctx)
    address = _pubkey(args.address)
    target = await registry.fetch(address)
    users = await _agents_using(registry, target)
    if users and not args.force:
        what = "model" if isinstance(target, ModelInfo) else f"version {target.version}"
        listed = "".join(f"\n  {a}" for a in users)
        return fail(
            f"{len(users)} agent(s) of {registry.authority.pubkey()} run this {what}:"
            f"{listed}\nafter the close their steps hold (reason model_unavailable) until "
            "`python -m client agent set-models`; rerun with --force to close anyway",
            1,
        )
    try:
        if isinstance(target, ModelInfo):
            lamports = await registry.close_model(address)
            what = f"model {address} and its versions"
        else:
            lamports = await registry.close_version(address)
            what = f"version {target.version} ({address}) of model {target.model}"
    except TransactionFailed as e:
        return _tx_failure(e)
    ctx.emit(
        {"closed": str(address), "lamports_returned": lamports},
        f"closed {what}; {_sol(lamports)} returned to {registry.authority.pubkey()}",
    )
    return 0


async def _agents_using(registry: ModelRegistry, target: ModelInfo | VersionInfo) -> list[str]:
    """Agents of this authority (agent ids 0..99) that run the model, or pin the version."""
    from ..agent import AgentClient

    agents = AgentClient(registry.chain, registry.authority)
    me = registry.authority.pubkey()
    if isinstance(target, ModelInfo):
        return [str(a) for a in await agents.agents_using(target.address, me)]
    found = []
    for a in await agents.agents_using(target.model, me):
        st = await agents.state(a)
        if any(m.model == target.model and m.weights == target.address for m in st.models):
            found.append(str(a))
    return found


async def set_authority(args: argparse.Namespace, ctx: CliContext) -> int:
    registry = await _registry(ctx)
    model = _pubkey(args.address, "model")
    try:
        if args.accept:
            await registry.accept_authority(model)
            msg = f"{registry.authority.pubkey()} is now the authority of {model}"
        elif args.cancel:
            await registry.propose_authority(model, Pubkey.default())
            msg = f"pending authority transfer of {model} cancelled"
        else:
            new = _pubkey(args.new_authority, "new authority")
            await registry.propose_authority(model, new)
            msg = (
                f"proposed {new} as authority of {model}; it takes over when it runs "
                f"`python -m client set-authority {model} --accept --keypair <its keypair>`"
            )
    except TransactionFailed as e:
        return _tx_failure(e)
    info = await registry.fetch_model(model)
    ctx.emit(asdict(info) if info is not None else {}, msg)
    return 0


async def freeze(args: argparse.Namespace, ctx: CliContext) -> int:
    if not args.yes:
        return fail("freezing is irreversible: rerun with --yes to confirm", 2)
    registry = await _registry(ctx)
    model = _pubkey(args.address, "model")
    try:
        await registry.freeze(model)
    except TransactionFailed as e:
        return _tx_failure(e)
    info = await registry.fetch_model(model)
    assert info is not None
    ctx.emit(
        asdict(info),
        f"model {model} is frozen at version {info.active_version} "
        f"(sha256 {_file_hash(info.model_sha256, info.file_hash_verified)})",
    )
    return 0


# ---------------------------------------------------------------------- rendering


def _plain(obj: object) -> object:
    """Dataclasses to dicts without `dataclasses.asdict`, which deep-copies field values and
    cannot copy solders types; pubkeys become base58 strings, bytes hex."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, Pubkey):
        return str(obj)
    if isinstance(obj, bytes):
        return obj.hex()
    return obj


def asdict(obj: object) -> dict[str, object]:
    out = _plain(obj)
    assert isinstance(out, dict)
    return out


def _describe_model(m: ModelInfo) -> str:
    a = m.arch
    lines = [
        f"model          {m.address}",
        f"status         {m.status}",
        f"authority      {m.authority}"
        + (f"  (pending: {m.pending_authority})" if m.pending_authority else ""),
        f"model id       {m.model_id} (creator {m.creator})",
        f"active         version {m.active_version}: {m.active_weights}"
        if m.active_weights
        else "active         none",
        f"staged         version {m.staged_version}: {m.staged_weights}"
        if m.staged_weights
        else "staged         none",
        f"versions       {m.version_count} created, {m.live_versions} not closed",
    ]
    if m.active_weights:
        lines += [
            f"sha256         {_file_hash(m.model_sha256, m.file_hash_verified)}",
            f"chunk root     {m.chunk_root.hex()}",
            f"bytes          {m.model_size} in {m.chunk_count} chunks of {m.chunk_size}",
            f"file hash      {'verified on chain' if m.file_hash_verified else 'via chunk root'}",
            f"format         v{m.format_version}, kind {a.kind}, {a.layers} layers, "
            f"{a.inputs} inputs, {a.outputs} outputs, {a.weight_bits}-bit, {a.params} B params",
        ]
    lines.append(
        f"slots          created {m.created_slot}, updated {m.updated_slot}, "
        f"activated {m.activated_slot}"
    )
    lines.append(f"rent           {_sol(m.lamports)}")
    return "\n".join(lines)


def _file_hash(sha: bytes, verified: bool, status: str = "active") -> str:
    """A whole-file SHA-256 as `inspect` shows it: only a hash finalize recomputed on chain is
    the model's hash; a larger model's is the uploader's declaration, and its content is bound
    by the chunk root instead."""
    if verified:
        return sha.hex()
    if status == "uploading":
        return f"{sha.hex()} (declared; checked at finalize)"
    if sha == bytes(32):
        return "unverified (over 2 MiB: the chunk root binds the content)"
    return f"unverified (declared {sha.hex()}; the chunk root binds the content)"


def _describe_version(v: VersionInfo) -> str:
    return "\n".join(
        [
            f"weights        {v.address}",
            f"model          {v.model}",
            f"version        {v.version} ({v.status})",
            f"sha256         {_file_hash(v.model_sha256, v.file_hash_verified, v.status)}",
            f"chunk root     {v.chunk_root.hex()}",
            f"bytes          {v.model_size} in {v.chunk_count} chunks of {v.chunk_size}",
            f"uploaded       {v.hashes_declared}/{v.chunk_count} hashes declared, "
            f"{v.chunks_written}/{v.chunk_count} chunks written",
            "file hash      "
            + ("verified on chain" if v.file_hash_verified else "bound by the chunk root"),
            f"slots          created {v.created_slot}, finalized {v.finalized_slot}, "
            f"activated {v.activated_slot}, retired {v.retired_slot}",
            f"account        {v.account_size} bytes, rent {_sol(v.lamports)}",
        ]
    )
