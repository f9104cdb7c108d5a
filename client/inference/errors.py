"""Exceptions of the inference SDK."""

from __future__ import annotations

from ..chain.base import ChainError, TxResult
from ..program import error_name


class InferenceError(ChainError):
    """An `infer` transaction (or its simulation) failed; `code`/`name` say which program error."""

    def __init__(self, message: str, result: TxResult | None = None) -> None:
        self.result = result
        self.code = result.custom_error if result is not None else None
        self.name = error_name(self.code) if self.code is not None else None
        detail = f" ({self.name} = {self.code})" if self.code is not None else ""
        super().__init__(f"{message}{detail}")


class ParityError(InferenceError):
    """The chain's result differs from the local bit-exact reference."""

    def __init__(self, message: str, expected: object, got: object) -> None:
        self.expected = expected
        self.got = got
        super().__init__(f"{message}: chain returned {got}, the reference computes {expected}")
