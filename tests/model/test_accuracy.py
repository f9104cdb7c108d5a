"""The accuracy report on one small dataset, the payload target and the CLI hook."""

from __future__ import annotations

import argparse
import asyncio
import json

import pytest

from client.model import accuracy


def test_iris_report_meets_targets_and_payload_budget() -> None:
    rows = [
        r
        for m in ("mlp", "logistic_regression", "decision_tree")
        for r in accuracy.evaluate_classifier("iris", m)
    ]
    assert {(r.model, r.precision) for r in rows} == {
        ("mlp", "int8"),
        ("mlp", "int16"),
        ("mlp", "auto"),
        ("logistic_regression", "int8"),
        ("logistic_regression", "int16"),
        ("logistic_regression", "auto"),
        ("decision_tree", accuracy.TREE_PRECISION),
    }
    for row in rows:
        assert row.meets_targets, row
        assert 0 < row.payload_bytes < row.model_bytes
    mlp8 = next(r for r in rows if r.model == "mlp" and r.precision == "int8")
    assert mlp8.payload_bytes < 200  # the 4-8-3 iris MLP target


def test_regression_rows_on_diabetes() -> None:
    rows = accuracy.evaluate_regressor("diabetes", "linear_regression", (16,))
    assert len(rows) == 1 and rows[0].precision == "int16"
    assert abs(rows[0].quant_r2 - rows[0].float_r2) < 1e-3


def test_register_adds_the_accuracy_command(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="client")
    sub = parser.add_subparsers(dest="command", required=True)
    accuracy.register(sub)
    args = parser.parse_args(
        [
            "accuracy",
            "--json",
            "--datasets",
            "iris",
            "--models",
            "mlp",
            "--no-regression",
            "--generated",
            "0",
        ]
    )
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert asyncio.run(args.handler(args, None)) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == out["rows"]
    assert out["iris_mlp_int8_payload_bytes"] < 200
    assert [r["precision"] for r in out["rows"]] == ["int8", "int16", "auto"]
    assert out["all_met"] and all(r["status"] == "met" for r in out["rows"])
    assert all(r["meets_targets"] for r in out["rows"])


def test_generated_suite_covers_random_architectures() -> None:
    cls_rows, reg_rows = accuracy.generated_suite(4, ("auto",))
    assert {r.precision for r in [*cls_rows, *reg_rows]} == {"auto"}
    assert len(cls_rows) == 2 and len(reg_rows) >= 2
    assert any(r.n_outputs > 1 for r in reg_rows)  # multi-output regressors
    for r in cls_rows:
        assert r.model.startswith("mlp ") and r.layers
    for g in reg_rows:
        assert g.meets_targets, g
        assert g.quant_mae > 0 and g.float_mae > 0
