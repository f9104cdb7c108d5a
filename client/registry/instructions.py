"""Instruction builders for the registry, all encoded from the IDL by `client.program.build_ix`."""

from __future__ import annotations

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account

from ..program import PROGRAM_ID, build_ix
from .accounts import ArchSummary
from .layout import ModelHashes, PageLayout, WeightsLayout, page_address


def version_params(
    layout: WeightsLayout, hashes: ModelHashes, arch: ArchSummary, format_version: int
) -> dict[str, object]:
    return {
        "format_version": format_version,
        "arch": arch.to_idl(),
        "model_size": layout.model_size,
        "chunk_size": layout.chunk_size,
        "model_sha256": hashes.sha256,
        "chunk_root": hashes.chunk_root,
    }


def create_weights_account(
    payer: Pubkey, weights: Pubkey, layout: WeightsLayout, lamports: int
) -> Instruction:
    """System-program creation of a weights account owned by the program (it claims it next)."""
    return create_account(
        CreateAccountParams(
            from_pubkey=payer,
            to_pubkey=weights,
            lamports=lamports,
            space=layout.space,
            owner=PROGRAM_ID,
        )
    )


def create_model(
    authority: Pubkey, model: Pubkey, weights: Pubkey, model_id: int, params: dict[str, object]
) -> Instruction:
    return build_ix(
        "create_model",
        {"model_id": model_id, "params": params},
        {"authority": authority, "model": model, "weights": weights},
    )


def create_version(
    authority: Pubkey, model: Pubkey, weights: Pubkey, params: dict[str, object]
) -> Instruction:
    return build_ix(
        "create_version",
        {"params": params},
        {"authority": authority, "model": model, "weights": weights},
    )


def open_page(
    authority: Pubkey, weights: Pubkey, page: PageLayout, layout: WeightsLayout, hashes: list[bytes]
) -> Instruction:
    """Create upload page `page.index` of `weights`, declaring its chunks' SHA-256s."""
    return build_ix(
        "open_page",
        {
            "weights": weights,
            "page_index": page.index,
            "model_size": layout.model_size,
            "chunk_size": layout.chunk_size,
            "hashes": hashes[page.first_chunk : page.first_chunk + page.chunk_count],
        },
        {"authority": authority, "page": page_address(weights, authority, page.index)},
    )


def write_chunk(authority: Pubkey, page: Pubkey, index: int, data: bytes) -> Instruction:
    return build_ix(
        "write_chunk",
        {"index": index, "data": data},
        {"authority": authority, "page": page},
    )


def commit_pages(authority: Pubkey, weights: Pubkey, pages: list[Pubkey]) -> Instruction:
    return build_ix(
        "commit_pages",
        {},
        {"authority": authority, "weights": weights},
        remaining=[AccountMeta(p, is_signer=False, is_writable=True) for p in pages],
    )


def close_page(authority: Pubkey, page: Pubkey) -> Instruction:
    return build_ix("close_page", {}, {"authority": authority, "page": page})


def finalize_version(authority: Pubkey, model: Pubkey, weights: Pubkey) -> Instruction:
    return build_ix(
        "finalize_version", {}, {"authority": authority, "model": model, "weights": weights}
    )


def activate_version(
    authority: Pubkey, model: Pubkey, weights: Pubkey, previous: Pubkey | None
) -> Instruction:
    accounts = {"authority": authority, "model": model, "weights": weights}
    if previous is not None:
        accounts["previous_weights"] = previous
    return build_ix("activate_version", {}, accounts)


def freeze_model(authority: Pubkey, model: Pubkey) -> Instruction:
    return build_ix("freeze_model", {}, {"authority": authority, "model": model})


def propose_authority(authority: Pubkey, model: Pubkey, new_authority: Pubkey) -> Instruction:
    return build_ix(
        "propose_authority",
        {"new_authority": new_authority},
        {"authority": authority, "model": model},
    )


def accept_authority(new_authority: Pubkey, model: Pubkey, staged: Pubkey | None) -> Instruction:
    accounts = {"new_authority": new_authority, "model": model}
    if staged is not None:
        accounts["staged_weights"] = staged
    return build_ix("accept_authority", {}, accounts)


def close_version(authority: Pubkey, model: Pubkey, weights: Pubkey) -> Instruction:
    return build_ix(
        "close_version", {}, {"authority": authority, "model": model, "weights": weights}
    )


def close_model(
    authority: Pubkey, model: Pubkey, active: Pubkey | None, staged: Pubkey | None
) -> Instruction:
    accounts = {"authority": authority, "model": model}
    if active is not None:
        accounts["active_weights"] = active
    if staged is not None:
        accounts["staged_weights"] = staged
    return build_ix("close_model", {}, accounts)
