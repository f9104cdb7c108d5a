"""Pyth `PriceUpdateV2` accounts, byte for byte (pyth-solana-receiver-sdk layout), for tests and
local clusters: discriminator, write_authority, verification_level (Partial{u8} = 0 / Full = 1),
PriceFeedMessage {feed_id, price, conf, exponent, publish_time, prev_publish_time, ema_price,
ema_conf}, posted_slot."""

from __future__ import annotations

import hashlib
import struct

from solders.pubkey import Pubkey

PYTH_RECEIVER_ID = Pubkey.from_string("rec5EKMGg6MxZYaMdyBfgwp4d5rB9T1VQH5pJv5LtFJ")
PRICE_UPDATE_V2_DISC = hashlib.sha256(b"account:PriceUpdateV2").digest()[:8]
# The receiver allocates the Full-size layout (134 bytes) for every update.
PRICE_UPDATE_V2_LEN = 8 + 32 + 2 + 32 + 8 + 8 + 4 + 8 + 8 + 8 + 8 + 8


def price_update_v2(
    *,
    feed_id: bytes,
    price: int,
    conf: int,
    exponent: int,
    publish_time: int,
    posted_slot: int,
    full: bool = True,
    num_signatures: int = 5,
    write_authority: Pubkey | None = None,
) -> bytes:
    if len(feed_id) != 32:
        raise ValueError("a Pyth feed id is 32 bytes")
    level = b"\x01" if full else bytes([0, num_signatures])
    body = (
        PRICE_UPDATE_V2_DISC
        + bytes(write_authority or Pubkey.default())
        + level
        + feed_id
        + struct.pack(
            "<qQiqqqQ", price, conf, exponent, publish_time, publish_time - 1, price, conf
        )
        + struct.pack("<Q", posted_slot)
    )
    return body.ljust(PRICE_UPDATE_V2_LEN, b"\x00")
