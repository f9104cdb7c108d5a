"""Bench section for inference jobs (`python -m client bench --jobs`).

* A model larger than one transaction: the INT8 MLP 128-560-560-560-560-560-10 (about 1.33M
  MACs, over the 1.4M CU of one `infer`) run to completion as a job with
  `InferenceClient.run_job`: transactions, total CU, CU per step and wall time, on LiteSVM and
  on Surfpool (the SBPF v3 build), each checked bit-exact against the numpy reference.
* The overhead of a job: a model that fits one transaction run by `infer` and by one
  `infer_step` (`create_job` reported apart), same input; and the same `infer` reading its
  input from a features account.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass
from typing import Any

from solders.keypair import Keypair

from ..chain.base import Chain
from ..inference import InferenceClient
from ..inference.client import reference_result
from ..inference.features import create_features
from ..model import compile_model, encode
from ..registry import ModelRegistry
from .models import random_mlp

LARGE_WIDTHS = [128, 560, 560, 560, 560, 560, 10]
SMALL_WIDTHS = [128, 256, 256, 10]


def mlp_bytes(widths: list[int], seed: int) -> bytes:
    fm, x = random_mlp(widths, seed=seed)
    return encode(compile_model(fm, x, 8, prefer="speed", check_feasible=False))


def macs(widths: list[int]) -> int:
    return sum(a * b for a, b in itertools.pairwise(widths))


@dataclass
class JobRow:
    runtime: str
    model: str
    macs: int
    transactions: int
    steps: int
    create_cu: int
    step_cu: list[int]
    total_cu: int
    wall_s: float
    bit_exact: bool


@dataclass
class OverheadRow:
    runtime: str
    model: str
    infer_cu: int
    step_cu: int
    create_job_cu: int
    # The same infer with its input read from a features account (flags bit 1).
    infer_from_account_cu: int

    @property
    def step_overhead_cu(self) -> int:
        """The step alone vs infer (negative: the input check and quantization moved to
        create_job)."""
        return self.step_cu - self.infer_cu

    @property
    def job_overhead_cu(self) -> int:
        """create_job plus the step vs infer: what running a model as a job costs more."""
        return self.create_job_cu + self.step_cu - self.infer_cu


@dataclass
class JobBench:
    rows: list[JobRow]
    overhead: list[OverheadRow]
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "jobs": [asdict(r) for r in self.rows],
            "overhead": [
                {
                    **asdict(o),
                    "step_overhead_cu": o.step_overhead_cu,
                    "job_overhead_cu": o.job_overhead_cu,
                }
                for o in self.overhead
            ],
            "note": self.note,
        }


async def measure_on(chain: Chain, payer: Keypair, runtime: str) -> tuple[JobRow, OverheadRow]:
    registry = ModelRegistry(chain, payer)
    client = InferenceClient(chain, payer, log_limit=None)
    large = await registry.deploy(mlp_bytes(LARGE_WIDTHS, seed=5), check_runnable=False)
    handle = await client.model(large.model)
    row = [int(v) for v in (handle.lo_fx + handle.hi_fx) // 2]
    started = time.perf_counter()
    result, run = await client.run_job(handle, features_fx=row)
    wall = time.perf_counter() - started
    exact = result.same_numbers(reference_result(handle, row))
    job = JobRow(
        runtime=runtime,
        model="MLP " + "-".join(map(str, LARGE_WIDTHS)) + " INT8",
        macs=macs(LARGE_WIDTHS),
        transactions=run.transactions,
        steps=len(run.step_cus),
        create_cu=run.create_cu,
        step_cu=run.step_cus,
        total_cu=run.total_cu,
        wall_s=round(wall, 3),
        bit_exact=exact,
    )
    small = await registry.deploy(mlp_bytes(SMALL_WIDTHS, seed=6))
    sh = await client.model(small.model)
    srow = [int(v) for v in (sh.lo_fx + sh.hi_fx) // 2]
    one = await client.infer(sh, features_fx=srow)
    acc = await create_features(chain, payer, srow)
    from_acc = await client.infer(sh, features_account=acc)
    if from_acc.outputs != one.outputs:
        raise RuntimeError("infer from a features account differs from infer")
    _, srun = await client.run_job(sh, features_fx=srow)
    if len(srun.step_cus) != 1:
        raise RuntimeError(f"the small model took {len(srun.step_cus)} steps, expected one")
    overhead = OverheadRow(
        runtime=runtime,
        model="MLP " + "-".join(map(str, SMALL_WIDTHS)) + " INT8",
        infer_cu=one.compute_units,
        step_cu=srun.step_cus[0],
        create_job_cu=srun.create_cu,
        infer_from_account_cu=from_acc.compute_units,
    )
    return job, overhead


async def run_job_bench(*, surfpool: bool = True) -> JobBench:
    from .runner import fast_chain

    chain = fast_chain()
    payer = Keypair()
    await chain.airdrop(payer.pubkey(), 1_000 * 10**9)
    job, over = await measure_on(chain, payer, "LiteSVM (v0)")
    out = JobBench([job], [over])
    if surfpool:
        from ..chain.connect import ensure_program
        from ..chain.errors import ValidatorNotInstalled
        from ..chain.rpc import RpcChain
        from ..chain.surfpool import Surfpool

        try:
            async with Surfpool.start() as sp:
                rpc = RpcChain(sp.rpc_url, name="surfpool")
                try:
                    payer = Keypair()
                    await rpc.airdrop(payer.pubkey(), 10_000 * 10**9)
                    await ensure_program(rpc, payer)
                    job, over = await measure_on(rpc, payer, "Surfpool (v3)")
                    out.rows.append(job)
                    out.overhead.append(over)
                finally:
                    await rpc.close()
        except ValidatorNotInstalled as e:
            out.note = f"Surfpool rows skipped: {e}"
    return out


def format_job_report(b: JobBench) -> str:
    lines = [
        "Inference jobs (a model over one transaction, run to completion by run_job; "
        "bit-exact = equal to the numpy reference)",
        f"{'runtime':<14} {'model':<36} {'MACs':>10} {'txs':>4} {'steps':>5} "
        f"{'total CU':>10} {'wall s':>7}  bit-exact  CU per step",
    ]
    for r in b.rows:
        lines.append(
            f"{r.runtime:<14} {r.model:<36} {r.macs:>10,} {r.transactions:>4} {r.steps:>5} "
            f"{r.total_cu:>10,} {r.wall_s:>7.2f}  {'yes' if r.bit_exact else 'NO':<9}  "
            + ", ".join(f"{c:,}" for c in r.step_cu)
            + f" (+ create_job {r.create_cu:,})"
        )
    lines.append("")
    lines.append(
        "Job overhead: one infer vs a job of one infer_step over the same model and input "
        "(the step skips the input check and quantization, which create_job does once)"
    )
    lines.append(
        f"{'runtime':<14} {'model':<26} {'infer CU':>9} {'step CU':>9} {'step-infer':>10} "
        f"{'create_job CU':>13} {'job-infer':>10} {'infer, features acct':>20}"
    )
    for o in b.overhead:
        lines.append(
            f"{o.runtime:<14} {o.model:<26} {o.infer_cu:>9,} {o.step_cu:>9,} "
            f"{o.step_overhead_cu:>+10,} {o.create_job_cu:>13,} {o.job_overhead_cu:>+10,} "
            f"{o.infer_from_account_cu:>20,}"
        )
    if b.note:
        lines.append(b.note)
    return "\n".join(lines)
