"""Failures reach Anchor clients as typed, named errors: the program logs anchor-lang's
"AnchorError occurred. ..." line, which @anchor-lang/core's `translateError` (what
`program.methods.<ix>().rpc()` calls on a failed send) turns into an `AnchorError` with
`error.errorCode.code`, and anchorpy's `ProgramError.parse_tx_error` decodes from the custom
code. Several failures of different kinds, each checked in all three (and the exact line)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass

import pytest
from anchorpy.error import LangErrorMessage, ProgramError
from anchorpy.program.core import _parse_idl_errors
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.transaction import Transaction
from solders.transaction_metadata import FailedTransactionMetadata

from client.artifacts import REPO_ROOT
from client.chain.litesvm import LiteSvmChain
from client.inference import infer_instruction
from client.program import PROGRAM_ID, anchor_error, build_ix, idl, idl_json, ping_record_address
from client.registry import ModelRegistry
from client.registry import instructions as reg_ix
from tests.inference.conftest import golden_bytes, golden_doc

MODEL = "mlp_int8_compact"
SCRIPT = REPO_ROOT / "scripts" / "anchor-ts" / "errors.cjs"


@dataclass
class Failure:
    name: str
    number: int
    logs: list[str]
    err: object


def message_of(number: int) -> str:
    for e in idl_json()["errors"]:
        if e["code"] == number:
            return str(e["msg"])
    return str(LangErrorMessage[number])  # type: ignore[index]


async def fail(
    svm: LiteSvmChain, payer: Keypair, ixs: list[Instruction], *signers: Keypair
) -> Failure:
    tx = Transaction.new_unsigned(
        Message.new_with_blockhash(ixs, payer.pubkey(), svm.svm.latest_blockhash())
    )
    tx.sign([payer, *signers], svm.svm.latest_blockhash())
    res = svm.svm.send_transaction(tx)
    assert isinstance(res, FailedTransactionMetadata), res
    logs = list(res.meta().logs())
    logged = anchor_error(logs)
    assert logged is not None, logs
    return Failure(logged.name, logged.number, logs, res.err())


def run_ts(cases: list[Failure]) -> list[dict[str, object]]:
    node = shutil.which("node")
    if node is None or not (REPO_ROOT / "node_modules" / "@anchor-lang" / "core").is_dir():
        pytest.fail("node or @anchor-lang/core missing: run `bash scripts/setup.sh`")
    request = json.dumps({"cases": [{"logs": c.logs} for c in cases]})
    proc = subprocess.run(
        [node, str(SCRIPT)], input=request, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    out: list[dict[str, object]] = json.loads(proc.stdout)
    return out


async def test_anchor_clients_raise_named_errors(svm: LiteSvmChain, payer: Keypair) -> None:
    deployed = await ModelRegistry(svm, payer).deploy(golden_bytes(MODEL))
    model, weights = deployed.model, deployed.weights
    n = len(golden_doc(MODEL)["cases"][0]["features_fx"])
    other = Keypair()
    svm.svm.airdrop(other.pubkey(), 10**9)
    rec = ping_record_address(other.pubkey())
    ping = build_ix("ping", {"payload": b"x"}, {"authority": other.pubkey(), "ping_record": rec})
    unsigned_ping = Instruction(
        PROGRAM_ID,
        ping.data,
        [
            AccountMeta(m.pubkey, False, m.is_writable) if m.pubkey == other.pubkey() else m
            for m in ping.accounts
        ],
    )
    expected = [
        ("InstructionMissing", 100, [Instruction(PROGRAM_ID, b"\x01\x02", [])], ()),
        ("InstructionFallbackNotFound", 101, [Instruction(PROGRAM_ID, b"\xee" * 8, [])], ()),
        ("ConstraintSigner", 2002, [unsigned_ping], ()),
        ("WrongAuthority", 6002, [reg_ix.freeze_model(other.pubkey(), model)], (other,)),
        ("FeatureCountMismatch", 6028, [infer_instruction(model, weights, [1] * (n + 1))], ()),
        ("FeatureOutOfRange", 6029, [infer_instruction(model, weights, [2**31 - 1] * n)], ()),
    ]
    failures = []
    for name, number, ixs, signers in expected:
        payer_kp = signers[0] if signers else payer
        f = await fail(svm, payer_kp, ixs)
        assert (f.name, f.number) == (name, number), f.logs
        # The exact line anchor-lang's `AnchorError::log` writes.
        line = (
            f"Program log: AnchorError occurred. Error Code: {name}. Error Number: {number}. "
            f"Error Message: {message_of(number)}."
        )
        assert line in f.logs, f.logs
        # anchorpy: the typed ProgramError, decoded from the transaction error.
        pe = ProgramError.parse_tx_error(f.err, _parse_idl_errors(idl()), PROGRAM_ID, f.logs)  # type: ignore[arg-type]
        assert pe is not None and pe.code == number and pe.msg == message_of(number), f.logs
        failures.append(f)

    # @anchor-lang/core: translateError gives an AnchorError whose errorCode.code is the name.
    for f, ts in zip(failures, run_ts(failures), strict=True):
        assert ts == {
            "kind": "AnchorError",
            "code": f.name,
            "number": f.number,
            "message": message_of(f.number),
            "program": str(PROGRAM_ID),
        }, (ts, f.logs)


async def test_errors_of_other_programs_are_not_relabelled(
    svm: LiteSvmChain, payer: Keypair
) -> None:
    # `ping` by an authority with no lamports: the system program's create_account fails with its
    # own custom error 1 (ResultWithNegativeLamports), which the program passes up unchanged. No
    # AnchorError line: a callee's code is not mislabelled as one of ours.
    poor = Keypair()
    rec = ping_record_address(poor.pubkey())
    ping = build_ix("ping", {"payload": b"x"}, {"authority": poor.pubkey(), "ping_record": rec})
    res = await svm.send([ping], payer, [poor], check=False)
    assert not res.ok and res.custom_error == 1, res.logs
    assert anchor_error(res.logs) is None, res.logs
    assert not any("AnchorError" in line for line in res.logs), res.logs
