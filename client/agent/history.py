"""An agent's feature history (`AgentHistory`, PDA ``["agent_history", agent]``): decoding it
and reading its window the way `agent_step` feeds it to a window model."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solders.pubkey import Pubkey

from ..chain.base import ChainError
from ..program import decode_account, find_pda
from .features import flatten_window

# The fixed head before the ring of i32 values (`AgentHistory::LEN`).
HEAD_LEN = 80


def history_address(agent: Pubkey) -> Pubkey:
    return find_pda([b"agent_history", bytes(agent)])[0]


@dataclass(frozen=True)
class AgentHistoryState:
    address: Pubkey
    agent: Pubkey
    window: int
    n_features: int
    count: int
    head: int
    pushed: int
    last_step: int
    last_slot: int
    created_step: int
    # The `count` vectors held, oldest first.
    vectors: list[list[int]]

    @property
    def full(self) -> bool:
        return self.count == self.window

    def flat(self) -> list[int]:
        """The window a model of `window * n_features` inputs reads (only once `full`)."""
        if not self.full:
            raise ChainError(f"the history holds {self.count} of {self.window} vectors")
        return flatten_window(self.vectors)


def decode_history(address: Pubkey, data: bytes) -> AgentHistoryState:
    name, h = decode_account(data)
    if name != "AgentHistory":
        raise ChainError(f"{address} is a {name}, not an AgentHistory")
    t, f = int(h.window), int(h.n_features)
    if len(data) != HEAD_LEN + 4 * t * f or t == 0 or f == 0:
        raise ChainError(f"{address}: an AgentHistory of {len(data)} bytes for {t} x {f}")
    ring = struct.unpack_from(f"<{t * f}i", data, HEAD_LEN)
    count, head = int(h.count), int(h.head)
    # Oldest first: `count` vectors ending just before `head`.
    order = [(head - count + i) % t for i in range(count)]
    vectors = [list(ring[i * f : (i + 1) * f]) for i in order]
    return AgentHistoryState(
        address,
        h.agent,
        t,
        f,
        count,
        head,
        int(h.pushed),
        int(h.last_step),
        int(h.last_slot),
        int(h.created_step),
        vectors,
    )
