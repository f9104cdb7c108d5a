"""Features accounts: an input vector held on chain by its owner (PDA ``["features", owner,
id]``), so a model's input is bounded by account size rather than by the 1,232-byte
transaction. Anyone may read one: ``infer(..., features_account=...)`` and jobs take their
input from it.

    acc = await create_features(chain, owner, values_fx)      # create + write in pieces
    result = await client.infer(model, features_account=acc)
    await close_features(chain, owner, acc)                    # rent back
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from ..chain.base import Chain
from ..program import PROGRAM_ID, build_ix, find_pda
from .errors import InferenceError

FEATURES_SEED = b"features"
# state/features.rs: the fixed part, then count little-endian i32.
FEATURES_HEADER = 72
# The 10 KiB a program can allocate in one instruction, less the fixed part.
MAX_FEATURE_VALUES = (10 * 1024 - FEATURES_HEADER) // 4
# Values per write_features transaction: 1,232 bytes minus a signature, three keys, the
# blockhash, the instruction framing and the 16 bytes of discriminator, offset and length.
WRITE_CHUNK_VALUES = 240


def features_address(owner: Pubkey, features_id: int, program_id: Pubkey = PROGRAM_ID) -> Pubkey:
    return find_pda([FEATURES_SEED, bytes(owner), features_id.to_bytes(8, "little")], program_id)[0]


def create_features_ix(owner: Pubkey, features_id: int, count: int) -> Instruction:
    return build_ix(
        "create_features",
        {"id": features_id, "count": count},
        {"owner": owner, "features": features_address(owner, features_id)},
    )


def write_features_ix(
    owner: Pubkey, address: Pubkey, offset: int, values_fx: Sequence[int]
) -> Instruction:
    return build_ix(
        "write_features",
        {"offset": offset, "values": [int(v) for v in values_fx]},
        {"owner": owner, "features": address},
    )


def close_features_ix(owner: Pubkey, address: Pubkey) -> Instruction:
    return build_ix("close_features", {}, {"owner": owner, "features": address})


@dataclass(frozen=True)
class FeaturesInfo:
    """A features account, decoded."""

    address: Pubkey
    owner: Pubkey
    features_id: int
    updated_slot: int
    writes: int
    values_fx: tuple[int, ...]
    lamports: int


def decode_features(address: Pubkey, data: bytes, lamports: int = 0) -> FeaturesInfo:
    from ..program import coder

    if len(data) < FEATURES_HEADER or data[:8] != bytes(
        coder().accounts.acc_name_to_discriminator["FeaturesAccount"]
    ):
        raise InferenceError(f"{address} is not a features account")
    owner = Pubkey.from_bytes(data[8:40])
    features_id, updated_slot, count, writes = struct.unpack_from("<QQII", data, 40)
    values = struct.unpack_from(f"<{count}i", data, FEATURES_HEADER)
    return FeaturesInfo(address, owner, features_id, updated_slot, writes, values, lamports)


async def read_features(chain: Chain, address: Pubkey) -> FeaturesInfo:
    acc = await chain.get_account(address)
    if acc is None:
        raise InferenceError(f"features account {address} does not exist on {chain.name}")
    if acc.owner != PROGRAM_ID:
        raise InferenceError(f"{address} is not owned by the ml_agent program")
    return decode_features(address, bytes(acc.data), acc.lamports)


async def write_features(
    chain: Chain, owner: Keypair, address: Pubkey, values_fx: Sequence[int], offset: int = 0
) -> int:
    """Write `values_fx` from `offset`, one transaction per `WRITE_CHUNK_VALUES`; returns the
    number of transactions."""
    txs = 0
    for start in range(0, len(values_fx), WRITE_CHUNK_VALUES):
        piece = values_fx[start : start + WRITE_CHUNK_VALUES]
        await chain.send([write_features_ix(owner.pubkey(), address, offset + start, piece)], owner)
        txs += 1
    return txs


async def create_features(
    chain: Chain,
    owner: Keypair,
    values_fx: Sequence[int] | None = None,
    *,
    count: int | None = None,
    features_id: int | None = None,
) -> Pubkey:
    """Create a features account (a random id unless given) of `count` values (default:
    `len(values_fx)`) and write `values_fx` into it."""
    n = count if count is not None else len(values_fx or ())
    if not 1 <= n <= MAX_FEATURE_VALUES:
        raise InferenceError(f"a features account holds 1..{MAX_FEATURE_VALUES} values, not {n}")
    fid = features_id if features_id is not None else secrets.randbits(63)
    address = features_address(owner.pubkey(), fid)
    await chain.send([create_features_ix(owner.pubkey(), fid, n)], owner)
    if values_fx:
        await write_features(chain, owner, address, values_fx)
    return address


async def close_features(chain: Chain, owner: Keypair, address: Pubkey) -> None:
    await chain.send([close_features_ix(owner.pubkey(), address)], owner)
