"""Sizes, offsets and hashes of the on-chain model registry (mirrors `state/model.rs`).

The program is the authority on every value here; these mirror it so the client can size the
weights account and plan transactions before asking the chain. `tests/registry` checks them
against the program (a size the program disagrees with is rejected with a specific error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from solders.pubkey import Pubkey

from ..model.format import chunk_hashes, model_sha256
from ..program import PROGRAM_ID, find_pda

MODEL_SEED: Final = b"model"
# Largest account the runtime allows.
MAX_ACCOUNT_SIZE: Final = 10 * 1024 * 1024
# A write_chunk transaction with one signature and three account keys carrying a full chunk is
# exactly 1,232 bytes (the packet limit).
MAX_CHUNK_SIZE: Final = 1012
# The largest chunk @anchor-lang/core can encode: its instruction coder writes into a 1,000-byte
# buffer, and write_chunk's data is 8 (discriminator) + 4 (index) + 4 (length) + the chunk.
# Models uploaded by TypeScript use it; the SDK reads, verifies and updates them like any other.
TS_SAFE_CHUNK_SIZE: Final = 1000 - 8 - 4 - 4
MIN_CHUNK_SIZE: Final = 256
# finalize_version recomputes the whole-file SHA-256 on chain up to this size.
FILE_HASH_MAX_BYTES: Final = 2 * 1024 * 1024
# Upload pages (PDAs created by CPI, so at most 10 KiB) hold this many chunks.
PAGE_SEED: Final = b"page"
PAGE_CHUNKS: Final = 9
# commit_pages takes at most this many pages: the program's entrypoint parses 24 accounts and
# silently drops the rest (two are the authority and the weights).
MAX_PAGES_PER_COMMIT: Final = 22
# Fixed parts of the accounts (discriminator included).
MODEL_HEADER_LEN: Final = 320
MODEL_WEIGHTS_LEN: Final = 224
MODEL_PAGE_LEN: Final = 104
ZERO_HASH: Final = bytes(32)

MODEL_STATUS: Final = {0: "uploading", 1: "ready", 2: "frozen", 3: "closed"}
VERSION_STATUS: Final = {0: "uploading", 1: "finalized", 2: "active", 3: "retired", 4: "closed"}


@dataclass(frozen=True)
class PageLayout:
    """Chunks `first_chunk .. first_chunk + chunk_count` staged in one upload page."""

    index: int
    first_chunk: int
    chunk_count: int
    data_len: int
    space: int

    @property
    def chunks(self) -> range:
        return range(self.first_chunk, self.first_chunk + self.chunk_count)


@dataclass(frozen=True)
class WeightsLayout:
    """Where the hash table, bitmap and model bytes sit in a weights account."""

    model_size: int
    chunk_size: int
    chunk_count: int
    table_offset: int
    bitmap_offset: int
    data_offset: int
    space: int

    @classmethod
    def for_model(cls, model_size: int, chunk_size: int = MAX_CHUNK_SIZE) -> WeightsLayout:
        if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(
                f"chunk size {chunk_size} is outside [{MIN_CHUNK_SIZE}, {MAX_CHUNK_SIZE}]"
            )
        if model_size <= 0:
            raise ValueError("the model file is empty")
        count = -(-model_size // chunk_size)
        table = MODEL_WEIGHTS_LEN
        bitmap = table + 32 * count
        data = (bitmap + -(-count // 8) + 7) & ~7
        space = data + model_size
        if space > MAX_ACCOUNT_SIZE:
            raise ValueError(
                f"a {model_size}-byte model needs a {space}-byte weights account, over the "
                f"{MAX_ACCOUNT_SIZE}-byte (10 MiB) account limit"
            )
        return cls(model_size, chunk_size, count, table, bitmap, data, space)

    def chunk_len(self, index: int) -> int:
        return min(self.chunk_size, self.model_size - index * self.chunk_size)

    @property
    def page_count(self) -> int:
        return -(-self.chunk_count // PAGE_CHUNKS)

    def page(self, index: int) -> PageLayout:
        if not 0 <= index < self.page_count:
            raise IndexError(f"page {index} of {self.page_count}")
        first = index * PAGE_CHUNKS
        count = min(PAGE_CHUNKS, self.chunk_count - first)
        start = first * self.chunk_size
        data_len = min(self.model_size, start + count * self.chunk_size) - start
        return PageLayout(index, first, count, data_len, MODEL_PAGE_LEN + 32 * count + data_len)

    @staticmethod
    def page_of(chunk: int) -> int:
        return chunk // PAGE_CHUNKS


def model_address(creator: Pubkey, model_id: int, program_id: Pubkey = PROGRAM_ID) -> Pubkey:
    """The header PDA: ["model", creator, model_id as u64 LE]."""
    return find_pda([MODEL_SEED, bytes(creator), model_id.to_bytes(8, "little")], program_id)[0]


def page_address(
    weights: Pubkey, authority: Pubkey, index: int, program_id: Pubkey = PROGRAM_ID
) -> Pubkey:
    """An upload page PDA: ["page", weights, authority, index as u32 LE]."""
    seeds = [PAGE_SEED, bytes(weights), bytes(authority), index.to_bytes(4, "little")]
    return find_pda(seeds, program_id)[0]


def default_model_id(model_sha256: bytes) -> int:
    """A model id derived from the file's hash, so rerunning a deploy finds (and resumes) the
    same model instead of creating a new one."""
    return int.from_bytes(model_sha256[:8], "little")


@dataclass(frozen=True)
class ModelHashes:
    """Everything the program is told about a model's content before upload."""

    sha256: bytes
    chunk_hashes: list[bytes]
    chunk_root: bytes

    @classmethod
    def of(cls, data: bytes, chunk_size: int = MAX_CHUNK_SIZE) -> ModelHashes:
        hashes = chunk_hashes(data, chunk_size)
        return cls(model_sha256(data), hashes, chunk_root(hashes))


def chunk_root(hashes: list[bytes]) -> bytes:
    """SHA-256 of the concatenated chunk digests (what finalize_version checks)."""
    return model_sha256(b"".join(hashes))
