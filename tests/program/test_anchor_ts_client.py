"""The official TypeScript Anchor client (@anchor-lang/core) reads the generated IDL and agrees
byte for byte with the program and with anchorpy: instruction encoding, account and event
decoding. Runs Node on scripts/anchor-ts/codec.cjs."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import pytest
from solders.keypair import Keypair

from client.artifacts import REPO_ROOT
from client.chain.litesvm import LiteSvmChain
from client.program import build_ix, idl_json, ping_record_address

SCRIPT = REPO_ROOT / "scripts" / "anchor-ts" / "codec.cjs"


def run_codec(request: dict[str, object]) -> dict[str, object]:
    node = shutil.which("node")
    if node is None or not (REPO_ROOT / "node_modules" / "@anchor-lang" / "core").is_dir():
        pytest.fail("node or @anchor-lang/core missing: run `bash scripts/setup.sh`")
    proc = subprocess.run(
        [node, str(SCRIPT)], input=json.dumps(request), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    out: dict[str, object] = json.loads(proc.stdout)
    return out


async def test_typescript_anchor_client_agrees(svm: LiteSvmChain, payer: Keypair) -> None:
    rec = ping_record_address(payer.pubkey())
    payload = b"from python"
    ix = build_ix("ping", {"payload": payload}, {"authority": payer.pubkey(), "ping_record": rec})
    res = await svm.send([ix], payer)
    acc = await svm.get_account(rec)
    assert acc is not None
    data_line = next(line for line in res.logs if line.startswith("Program data: "))

    out = run_codec(
        {
            "instruction": {
                "name": "ping",
                "args": {"payload": base64.b64encode(payload).decode()},
            },
            "account": {"name": "PingRecord", "data": base64.b64encode(bytes(acc.data)).decode()},
            "event": data_line.removeprefix("Program data: "),
        }
    )
    assert base64.b64decode(str(out["instruction"])) == bytes(ix.data)
    account = out["account"]
    assert isinstance(account, dict)
    assert account["authority"] == str(payer.pubkey())
    assert account["count"] == "1"
    assert account["last_payload_len"] == len(payload)
    event = out["event"]
    assert isinstance(event, dict) and event["name"] == "Pinged"
    assert event["data"]["count"] == "1"
    assert event["data"]["authority"] == str(payer.pubkey())
    errors = out["errors"]
    assert isinstance(errors, dict)
    assert errors == {str(e["code"]): e["name"] for e in idl_json()["errors"]}
