"""Exceptions raised by the model compiler, format codec and executors."""

from __future__ import annotations


class ModelError(Exception):
    """Base class for every error raised by ``client.model``."""


class UnsupportedModelError(ModelError):
    """An importer met an estimator, op, attribute or shape it cannot express in the IR."""


class QuantizationError(ModelError):
    """The compiler refuses a model whose integer arithmetic could overflow or lose precision."""


class InputRangeError(ModelError):
    """A feature lies outside the model's declared per-feature range (the chain rejects it)."""

    def __init__(self, row: int, feature: int, value_fx: int, lo_fx: int, hi_fx: int) -> None:
        self.row = row
        self.feature = feature
        self.value_fx = value_fx
        self.lo_fx = lo_fx
        self.hi_fx = hi_fx
        scale = 65536.0
        super().__init__(
            f"row {row}: feature {feature} = {value_fx / scale:.6g} is outside the declared "
            f"range [{lo_fx / scale:.6g}, {hi_fx / scale:.6g}] (Q16.16 {value_fx} vs "
            f"[{lo_fx}, {hi_fx}]; the chain would reject it)"
        )


class ModelFormatError(ModelError):
    """A model file is truncated, corrupted or of another version.

    ``offset`` is the byte offset from the start of the file of the offending field and
    ``field`` its name as written in docs/model-format.md.
    """

    def __init__(self, offset: int, field: str, message: str) -> None:
        self.offset = offset
        self.field = field
        self.message = message
        super().__init__(f"byte {offset} ({field}): {message}")
