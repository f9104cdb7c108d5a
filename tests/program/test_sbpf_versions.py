"""The two builds of the program and who can run them.

`target/deploy/ml_agent.so` is SBPF v3: the only version an Agave 4.x validator with its default
features (SIMD-0500, `disable_sbpf_v0_v1_v2_deployment`) lets anyone deploy or upgrade.
`target/deploy/ml_agent-sbpf-v0.so` is the same LLVM output assembled as v0, for solders 0.26's
LiteSVM, which cannot load v3. These tests pin both facts, and fail when the reason for the v0
build goes away (solders gains v3, or its pins loosen), so the v0 build can be dropped then.
Parity of the two builds: tests/inference/test_sbpf_parity.py.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from importlib.metadata import requires, version

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from client.artifacts import (
    embedded_so_path,
    program_so_path,
    read_embedded_so,
    read_program_so,
    sbpf_version,
)
from client.chain.base import ChainError, TransactionFailed
from client.chain.litesvm import LiteSvmChain
from client.chain.loader import PROGRAMDATA_METADATA_SIZE, programdata_address
from client.chain.rpc import RpcChain
from client.program import build_ix, ping_record_address

SIMD_0500_LOG = "Detected sbpf_version required by the executable which are not enabled"


def test_deployable_build_is_sbpf_v3_and_embedded_build_is_v0() -> None:
    assert sbpf_version(read_program_so()) == 3, program_so_path()
    assert sbpf_version(read_embedded_so()) == 0, embedded_so_path()
    with pytest.raises(ValueError, match="not an ELF"):
        sbpf_version(b"MZ" + bytes(100))


def test_embedded_litesvm_refuses_v3_with_a_clear_error() -> None:
    with pytest.raises(ChainError, match=r"SBPF v3 ELF.*ml_agent-sbpf-v0\.so"):
        LiteSvmChain().add_program(Pubkey.new_unique(), read_program_so())


def test_solders_litesvm_still_cannot_load_v3() -> None:
    """Fails once the pinned solders loads v3: then the v0 build has no reason to exist."""
    code = (
        "import sys\n"
        "from solders.litesvm import LiteSVM\n"
        "from solders.pubkey import Pubkey\n"
        "LiteSVM().add_program(Pubkey.new_unique(), open(sys.argv[1], 'rb').read())\n"
    )
    # solders panics (a BaseException) in Rust; a subprocess keeps that out of pytest.
    proc = subprocess.run(
        [sys.executable, "-c", code, str(program_so_path())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0, "solders' LiteSVM now loads SBPF v3: drop the v0 build"
    assert "InvalidAccountData" in proc.stderr, proc.stderr[-2000:]


def test_why_solders_is_pinned_below_the_versions_that_load_v3() -> None:
    """solders >= 0.28 (the first LiteSVM that loads v3) needs solana-py >= 0.40.1, which needs
    construct-typing >= 0.6.2; anchorpy3 and borsh-construct pin construct-typing < 0.6. When
    any of these pins changes, re-check whether the embedded LiteSVM can move to v3."""

    def pins(dist: str, name: str) -> list[str]:
        return [r.replace(" ", "") for r in requires(dist) or [] if r.startswith(name)]

    assert version("solders") == "0.26.0"
    assert version("solana") == "0.36.6"
    assert pins("solana", "solders") == ["solders(>=0.23,<0.27)"]
    for dist in ("anchorpy3", "borsh-construct"):
        found = pins(dist, "construct-typing")
        assert found and all("<0.6" in p for p in found), (dist, found)


# ---------------------------------------------------------------- solana-test-validator


@pytest.mark.parametrize("rpc_endpoint", ["test_validator"], indirect=True)
async def test_test_validator_with_default_features_runs_v3_and_refuses_v0(
    rpc_chain: RpcChain, rpc_payer: Keypair
) -> None:
    """No --deactivate-feature: the validator as shipped. The deployed bytes are SBPF v3 and
    run; the v0 build of the same program is refused at deployment."""
    program = Keypair()
    deployed = await rpc_chain.deploy(program, read_program_so(), rpc_payer)
    programdata = await rpc_chain.get_account(programdata_address(deployed.program_id))
    assert programdata is not None
    elf = bytes(programdata.data)[PROGRAMDATA_METADATA_SIZE:]
    assert sbpf_version(elf) == 3
    assert elf[: len(read_program_so())] == read_program_so()

    record = ping_record_address(rpc_payer.pubkey(), deployed.program_id)
    ping = build_ix(
        "ping",
        {"payload": b"v3"},
        {"authority": rpc_payer.pubkey(), "ping_record": record},
        program_id=deployed.program_id,
    )
    res = await rpc_chain.send([ping], rpc_payer)
    assert res.ok and res.return_data == struct.pack("<Q", 1) and res.compute_units > 0

    with pytest.raises(TransactionFailed) as refused:
        await rpc_chain.deploy(Keypair(), read_embedded_so(), rpc_payer)
    logs = "\n".join(refused.value.result.logs)
    assert SIMD_0500_LOG in logs, (refused.value.result.error, logs)
