"""Decoded views of the registry's accounts.

The fixed parts are decoded by anchorpy from the IDL; the weights account's variable regions
(hash table, bitmap, model bytes) are sliced at the offsets the fixed part records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from solders.pubkey import Pubkey

from ..program import decode_account
from .layout import MODEL_PAGE_LEN, MODEL_STATUS, MODEL_WEIGHTS_LEN, VERSION_STATUS, ZERO_HASH

_NONE = Pubkey.default()


@dataclass(frozen=True)
class ArchSummary:
    """Informational architecture summary stored with each version (see state/model.rs)."""

    kind: int = 0
    weight_bits: int = 0
    layers: int = 0
    inputs: int = 0
    outputs: int = 0
    params: int = 0

    def to_idl(self) -> dict[str, int]:
        return {
            "kind": self.kind,
            "weight_bits": self.weight_bits,
            "layers": self.layers,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "params": self.params,
        }

    @classmethod
    def from_idl(cls, a: Any) -> ArchSummary:
        return cls(a.kind, a.weight_bits, a.layers, a.inputs, a.outputs, a.params)


def describe_model(data: bytes) -> tuple[int, ArchSummary]:
    """(format version, summary) from a model file's header (docs/model-format.md), or
    (0, all zero) when `data` is not a model file this client understands: the registry stores
    any bytes, and the summary is informational only."""
    from ..model.format import HEADER_STRUCT, OP_SIZE
    from ..model.qmodel import MAGIC

    if len(data) < HEADER_STRUCT.size or data[:4] != MAGIC:
        return 0, ArchSummary()
    h = HEADER_STRUCT.unpack_from(data)
    # Field order of HEADER_STRUCT: magic, version, header_size, file_len, arch, task,
    # input_dtype, scaling, n_features, n_outputs, n_classes, n_ops, ..., ops_off (#18),
    # payload_off, payload_len (#20). Each op record has its dtype (1: int8, 2: int16) at +1.
    n_ops, ops_off = h[11], h[18]
    dtypes = [
        data[ops_off + OP_SIZE * i + 1]
        for i in range(n_ops)
        if ops_off + OP_SIZE * (i + 1) <= len(data)
    ]
    bits = max(({1: 8, 2: 16}.get(d, 0) for d in dtypes), default=0)
    return h[1], ArchSummary(
        kind=h[4], weight_bits=bits, layers=n_ops, inputs=h[8], outputs=h[9], params=h[20]
    )


def _opt(key: Pubkey) -> Pubkey | None:
    return None if key == _NONE else key


@dataclass(frozen=True)
class ModelInfo:
    """A `ModelHeader` account."""

    address: Pubkey
    authority: Pubkey
    pending_authority: Pubkey | None
    creator: Pubkey
    model_id: int
    status: str
    active_weights: Pubkey | None
    active_version: int
    staged_weights: Pubkey | None
    staged_version: int
    version_count: int
    live_versions: int
    model_sha256: bytes
    chunk_root: bytes
    model_size: int
    chunk_size: int
    chunk_count: int
    format_version: int
    arch: ArchSummary
    file_hash_verified: bool
    created_slot: int
    updated_slot: int
    activated_slot: int
    lamports: int

    @classmethod
    def decode(cls, address: Pubkey, data: bytes, lamports: int) -> ModelInfo:
        name, f = decode_account(data)
        if name != "ModelHeader":
            raise ValueError(f"{address} is a {name} account, not a ModelHeader")
        return cls(
            address=address,
            authority=f.authority,
            pending_authority=_opt(f.pending_authority),
            creator=f.creator,
            model_id=f.model_id,
            status=MODEL_STATUS.get(f.status, f"unknown({f.status})"),
            active_weights=_opt(f.active_weights),
            active_version=f.active_version,
            staged_weights=_opt(f.staged_weights),
            staged_version=f.staged_version,
            version_count=f.version_count,
            live_versions=f.live_versions,
            model_sha256=bytes(f.model_sha256),
            chunk_root=bytes(f.chunk_root),
            model_size=f.model_size,
            chunk_size=f.chunk_size,
            chunk_count=f.chunk_count,
            format_version=f.format_version,
            arch=ArchSummary.from_idl(f.arch),
            file_hash_verified=bool(f.file_hash_verified),
            created_slot=f.created_slot,
            updated_slot=f.updated_slot,
            activated_slot=f.activated_slot,
            lamports=lamports,
        )


@dataclass(frozen=True)
class VersionInfo:
    """A `ModelWeights` account: fixed part plus its hash table, bitmap and (optionally) data."""

    address: Pubkey
    model: Pubkey
    authority: Pubkey
    version: int
    status: str
    model_sha256: bytes
    chunk_root: bytes
    model_size: int
    chunk_size: int
    chunk_count: int
    chunks_written: int
    hashes_declared: int
    data_offset: int
    format_version: int
    arch: ArchSummary
    file_hash_verified: bool
    created_slot: int
    finalized_slot: int
    activated_slot: int
    retired_slot: int
    lamports: int
    account_size: int
    declared_hashes: list[bytes] = field(repr=False)
    written: list[bool] = field(repr=False)
    # The model bytes as stored (None when only the header region was fetched).
    data: bytes | None = field(default=None, repr=False)

    @classmethod
    def decode(cls, address: Pubkey, raw: bytes, lamports: int, account_size: int) -> VersionInfo:
        """`raw` is the account data, or a prefix of it (then the table, bitmap and data come
        back empty or None as far as they are cut off)."""
        name, f = decode_account(raw[:MODEL_WEIGHTS_LEN])
        if name != "ModelWeights":
            raise ValueError(f"{address} is a {name} account, not a ModelWeights")
        count = f.chunk_count
        table = raw[MODEL_WEIGHTS_LEN : MODEL_WEIGHTS_LEN + 32 * count]
        bitmap_at = MODEL_WEIGHTS_LEN + 32 * count
        bitmap = raw[bitmap_at : bitmap_at + (count + 7) // 8]
        if len(bitmap) < (count + 7) // 8:
            table, bitmap, count_seen = b"", b"", 0
        else:
            count_seen = count
        end = f.data_offset + f.model_size
        data = bytes(raw[f.data_offset : end]) if len(raw) >= end else None
        return cls(
            address=address,
            model=f.model,
            authority=f.authority,
            version=f.version,
            status=VERSION_STATUS.get(f.status, f"unknown({f.status})"),
            model_sha256=bytes(f.model_sha256),
            chunk_root=bytes(f.chunk_root),
            model_size=f.model_size,
            chunk_size=f.chunk_size,
            chunk_count=count,
            chunks_written=f.chunks_written,
            hashes_declared=f.hashes_declared,
            data_offset=f.data_offset,
            format_version=f.format_version,
            arch=ArchSummary.from_idl(f.arch),
            file_hash_verified=bool(f.file_hash_verified),
            created_slot=f.created_slot,
            finalized_slot=f.finalized_slot,
            activated_slot=f.activated_slot,
            retired_slot=f.retired_slot,
            lamports=lamports,
            account_size=account_size,
            declared_hashes=[bytes(table[32 * i : 32 * i + 32]) for i in range(count_seen)],
            written=[bool(bitmap[i >> 3] >> (i & 7) & 1) for i in range(count_seen)],
            data=data,
        )

    def undeclared(self) -> list[int]:
        return [i for i, h in enumerate(self.declared_hashes) if h == ZERO_HASH]

    def missing(self) -> list[int]:
        return [i for i, w in enumerate(self.written) if not w]


@dataclass(frozen=True)
class PageInfo:
    """A `ModelPage` upload staging account."""

    address: Pubkey
    weights: Pubkey
    authority: Pubkey
    model_size: int
    chunk_size: int
    page_index: int
    first_chunk: int
    chunk_count: int
    written_mask: int
    lamports: int

    @classmethod
    def decode(cls, address: Pubkey, data: bytes, lamports: int) -> PageInfo:
        name, f = decode_account(data[:MODEL_PAGE_LEN])
        if name != "ModelPage":
            raise ValueError(f"{address} is a {name} account, not a ModelPage")
        return cls(
            address,
            f.weights,
            f.authority,
            f.model_size,
            f.chunk_size,
            f.page_index,
            f.first_chunk,
            f.chunk_count,
            f.written,
            lamports,
        )

    def written(self, chunk: int) -> bool:
        return bool(self.written_mask >> (chunk - self.first_chunk) & 1)

    @property
    def complete(self) -> bool:
        return self.written_mask == (1 << self.chunk_count) - 1
