"""The jobs bench section on LiteSVM: measured, not copied (its rows come from real runs)."""

from __future__ import annotations

from client.bench.jobs import LARGE_WIDTHS, format_job_report, macs, run_job_bench


async def test_the_jobs_bench_runs_a_model_over_one_transaction_bit_exact() -> None:
    b = await run_job_bench(surfpool=False)
    (row,) = b.rows
    assert row.bit_exact and row.macs == macs(LARGE_WIDTHS) > 1_000_000
    assert row.steps >= 2 and row.transactions == row.steps + 1
    assert row.total_cu == row.create_cu + sum(row.step_cu) > 1_400_000
    assert all(c <= 1_400_000 for c in row.step_cu)
    (o,) = b.overhead
    assert o.infer_cu > 0 and o.step_cu > 0 and o.create_job_cu > 0
    text = format_job_report(b)
    assert f"{row.total_cu:,}" in text and f"{o.job_overhead_cu:+,}" in text
    assert b.to_json()["overhead"][0]["job_overhead_cu"] == o.job_overhead_cu
