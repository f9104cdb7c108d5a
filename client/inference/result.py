"""Typed views of what `infer` returns: the return data, the event, and the CU profile."""

from __future__ import annotations

import hashlib
import itertools
import re
import struct
from dataclasses import dataclass, field

from solders.pubkey import Pubkey

from ..program import coder

# sol_log_compute_units charges this before it logs the remaining units.
LOG_CU_COST = 100
_CONSUMPTION = re.compile(r"^Program consumption: (\d+) units remaining$")


@dataclass(frozen=True)
class ReturnData:
    """Borsh `InferenceResult { class, confidence_q16, outputs }`, decoded from the IDL type."""

    class_id: int
    confidence_q16: int
    outputs: tuple[int, ...]

    @classmethod
    def decode(cls, data: bytes) -> ReturnData:
        r = coder().types.decode("InferenceResult", bytes(data))
        return cls(int(r.class_), int(r.confidence_q16), tuple(int(v) for v in r.outputs))

    @property
    def outputs_sha256(self) -> bytes:
        """What the `Inference` event carries: SHA-256 of the outputs as little-endian i64s."""
        return hashlib.sha256(struct.pack(f"<{len(self.outputs)}q", *self.outputs)).digest()


@dataclass(frozen=True)
class CuProfile:
    """Kernel costs from an `infer` with the LOG_CU flag: the forward pass (feature load and
    quantization plus every op) and each piece, with the logging syscalls subtracted."""

    forward: int
    inputs: int
    ops: tuple[int, ...]

    @classmethod
    def from_logs(cls, logs: list[str]) -> CuProfile | None:
        """Parse the consumption lines of one `infer`: before the pass, after the inputs, after
        each op and after the pass."""
        remaining = [int(m.group(1)) for line in logs if (m := _CONSUMPTION.match(line))]
        if len(remaining) < 3:
            return None
        deltas = [a - b - LOG_CU_COST for a, b in itertools.pairwise(remaining)]
        # The last delta (last op -> after the pass) is only the return from the executor.
        inputs, ops = deltas[0], tuple(deltas[1:-1])
        forward = remaining[0] - remaining[-1] - LOG_CU_COST * (len(remaining) - 1)
        return cls(forward=forward, inputs=inputs, ops=ops)


@dataclass(frozen=True)
class InferenceResult:
    """One on-chain inference, decoded."""

    model: Pubkey
    weights: Pubkey
    version: int
    class_id: int
    confidence_q16: int
    outputs: tuple[int, ...]
    compute_units: int
    signature: str | None
    label: str | None = None
    # Regression outputs are integers worth 2^-out_frac_bits.
    out_frac_bits: int = 0
    is_classifier: bool = True
    cu_profile: CuProfile | None = None
    # The Inference event's digest (verified against the return data).
    outputs_sha256: bytes = field(default=b"", repr=False)

    @property
    def confidence(self) -> float:
        return self.confidence_q16 / 65536.0

    @property
    def values(self) -> tuple[float, ...]:
        """Outputs as reals: Q16 probabilities / vote sums for classifiers (divided by 2^16),
        regression values scaled by 2^-out_frac_bits."""
        scale = 2.0**-16 if self.is_classifier else 2.0**-self.out_frac_bits
        return tuple(v * scale for v in self.outputs)

    def same_numbers(self, other: ReturnData) -> bool:
        return (self.class_id, self.confidence_q16, self.outputs) == (
            other.class_id,
            other.confidence_q16,
            other.outputs,
        )


def return_data_from_logs(logs: list[str], program_id: Pubkey) -> list[bytes]:
    """Return data of each instruction of `program_id` in a transaction, in order, from the
    runtime's `Program return:` log lines (the transaction's own return data is only the last)."""
    import base64

    prefix = f"Program return: {program_id} "
    return [base64.b64decode(line[len(prefix) :]) for line in logs if line.startswith(prefix)]
