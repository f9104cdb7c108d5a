"""docs/first-model.md, executed: every command of the walkthrough, in order, as written.

The commands are parsed out of the document's ```bash blocks, so the document and this test
cannot drift apart. Only two things differ from a user's shell, neither inside a command:
the `localnet` lines get `--rpc-port <free port>` appended (a validator the user runs on 8899 is
never touched), and $HOME is a temporary directory whose Solana CLI config points
`json_rpc_url` at that port (the commands run without --url, as the document shows).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "first-model.md"

pytestmark = pytest.mark.surfpool


def doc_commands() -> list[str]:
    """The shell commands of the document's ```bash blocks, one per line, in order."""
    commands: list[str] = []
    for block in re.findall(r"^```bash\n(.*?)^```", DOC.read_text(), re.M | re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def _free_port_pair() -> int:
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port < 65_000 and all(_free(p) for p in (port, port + 1)):
            return port
    raise RuntimeError("no two consecutive free ports")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_walkthrough_covers_the_whole_path() -> None:
    text = "\n".join(doc_commands())
    for step in (
        "client localnet --detach",
        "examples/train_iris.py",
        "client compile ",
        "client deploy-model ",
        "client inspect ",
        "client verify ",
        "client infer ",
        "client train ",
        "client agent create ",
        "client agent step ",
        "client localnet stop",
    ):
        assert step in text, f"docs/first-model.md lost its `{step.strip()}` step"
    # The order is the story: a command cannot use what a later one makes.
    order = [text.index(s) for s in ("localnet --detach", "compile", "deploy-model", "infer")]
    assert order == sorted(order)


def test_first_model_walkthrough_runs_as_written(tmp_path: Path) -> None:
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed (apt-get install jq); the walkthrough uses it")
    port = _free_port_pair()
    home = tmp_path / "home"
    (home / ".config" / "solana" / "cli").mkdir(parents=True)
    (home / ".config" / "solana" / "cli" / "config.yml").write_text(
        f'json_rpc_url: "http://127.0.0.1:{port}"\n'
    )
    work = tmp_path / "work"
    work.mkdir()
    (work / "examples").symlink_to(REPO / "examples")
    # `python` in the document is this interpreter.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python").symlink_to(sys.executable)
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p),
    )
    env.pop("ML_AGENT_LOCALNET_DIR", None)

    commands = doc_commands()
    script = ["set -uo pipefail"]
    for i, command in enumerate(commands):
        if re.search(r"client localnet( |$)", command):
            command += f" --rpc-port {port}"
        script.append(f"echo '>>> step {i}: {command.replace(chr(39), '')}' >&2")
        script.append(f"{command} || {{ echo '>>> FAILED step {i}' >&2; exit 1; }}")
    try:
        proc = subprocess.run(
            ["bash", "-c", "\n".join(script)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        # Whatever happened, leave no validator behind.
        subprocess.run(
            [sys.executable, "-m", "client", "localnet", "stop", "--rpc-port", str(port)],
            env=env,
            capture_output=True,
            timeout=60,
        )
    report = f"stdout:\n{proc.stdout[-6000:]}\nstderr:\n{proc.stderr[-6000:]}"
    assert proc.returncode == 0, report
    assert "Traceback" not in proc.stderr, report
    assert f">>> step {len(commands) - 1}:" in proc.stderr, report
    # What the walkthrough promises each step shows.
    assert "OK: the on-chain bytes match every declared hash" in proc.stdout, report
    # inspect shows the accepted feature ranges in real units (iris: cm, within 0..12).
    ranges = re.search(r"^features\s+4, accepted ranges (.*)$", proc.stdout, re.M)
    assert ranges, report
    bounds = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", ranges.group(1))]
    assert len(bounds) == 8 and all(-1 < b < 12 for b in bounds), ranges.group(0)
    assert "labels         setosa, versicolor, virginica" in proc.stdout, report
    assert re.search(r"class \d \((setosa|versicolor|virginica)\)", proc.stdout), report
    assert re.search(r"^CU\s+[\d,]+", proc.stdout, re.M), report
    assert "(running, step 3)" in proc.stdout, report
    assert "stopped localnet pid" in proc.stdout, report
    # And the cluster is really gone.
    assert _free(port), f"port {port} still bound after `localnet stop`"
