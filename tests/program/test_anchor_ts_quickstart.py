"""The TypeScript quickstart (examples/ts/quickstart.cjs) on Surfpool: @anchor-lang/core alone
uploads a model in TS-safe 984-byte chunks (two upload pages) and runs `infer`; the result equals
the numpy reference, and the Python SDK reads and verifies what TypeScript uploaded."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from client.artifacts import REPO_ROOT
from client.bench.models import random_mlp
from client.chain.connect import ensure_program
from client.chain.rpc import RpcChain
from client.model import compile_model, encode, execute, features_to_q16
from client.registry import ModelRegistry
from client.registry.layout import TS_SAFE_CHUNK_SIZE
from tests.validators import ValidatorEndpoint

QUICKSTART = REPO_ROOT / "examples" / "ts" / "quickstart.cjs"


def node() -> str:
    exe = shutil.which("node")
    if exe is None or not (REPO_ROOT / "node_modules" / "@anchor-lang" / "core").is_dir():
        pytest.fail("node or @anchor-lang/core missing: run `bash scripts/setup.sh`")
    return exe


async def test_typescript_quickstart_uploads_and_infers(
    rpc_chain: RpcChain, rpc_payer: Keypair, rpc_endpoint: ValidatorEndpoint, tmp_path: Path
) -> None:
    # At the IDL address (shared with the other Surfpool tests), so the Python SDK reads it too.
    await ensure_program(rpc_chain, rpc_payer)
    # An INT8 MLP 64-128-8 (11,584 bytes): 12 chunks of 984 bytes, so two upload pages.
    fm, x = random_mlp([64, 128, 8])
    qm = compile_model(fm, x)
    data = encode(qm)
    row = features_to_q16(x[:1])[0]
    model_file = tmp_path / "mlp.mlag"
    model_file.write_bytes(data)
    keypair_file = tmp_path / "payer.json"
    keypair_file.write_text(json.dumps(list(bytes(rpc_payer))))
    features = ",".join(repr(int(v) / 65536) for v in row)

    proc = subprocess.run(
        [
            node(),
            str(QUICKSTART),
            "--url",
            rpc_chain.url,
            "--ws-url",
            rpc_endpoint.ws_url,
            "--keypair",
            str(keypair_file),
            "--model",
            str(model_file),
            "--features",
            features,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["chunkSize"] == TS_SAFE_CHUNK_SIZE == 984
    assert out["chunks"] == -(-len(data) // 984) == 12 and len(out["pages"]) == 2
    assert out["features"] == [int(v) for v in row]
    want = execute(qm, np.asarray([row]))
    assert out["result"]["class"] == int(want.classes[0])
    assert out["result"]["confidenceQ16"] == int(want.confidence[0])
    assert [int(o) for o in out["result"]["outputs"]] == [int(o) for o in want.outputs[0]]

    # What TypeScript uploaded is a normal model to the Python SDK: active, and its bytes
    # verify against the file.
    registry = ModelRegistry(rpc_chain, rpc_payer)
    report = await registry.verify(Pubkey.from_string(out["model"]), data)
    assert report.ok, report
