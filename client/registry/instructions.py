"""Instruction builders for the registry, all encoded from the IDL by `client.program.build_ix`."""

from __future__ import annotations

from solders.instruction import Instruction
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account

from ..program import PROGRAM_ID, build_ix
from .accounts import ArchSummary
from .layout import ModelHashes, WeightsLayout


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


def declare_chunk_hashes(
    authority: Pubkey, weights: Pubkey, start: int, hashes: list[bytes]
) -> Instruction:
    return build_ix(
        "declare_chunk_hashes",
        {"start": start, "hashes": hashes},
        {"authority": authority, "weights": weights},
    )


def write_chunk(authority: Pubkey, weights: Pubkey, index: int, data: bytes) -> Instruction:
    return build_ix(
        "write_chunk",
        {"index": index, "data": data},
        {"authority": authority, "weights": weights},
    )


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
