"""docs/sdk.md: the package-top SDK surface exists, is documented, and the example runs."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import client

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "sdk.md"
CLASSES = ("ModelRegistry", "InferenceClient", "MarketClient", "AgentClient")


def test_entry_points_import_from_the_package_top() -> None:
    from client import (  # noqa: F401
        AgentClient,
        Chain,
        ChainError,
        Cluster,
        InferenceClient,
        MarketClient,
        ModelRegistry,
        TransactionFailed,
        compile_model,
        connect,
        load_keypair,
        load_model,
        resolve_url,
    )

    assert set(client.__all__) <= set(dir(client))
    with pytest.raises(AttributeError):
        _ = client.no_such_name  # type: ignore[attr-defined]
    assert (REPO / "client" / "py.typed").is_file()


@pytest.mark.parametrize("name", CLASSES)
def test_public_classes_and_methods_have_docstrings(name: str) -> None:
    cls = getattr(client, name)
    assert inspect.getdoc(cls)
    undocumented = [
        n
        for n, f in inspect.getmembers(cls, inspect.isfunction)
        if not n.startswith("_") and not inspect.getdoc(f)
    ]
    assert undocumented == [], f"{name} methods without a docstring: {undocumented}"


def test_the_documented_example_runs(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    blocks = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), re.M | re.S)
    assert len(blocks) == 1, "docs/sdk.md should hold one complete example"
    script = tmp_path / "example.py"
    script.write_text(blocks[0])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout
    assert re.search(r"^setosa \(0\.\d+\) in \d+ CU$", out, re.M), out
    assert re.search(r"^step 2: \w+ \(\w+\), \d+ CU$", out, re.M), out
    assert re.search(r"at step 3$", out, re.M), out
    assert "refused: NotAgentAuthority" in out, out
