"""Instructions and state of ``risk_gate``, the example program that calls ``infer`` by CPI
(``programs/risk_gate``, docs/cpi.md): a lamport vault that lends only when a model approves.

The program uses one-byte instruction tags, not Anchor discriminators: it is a plain pinocchio
consumer of ``ml_agent_cpi``, the way a third-party program would be.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account

from .artifacts import REPO_ROOT
from .program import PROGRAM_ID as ML_AGENT_ID

GATE_LEN = 112
MAGIC = b"RISKGATE"
# Custom errors (programs/risk_gate/src/lib.rs `errors`).
DENIED, BAD_GATE, WRONG_MODEL, BAD_AMOUNT = 6000, 6001, 6002, 6003


def risk_gate_so_path(*, embedded: bool = True) -> Path:
    """The example consumer's ELF: the SBPF v0 build for the embedded LiteSVM (solders 0.26
    cannot load v3), the deployable SBPF v3 build otherwise (scripts/build-program.sh)."""
    name = "risk_gate-sbpf-v0.so" if embedded else "risk_gate.so"
    return REPO_ROOT / "target" / "deploy" / name


def feature_fx(lamports: int, cap: int) -> int:
    """The Q16.16 feature the gate computes from a lamport amount: lamports / 2^30 (about
    1.07 SOL per unit), i.e. ``lamports >> 14``, capped at the model's upper bound."""
    return min(lamports >> 14, cap)


@dataclass(frozen=True)
class GateState:
    admin: Pubkey
    model: Pubkey
    approve_class: int
    min_confidence_q16: int
    max_amount: int
    floor: int
    caps: tuple[int, int]
    lent: int

    @classmethod
    def decode(cls, data: bytes) -> GateState:
        if len(data) != GATE_LEN or data[:8] != MAGIC:
            raise ValueError("not an initialized risk_gate account")
        cls_, conf, max_amount, floor, cap0, cap1, lent = struct.unpack_from("<IIQQiiQ", data, 72)
        return cls(
            Pubkey(data[8:40]),
            Pubkey(data[40:72]),
            cls_,
            conf,
            max_amount,
            floor,
            (cap0, cap1),
            lent,
        )


def create_gate_account(program: Pubkey, payer: Pubkey, gate: Pubkey, lamports: int) -> Instruction:
    """System-program creation of the gate account (``lamports`` becomes its floor)."""
    return create_account(
        CreateAccountParams(
            from_pubkey=payer, to_pubkey=gate, lamports=lamports, space=GATE_LEN, owner=program
        )
    )


def init_gate(
    program: Pubkey,
    admin: Pubkey,
    gate: Pubkey,
    model: Pubkey,
    *,
    approve_class: int,
    min_confidence_q16: int,
    max_amount: int,
    caps: tuple[int, int],
) -> Instruction:
    data = (
        bytes([0])
        + bytes(model)
        + struct.pack("<IIQii", approve_class, min_confidence_q16, max_amount, *caps)
    )
    return Instruction(
        program, data, [AccountMeta(admin, True, False), AccountMeta(gate, True, True)]
    )


def borrow(
    program: Pubkey,
    borrower: Pubkey,
    gate: Pubkey,
    model: Pubkey,
    weights: Pubkey,
    amount: int,
    *,
    ml_agent: Pubkey = ML_AGENT_ID,
) -> Instruction:
    return Instruction(
        program,
        bytes([1]) + struct.pack("<Q", amount),
        [
            AccountMeta(borrower, True, True),
            AccountMeta(gate, False, True),
            AccountMeta(ml_agent, False, False),
            AccountMeta(model, False, False),
            AccountMeta(weights, False, False),
        ],
    )
