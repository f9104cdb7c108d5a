"""Extracting the program's custom error code from solders transaction errors."""

from __future__ import annotations

import re
from typing import Any

_CUSTOM = re.compile(r"Custom\((\d+)\)")


def custom_error_code(err: Any) -> int | None:
    """Return N from `InstructionError(i, Custom(N))`, whatever shape the backend gives it in
    (solders objects, JSON dicts, or their string forms)."""
    if err is None:
        return None
    if isinstance(err, dict):
        ie = err.get("InstructionError")
        if isinstance(ie, list) and len(ie) == 2 and isinstance(ie[1], dict):
            code = ie[1].get("Custom")
            return int(code) if code is not None else None
        return None
    inner = getattr(err, "err", None)
    code = getattr(inner, "code", None)
    if isinstance(code, int):
        return code
    m = _CUSTOM.search(str(err))
    return int(m.group(1)) if m else None
