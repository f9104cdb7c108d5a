"""solders stays at 0.26 for a reason (docs/toolchain.md); this fails the day the reason goes.

The chain: solders >= 0.27 needs a newer solana-py, whose current release needs
construct-typing >= 0.8, while anchorpy3 and borsh-construct cap construct-typing below 0.6.
When the locked versions stop capping it (or solana-py stops capping solders), one of these
assertions fails: move to solders 0.29 and update docs/toolchain.md.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import requires, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
MOVE = "the blocker is gone: move to solders 0.29 (docs/toolchain.md, 'Why ... solders 0.26')"


def _requirement(dist: str, name: str) -> Requirement:
    for text in requires(dist) or []:
        req = Requirement(re.sub(r"\s*\((.*)\)", r"\1", text))
        if req.name.lower().replace("_", "-") == name:
            return req
    raise AssertionError(f"{dist} no longer requires {name}: {MOVE}")


def test_solders_is_pinned_to_026_everywhere() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "solders==0.26.0" in pyproject["project"]["dependencies"]
    assert "solders==0.26.0" in (REPO / "requirements-lock.txt").read_text().split()
    assert Version(version("solders")).release[:2] == (0, 26)


def test_solana_py_still_caps_solders_below_027() -> None:
    req = _requirement("solana", "solders")
    assert not req.specifier.contains("0.27.0") and not req.specifier.contains("0.29.0"), MOVE


def test_anchorpy_and_borsh_construct_still_cap_construct_typing_below_08() -> None:
    # solana-py 0.41.0 (the release that takes solders 0.28/0.29) requires
    # construct-typing>=0.8.1,<0.9 (checked on PyPI when this test was written).
    for dist in ("anchorpy3", "borsh-construct"):
        req = _requirement(dist, "construct-typing")
        assert not req.specifier.contains("0.8.1"), f"{dist} now allows {req}: {MOVE}"
