"""`python -m client infer` against a deployed model, and the bench's report structure (the
bench's numbers are for `python -m client bench`; no timing is asserted here)."""

from __future__ import annotations

import json

import pytest
from solders.keypair import Keypair

from client.bench.runner import format_report, run_bench
from client.chain.litesvm import LiteSvmChain
from client.cli import build_parser
from client.cli.context import CliContext
from client.config import Cluster
from client.registry import ModelRegistry

from .conftest import golden_bytes, golden_doc


async def test_cli_infer_prints_class_label_confidence_outputs_and_cu(
    svm: LiteSvmChain, payer: Keypair, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed = await ModelRegistry(svm, payer).deploy(golden_bytes("mlp_int8_packed"))
    case = golden_doc("mlp_int8_packed")["cases"][0]
    floats = ",".join(repr(v / 65536) for v in case["features_fx"])
    ctx = CliContext(Cluster("embedded", None), None, True, _chain=svm, _keypair=payer)

    args = build_parser().parse_args(
        ["infer", str(deployed.model), "--features", floats, "--json", "--profile"]
    )
    assert await args.handler(args, ctx) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["class"] == case["class"] and out["outputs"] == case["outputs"]
    assert out["confidence_q16"] == case["confidence_q16"] and out["label"] is not None
    assert out["compute_units"] > 0 and out["kernel_cu"]["forward"] > 0

    ctx.json = False
    args = build_parser().parse_args(["infer", str(deployed.model), "--features", floats])
    assert await args.handler(args, ctx) == 0
    text = capsys.readouterr().out
    assert f"class {case['class']}" in text and "CU" in text

    # Out of range: refused locally with the feature named, exit code 1.
    args = build_parser().parse_args(["infer", str(deployed.model), "--features", "1e4,0,0,0"])
    assert await args.handler(args, ctx) == 1
    assert "feature 0" in capsys.readouterr().err


async def test_bench_reports_every_model_and_its_kernel_costs() -> None:
    report = await run_bench(timing=False, largest_search=False)
    names = [m.name for m in report.models]
    assert names == ["dense128_int8", "iris_mlp_4_8_3", "mlp_12_8_1", "tree_100", "gb_100x6"]
    for m in report.models:
        assert len(m.op_cu) == len(m.op_names) and all(c > 0 for c in m.op_cu)
        assert 0 < m.kernel_cu < m.instruction_cu
        assert m.target is not None and m.target_met is not None
    dense = report.models[0]
    assert dense.macs == 128 * 128 + 128 * 8 and dense.op_cu_per_mac[0] is not None
    trees = report.models[4]
    assert trees.trees == 100 and trees.max_depth <= 6 and trees.nodes > 100
    # infer by CPI from the example consumer (risk_gate) against the same infer sent directly.
    cpi = report.cpi
    assert cpi is not None and len(cpi.cases) >= 4, report.notes
    assert any(c.approved for c in cpi.cases) and not all(c.approved for c in cpi.cases)
    for c in cpi.cases:
        assert 0 < c.direct_cu < c.cpi_cu and c.overhead == c.cpi_cu - c.direct_cu
    # Conv1D rows: every shape bit-exact against the reference, PACKED cheaper than COMPACT.
    conv = {r.name: r for r in report.conv or []}
    assert len(conv) >= 5 and all(r.bit_exact and r.conv_cu > 0 for r in conv.values())
    assert conv["conv60x8_k5_i8"].conv_cu < conv["conv60x8_k5_i8_compact"].conv_cu
    assert all(r.instruction_cu <= r.estimate_cu for r in conv.values())
    text = format_report(report)
    assert "dense128_int8" in text and "CU/MAC" in text
    assert "Conv1D" in text
    assert "CPI overhead over a direct infer" in text
