"""`ModelRegistry`: the async API over the on-chain model registry (CLI, tests and bots).

    registry = ModelRegistry(chain, authority)
    deployed = await registry.deploy(Path("model.bin").read_bytes())
    report = await registry.verify(deployed.model)

`deploy` is idempotent and resumable: it derives the model id from the file's SHA-256 unless
told otherwise, finds whatever a previous run left on chain (header, staged version, declared
hashes, written chunks) and does only what is missing.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from ..chain.base import Chain, ChainError, TxResult
from ..model.errors import ModelError
from ..model.feasibility import assess
from ..model.format import decode
from ..program import PROGRAM_ID, coder, decode_account, parse_events
from . import instructions as ix
from .accounts import ArchSummary, ModelInfo, VersionInfo
from .layout import (
    FILE_HASH_MAX_BYTES,
    MAX_CHUNK_SIZE,
    MODEL_HEADER_LEN,
    MODEL_WEIGHTS_LEN,
    ModelHashes,
    WeightsLayout,
    chunk_hashes,
    chunk_root,
    default_model_id,
    model_address,
    page_address,
)
from .upload import ProgressFn, TxStats, Uploader, fits, pack

# `instructions::infer::OPS_CHECK_MAX_BYTES` / `OPS_CHECK_MAX_CU`: finalize dry-runs the forward
# pass of files this small whose compute bound is at most the cap.
OPS_CHECK_MAX_BYTES = 4096
OPS_CHECK_MAX_CU = 100_000


def dry_run_units(model: bytes) -> int:
    """Compute units `finalize_version`'s dry run of ``model`` may take (0 when it is skipped);
    a convolution's work is not proportional to its file size."""
    if len(model) > OPS_CHECK_MAX_BYTES:
        return 0
    from ..model.feasibility import estimate_cu

    try:
        # Twice the estimate: the limit costs nothing unused, a short one fails the upload.
        return min(2 * estimate_cu(decode(model)), OPS_CHECK_MAX_CU)
    except (ModelError, ValueError):  # not a model the kernels accept: no dry run
        return 0


class RegistryError(ChainError):
    """A registry operation cannot proceed; the message says why and what to do instead."""


def _refuse_unrunnable(model: bytes) -> None:
    try:
        qm = decode(model)
    except ModelError:
        return
    problems = assess(qm).problems
    if problems:
        raise RegistryError(
            "this model could never run on chain, refusing to deploy it: "
            + "; ".join(p.message for p in problems)
        )


@dataclass
class DeployedModel:
    """Result of `ModelRegistry.deploy` (what `deploy-model` prints)."""

    model: Pubkey
    weights: Pubkey
    model_id: int
    version: int
    sha256: str
    chunk_root: str
    bytes: int
    chunk_size: int
    chunks: int
    transactions: int
    rent_lamports: int
    fee_lamports: int
    seconds: float
    # Work found already done on chain: a resumed upload, or a model already active.
    resumed: bool
    already_active: bool
    # finalize_version recomputed the whole-file SHA-256 on chain (models up to 2 MiB).
    file_hash_verified_on_chain: bool
    verified: bool
    compute_units: dict[str, int] = field(default_factory=dict)


@dataclass
class VerifyReport:
    """Result of `ModelRegistry.verify`: on-chain bytes re-hashed against what is declared."""

    model: Pubkey | None
    weights: Pubkey
    version: int
    status: str
    bytes: int
    declared_sha256: str
    computed_sha256: str | None
    chunk_root_ok: bool
    bad_chunks: list[int]
    missing_chunks: int
    file_sha256: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class VersionRef:
    address: Pubkey
    version: int
    status: str


@dataclass
class ModelRegistry:
    chain: Chain
    authority: Keypair
    concurrency: int = 32
    progress: ProgressFn | None = None

    # ------------------------------------------------------------------ reads

    async def fetch_model(self, address: Pubkey) -> ModelInfo | None:
        """The model header at `address`, None when there is none; a closed model (its
        tombstone) raises RegistryError, since its id can never hold a model again."""
        acc = await self.chain.get_account(address)
        if acc is None:
            return None
        _refuse_tombstone(address, bytes(acc.data))
        return ModelInfo.decode(address, bytes(acc.data), acc.lamports)

    async def fetch_version(self, address: Pubkey) -> VersionInfo | None:
        """The model version (weights account) at `address`, or None."""
        acc = await self.chain.get_account(address)
        if acc is None:
            return None
        return VersionInfo.decode(address, bytes(acc.data), acc.lamports, len(acc.data))

    async def fetch(self, address: Pubkey) -> ModelInfo | VersionInfo:
        """A model header or a weights account, whichever `address` is."""
        acc = await self.chain.get_account(address)
        if acc is None:
            raise RegistryError(f"account {address} does not exist on {self.chain.name}")
        if acc.owner != PROGRAM_ID:
            raise RegistryError(
                f"account {address} is owned by {acc.owner}, not the ml_agent program {PROGRAM_ID}"
            )
        data = bytes(acc.data)
        disc = data[:8]
        names = coder().accounts.discriminator_to_acc_name
        name = names.get(disc)
        if name == "ModelHeader":
            return ModelInfo.decode(address, data, acc.lamports)
        if name == "ModelWeights":
            return VersionInfo.decode(address, data, acc.lamports, len(data))
        _refuse_tombstone(address, data)
        raise RegistryError(f"account {address} is a {name or 'unknown'} account, not a model")

    async def list_versions(self, model: Pubkey) -> list[VersionRef] | None:
        """Every weights account of `model` (via getProgramAccounts), or None when the backend
        cannot enumerate accounts (the in-process SVM)."""
        call = getattr(self.chain, "call", None)
        if call is None:
            return None
        disc = coder().accounts.acc_name_to_discriminator["ModelWeights"]
        res = await call(
            "getProgramAccounts",
            [
                str(PROGRAM_ID),
                {
                    "encoding": "base64",
                    "dataSlice": {"offset": 0, "length": MODEL_WEIGHTS_LEN},
                    "filters": [
                        {"memcmp": {"offset": 0, "bytes": _b64(disc), "encoding": "base64"}},
                        {
                            "memcmp": {
                                "offset": 8,
                                "bytes": _b64(bytes(model)),
                                "encoding": "base64",
                            }
                        },
                    ],
                },
            ],
        )
        out: list[VersionRef] = []
        for item in res if isinstance(res, list) else res.get("value", []):
            address = Pubkey.from_string(item["pubkey"])
            raw = base64.b64decode(item["account"]["data"][0])
            v = VersionInfo.decode(address, raw, int(item["account"]["lamports"]), len(raw))
            out.append(VersionRef(address, v.version, v.status))
        return sorted(out, key=lambda r: r.version)

    # ------------------------------------------------------------------ deploy

    async def deploy(
        self,
        model: bytes,
        *,
        model_id: int | None = None,
        target: Pubkey | None = None,
        arch: ArchSummary | None = None,
        format_version: int = 0,
        chunk_size: int = MAX_CHUNK_SIZE,
        activate: bool = True,
        verify: bool = True,
        check_runnable: bool = True,
    ) -> DeployedModel:
        """Create (or resume) the model/version for `model`, upload it, finalize, activate and
        verify it by downloading and hashing. Safe to rerun after any interruption.

        The model is the PDA of this authority and `model_id` (default: derived from the file's
        SHA-256), or the existing model at `target` (e.g. one whose authority was transferred
        to this keypair, so its address derives from another creator).

        A file that decodes as a model but could never run on chain (``feasibility.assess``:
        scratch arena, return data, job account) is refused before any
        transaction, unless ``check_runnable=False``; other bytes are stored as given.
        """
        if check_runnable:
            _refuse_unrunnable(model)
        started = time.monotonic()
        me = self.authority.pubkey()
        stats = TxStats()
        rent = 0
        sha = hashlib.sha256(model).digest()
        header: ModelInfo | None
        if target is not None:
            header = await self._header(target)
            address, model_id = target, header.model_id
        else:
            model_id = default_model_id(sha) if model_id is None else model_id
            address = model_address(me, model_id)
            header = await self.fetch_model(address)
        if header is not None and header.authority != me:
            raise RegistryError(
                f"model {address} belongs to authority {header.authority}, not {me}"
            )

        weights: Pubkey | None = None
        resumed = already_active = False
        if header is not None and header.staged_weights is not None:
            staged = await self.fetch_version(header.staged_weights)
            assert staged is not None, "the header names a staged account that does not exist"
            if staged.model_sha256 != sha or staged.model_size != len(model):
                raise RegistryError(
                    f"model {address} already has version {staged.version} staged "
                    f"({staged.model_sha256.hex()}, {staged.status}); finish it or close it with "
                    f"`python -m client close {staged.address}` before uploading another"
                )
            weights, chunk_size, resumed = staged.address, staged.chunk_size, True
        elif header is not None and await self._is_active(header, model):
            assert header.active_weights is not None
            weights, already_active = header.active_weights, True
        elif header is not None and header.status == "frozen":
            raise RegistryError(f"model {address} is frozen; it can never get a new version")

        layout = WeightsLayout.for_model(len(model), chunk_size)
        hashes = ModelHashes.of(model, chunk_size)
        if weights is None:
            weights, rent = await self._create(
                address,
                header,
                model_id,
                layout,
                hashes,
                arch or ArchSummary(),
                format_version,
                stats,
            )

        version = await self._upload_and_activate(
            address, weights, model, layout, hashes, stats, activate=activate
        )
        report = await self.verify(address if activate else weights, model) if verify else None
        if report is not None and not report.ok:
            raise RegistryError(
                f"verification of {weights} failed after upload: {'; '.join(report.problems)}"
            )
        return DeployedModel(
            model=address,
            weights=weights,
            model_id=model_id,
            version=version.version,
            sha256=sha.hex(),
            chunk_root=hashes.chunk_root.hex(),
            bytes=len(model),
            chunk_size=layout.chunk_size,
            chunks=layout.chunk_count,
            transactions=stats.transactions,
            rent_lamports=rent,
            fee_lamports=stats.fee_lamports,
            seconds=round(time.monotonic() - started, 3),
            resumed=resumed,
            already_active=already_active,
            file_hash_verified_on_chain=version.file_hash_verified,
            verified=report is not None and report.ok,
            compute_units={k + "_max": max(v) for k, v in stats.compute_units.items() if v},
        )

    async def _create(
        self,
        address: Pubkey,
        header: ModelInfo | None,
        model_id: int,
        layout: WeightsLayout,
        hashes: ModelHashes,
        arch: ArchSummary,
        format_version: int,
        stats: TxStats,
    ) -> tuple[Pubkey, int]:
        """One transaction: create the weights account, claim it (creating the header for a new
        model), and declare as many chunk hashes as still fit in the packet."""
        me = self.authority.pubkey()
        weights = Keypair()
        lamports = await self.chain.minimum_balance_for_rent_exemption(layout.space)
        rent = lamports
        params = ix.version_params(layout, hashes, arch, format_version)
        ixs = [ix.create_weights_account(me, weights.pubkey(), layout, lamports)]
        if header is None:
            ixs.append(ix.create_model(me, address, weights.pubkey(), model_id, params))
            rent += await self.chain.minimum_balance_for_rent_exemption(MODEL_HEADER_LEN)
        else:
            ixs.append(ix.create_version(me, address, weights.pubkey(), params))
        # Open as many upload pages as still fit: a tiny model needs no separate page transaction.
        for index in range(layout.page_count):
            page = ix.open_page(
                me, weights.pubkey(), layout.page(index), layout, hashes.chunk_hashes
            )
            if not fits([*ixs, page], self.authority, [weights]):
                break
            ixs.append(page)
        result = await self.chain.send(ixs, self.authority, [weights])
        stats.add("create", result, signers=2)
        return weights.pubkey(), rent

    async def _upload_and_activate(
        self,
        address: Pubkey,
        weights: Pubkey,
        model: bytes,
        layout: WeightsLayout,
        hashes: ModelHashes,
        stats: TxStats,
        *,
        activate: bool,
    ) -> VersionInfo:
        me = self.authority.pubkey()
        tail: list[Instruction] = [ix.finalize_version(me, address, weights)]
        if activate:
            header = await self.fetch_model(address)
            assert header is not None
            tail.append(ix.activate_version(me, address, weights, header.active_weights))
        hashed = layout.model_size if layout.model_size <= FILE_HASH_MAX_BYTES else 0
        uploader = Uploader(
            self.chain,
            self.authority,
            weights,
            model,
            layout,
            hashes,
            stats,
            concurrency=self.concurrency,
            progress=self.progress,
            # ~0.5 CU per hashed byte (file and hash table) plus fixed costs, with headroom.
            tail=tail,
            tail_units=40_000
            + hashed // 2
            + hashed // 20
            + 16 * layout.chunk_count
            + dry_run_units(model),
        )
        version = await uploader.run()
        if activate and version.status == "finalized":
            # Finalized earlier without activation (or by an interrupted run): activate now.
            header = await self.fetch_model(address)
            assert header is not None
            result = await self.chain.send(
                [ix.activate_version(me, address, weights, header.active_weights)], self.authority
            )
            stats.add("activate", result)
            refreshed = await self.fetch_version(weights)
            assert refreshed is not None
            version = refreshed
        return version

    # ------------------------------------------------------------------ verify

    async def verify(self, address: Pubkey, model: bytes | None = None) -> VerifyReport:
        """Download a version (a weights account, or a model header's active version), recompute
        its SHA-256, chunk hashes and root, and compare them with what the chain declares and,
        if given, with the local file `model`."""
        target = await self.fetch(address)
        header: ModelInfo | None = None
        if isinstance(target, ModelInfo):
            header = target
            if header.active_weights is None:
                raise RegistryError(f"model {address} has no active version to verify")
            v = await self.fetch_version(header.active_weights)
            if v is None:
                raise RegistryError(f"active weights {header.active_weights} do not exist")
        else:
            v = target
        problems: list[str] = []
        data = v.data
        computed = hashlib.sha256(data).hexdigest() if data is not None else None
        if data is None:
            problems.append("the account is too short to hold the declared model bytes")
            bad: list[int] = []
        else:
            actual = chunk_hashes(data, v.chunk_size)
            bad = [
                i for i, (a, d) in enumerate(zip(actual, v.declared_hashes, strict=True)) if a != d
            ]
            if computed != v.model_sha256.hex():
                problems.append(
                    f"on-chain bytes hash to {computed}, not the declared {v.model_sha256.hex()}"
                )
            if bad:
                problems.append(
                    f"{len(bad)} chunk(s) differ from their declared SHA-256 (first: {bad[:5]})"
                )
        root_ok = chunk_root(v.declared_hashes) == v.chunk_root
        if not root_ok:
            problems.append("the declared chunk hashes do not match the declared chunk root")
        missing = v.chunk_count - sum(v.written)
        if missing:
            problems.append(f"{missing} chunk(s) were never written")
        if header is not None:
            # The header carries a whole-file hash only when finalize verified it on chain.
            shown = v.model_sha256 if v.file_hash_verified else bytes(32)
            if header.model_sha256 != shown:
                problems.append("the header's SHA-256 differs from its active version's")
            if header.chunk_root != v.chunk_root:
                problems.append("the header's chunk root differs from its active version's")
            if v.status != "active":
                problems.append(f"the header's active version is in status {v.status}")
        file_sha = None
        if model is not None:
            file_sha = hashlib.sha256(model).hexdigest()
            if file_sha != v.model_sha256.hex():
                problems.append(
                    f"the local file hashes to {file_sha}, the chain declares "
                    f"{v.model_sha256.hex()}"
                )
        return VerifyReport(
            model=header.address if header is not None else v.model,
            weights=v.address,
            version=v.version,
            status=v.status,
            bytes=v.model_size,
            declared_sha256=v.model_sha256.hex(),
            computed_sha256=computed,
            chunk_root_ok=root_ok,
            bad_chunks=bad,
            missing_chunks=missing,
            file_sha256=file_sha,
            problems=problems,
        )

    # ------------------------------------------------------------------ lifecycle

    async def _send(self, instructions: Sequence[Instruction]) -> TxResult:
        return await self.chain.send(list(instructions), self.authority)

    async def activate(self, model: Pubkey) -> TxResult:
        """Make the model's staged, finalized version the active one (authority only)."""
        header = await self._header(model)
        if header.staged_weights is None:
            raise RegistryError(f"model {model} has no staged version to activate")
        me = self.authority.pubkey()
        return await self._send(
            [ix.activate_version(me, model, header.staged_weights, header.active_weights)]
        )

    async def freeze(self, model: Pubkey) -> TxResult:
        """Make the model immutable forever: no new version, no close (irreversible)."""
        await self._header(model)
        return await self._send([ix.freeze_model(self.authority.pubkey(), model)])

    async def propose_authority(self, model: Pubkey, new_authority: Pubkey) -> TxResult:
        """Step one of an authority transfer; `Pubkey.default()` cancels a proposal."""
        await self._header(model)
        return await self._send(
            [ix.propose_authority(self.authority.pubkey(), model, new_authority)]
        )

    async def accept_authority(self, model: Pubkey) -> TxResult:
        """Sign as the proposed authority (this registry's keypair) and take over."""
        header = await self._header(model)
        return await self._send(
            [ix.accept_authority(self.authority.pubkey(), model, header.staged_weights)]
        )

    async def close_version(self, weights: Pubkey) -> int:
        """Close a non-active version and any upload pages of it this authority left open;
        returns the lamports returned to the authority."""
        v = await self.fetch_version(weights)
        if v is None:
            raise RegistryError(f"weights account {weights} does not exist")
        lamports = await self.close_pages(v)
        result = await self._send([ix.close_version(self.authority.pubkey(), v.model, weights)])
        return lamports + _lamports_from_events(result, "VersionClosed")

    async def close_pages(self, version: VersionInfo) -> int:
        """Close this authority's uncommitted upload pages of `version` (their addresses derive
        from the version and the authority, so none can be missed); returns the lamports."""
        me = self.authority.pubkey()
        layout = WeightsLayout.for_model(version.model_size, version.chunk_size)
        keys = [page_address(version.address, me, i) for i in range(layout.page_count)]
        found = await self.chain.get_multiple_accounts(keys)
        open_pages = [k for k, acc in zip(keys, found, strict=True) if acc is not None]
        lamports = 0
        for group in pack([ix.close_page(me, k) for k in open_pages], self.authority):
            result = await self._send(group)
            lamports += _lamports_from_events(result, "PageClosed")
        return lamports

    async def close_model(self, model: Pubkey, retired: Sequence[Pubkey] | None = None) -> int:
        """Close a model: its retired versions (`retired`, or found via getProgramAccounts),
        then the header with its active and staged versions. Returns the lamports returned."""
        header = await self._header(model)
        me = self.authority.pubkey()
        listed = {header.active_weights, header.staged_weights} - {None}
        others = header.live_versions - len(listed)
        lamports = 0
        if others > 0:
            if retired is None:
                found = await self.list_versions(model)
                if found is None:
                    raise RegistryError(
                        f"model {model} has {others} retired version(s); close them first "
                        "(this backend cannot list them)"
                    )
                retired = [r.address for r in found if r.address not in listed]
            for i in range(0, len(retired), 8):
                result = await self._send(
                    [ix.close_version(me, model, w) for w in retired[i : i + 8]]
                )
                lamports += _lamports_from_events(result, "VersionClosed")
        if header.staged_weights is not None:
            staged = await self.fetch_version(header.staged_weights)
            if staged is not None:
                lamports += await self.close_pages(staged)
        result = await self._send(
            [ix.close_model(me, model, header.active_weights, header.staged_weights)]
        )
        return lamports + _lamports_from_events(result, "ModelClosed")

    async def _is_active(self, header: ModelInfo, model: bytes) -> bool:
        """`model` is the active version's file. The header shows a whole-file hash only when it
        was verified on chain; otherwise the version's chunk root (verified) decides."""
        if header.active_weights is None:
            return False
        if header.file_hash_verified:
            return header.model_sha256 == hashlib.sha256(model).digest()
        active = await self.fetch_version(header.active_weights)
        return (
            active is not None
            and active.model_size == len(model)
            and active.chunk_root == ModelHashes.of(model, active.chunk_size).chunk_root
        )

    async def _header(self, model: Pubkey) -> ModelInfo:
        header = await self.fetch_model(model)
        if header is None:
            raise RegistryError(f"model {model} does not exist on {self.chain.name}")
        return header


def _refuse_tombstone(address: Pubkey, data: bytes) -> None:
    """Raise the reason in words when `data` is a closed model's tombstone."""
    if data[:8] != _TOMBSTONE_DISC:
        return
    _, t = decode_account(data)
    raise RegistryError(
        f"model {address} (id {t.model_id} of creator {t.creator}) was closed at slot "
        f"{t.closed_slot}; a closed model id can never be used again: deploy under another id"
    )


_TOMBSTONE_DISC = hashlib.sha256(b"account:ModelTombstone").digest()[:8]


def _lamports_from_events(result: TxResult, name: str) -> int:
    return sum(int(e.data.lamports) for e in parse_events(result.logs) if e.name == name)


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()
