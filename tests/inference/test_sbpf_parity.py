"""The two builds agree: the SBPF v0 build on LiteSVM and the deployable SBPF v3 build on a real
validator (Surfpool; solana-test-validator too when installed) return the same numbers, the
same event, and the same per-op CU split on every golden model, with CU side by side.

This is what lets the fast LiteSVM tests stand in for the deployed program (docs/toolchain.md).
"""

from __future__ import annotations

import pytest
from solders.keypair import Keypair

from client.artifacts import read_program_so, sbpf_version
from client.chain.connect import ensure_program
from client.chain.loader import PROGRAMDATA_METADATA_SIZE, programdata_address
from client.chain.rpc import RpcChain
from client.inference import InferenceClient
from client.program import PROGRAM_ID
from client.registry import ModelRegistry
from tests.validators import over_rpc_backends

from .conftest import Fleet, golden_bytes, golden_doc, golden_names

pytestmark = pytest.mark.surfpool

CASES_PER_MODEL = 3
# Measured: the same CU to the unit on every golden case (both builds are one LLVM output; the
# hot paths use no instruction whose v3 encoding costs more, such as lddw). The bound only
# catches a regression that would make the deployed program dearer than the LiteSVM numbers the
# bench reports; `python -m client bench --sbpf` shows the exact figures.
MAX_CU_RATIO = 1.15


@over_rpc_backends
async def test_v0_on_litesvm_and_v3_on_a_validator_agree(
    fleet: Fleet,
    rpc_chain: RpcChain,
    rpc_payer: Keypair,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await ensure_program(rpc_chain, rpc_payer)
    # What runs there is the v3 build, byte for byte.
    programdata = await rpc_chain.get_account(programdata_address(PROGRAM_ID))
    assert programdata is not None
    elf = bytes(programdata.data)[PROGRAMDATA_METADATA_SIZE:]
    assert sbpf_version(elf) == 3 and elf.startswith(read_program_so())
    registry = ModelRegistry(rpc_chain, rpc_payer)
    client = InferenceClient(rpc_chain, rpc_payer, log_limit=None)
    table: list[tuple[str, int, int]] = []
    for name in golden_names():
        deployed = await registry.deploy(golden_bytes(name))
        v3_handle = await client.model(deployed.model)
        v0_handle = fleet.handles[name]
        for i, case in enumerate(golden_doc(name)["cases"][:CASES_PER_MODEL]):
            label = f"{name}/{case['name']}"
            log_cu = i == 0
            # cross_check: each side also verifies its Inference event against its return data.
            v0 = await fleet.client.infer(
                v0_handle, features_fx=case["features_fx"], cross_check=True, log_cu=log_cu
            )
            v3 = await client.infer(
                v3_handle, features_fx=case["features_fx"], cross_check=True, log_cu=log_cu
            )
            assert v3.outputs == v0.outputs == tuple(case["outputs"]), label
            assert (v3.class_id, v3.confidence_q16) == (v0.class_id, v0.confidence_q16), label
            assert v3.outputs_sha256 == v0.outputs_sha256, label
            assert v3.version == v0.version == 1, label
            if log_cu:
                assert v0.cu_profile is not None and v3.cu_profile is not None, label
                assert len(v3.cu_profile.ops) == len(v0.cu_profile.ops), label
            assert v3.compute_units <= v0.compute_units * MAX_CU_RATIO, (
                label,
                v0.compute_units,
                v3.compute_units,
            )
            table.append((label, v0.compute_units, v3.compute_units))

    with capsys.disabled():
        print(f"\nCU per infer, SBPF v0 on LiteSVM vs v3 on {rpc_chain.name}:")
        for label, c0, c3 in table:
            print(f"  {label:<48} {c0:>7,} {c3:>7,} {100 * (c3 - c0) / c0:+6.1f}%")
    assert len(table) >= CASES_PER_MODEL * len(golden_names()) - 5
