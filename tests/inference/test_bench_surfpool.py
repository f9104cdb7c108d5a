"""The bench's Surfpool column: the same `infer` instructions measured on both runtimes.

LiteSVM (solders 0.26) is an Agave 2.2-era SVM and Surfpool 1.5.0 runs Agave 4.1.2, so their CU
may differ; the bench reports both side by side instead of presenting one as the other. This
checks that the column is measured on the validator (not copied), over the same rows.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from solders.keypair import Keypair

from client.bench.models import iris_mlp
from client.bench.runner import (
    BenchReport,
    fast_chain,
    format_report,
    measure,
    measure_rpc_cu,
)
from client.chain.connect import ensure_program
from client.chain.rpc import RpcChain

pytestmark = pytest.mark.surfpool


async def test_surfpool_column_is_measured_on_the_validator(
    rpc_chain: RpcChain, rpc_payer: Keypair
) -> None:
    model = iris_mlp()
    chain = fast_chain()
    payer = Keypair()
    await chain.airdrop(payer.pubkey(), 100 * 10**9)
    report, _ = await measure(chain, payer, model)

    await ensure_program(rpc_chain, rpc_payer)
    on_surfpool = await measure_rpc_cu(rpc_chain, rpc_payer, [model])
    assert set(on_surfpool) == {model.name}
    sp = on_surfpool[model.name]
    # Same program, same rows: the runtimes' schedules differ by a bounded amount, not by
    # orders of magnitude (a wrong model or a missing log line would).
    assert 0.5 * report.instruction_cu < sp < 2 * report.instruction_cu

    row = replace(report, surfpool_instruction_cu=sp)
    text = format_report(BenchReport("0" * 64, [row], []))
    assert "Surfpool CU" in text and f"{sp:,}" in text and f"{report.instruction_cu:,}" in text
    print(f"{model.name}: LiteSVM {report.instruction_cu} CU, Surfpool {sp} CU")
