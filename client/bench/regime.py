"""The regime models on chain (issue 15 end to end): parity with the reference, and the bench.

Each regime ONNX file (``tests/fixtures/regime``) is compiled through the project's importer and
compiler (``sequence_accuracy.compile_regime_onnx``, calibrated on 2,048 training windows),
deployed through the registry, and run on held-out 120 x 5 windows (600 Q16.16 features, time
major) the way a client runs it:

* the window is written to a features account (600 values: three ``write_features``
  transactions; an ``infer`` carrying them would be 2,689 bytes, over the 1,232-byte packet);
* a model that fits one transaction runs as one ``infer`` reading that account;
* a model over one transaction runs as an inference job: ``create_job`` snapshots the account,
  ``infer_step`` transactions advance it, ``close_job`` returns the rent.

``run_parity`` checks every window's class and outputs against the numpy reference executor,
bit for bit. For bulk runs it drives the job directly (``infer_step(0)``: the program's own
bound budget, no simulation per step, which halves LiteSVM's work); ``bench_regime`` runs one
window through the SDK's ``InferenceClient.infer_large`` (each step sized from a simulation),
the path a user takes, and reports its transactions, CU and wall time.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from solders.compute_budget import set_compute_unit_limit
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from ..chain.base import Chain
from ..inference import InferenceClient
from ..inference.client import infer_instruction, reference_result
from ..inference.features import close_features, create_features, write_features
from ..inference.jobs import (
    close_job_ix,
    create_job_ix,
    infer_step_ix,
    job_address,
    new_job_id,
    read_job,
)
from ..model.feasibility import MAX_TX_CU, assess
from ..model.format import decode
from ..model.reference import clip_to_range, execute
from ..registry import ModelRegistry

# What runs on chain: the GRU-32 and LSTM-64 as jobs, the 11-channel Conv1D in one infer (the
# 16-channel file is refused: its activation is over the scratch arena).
REGIME_KINDS = ("gru", "lstm", "conv11")
MODEL_NAMES = {
    "gru": "GRU-32",
    "lstm": "LSTM-64",
    "conv": "Conv1D-16",
    "conv11": "Conv1D-11",
    "gru8": "GRU-8",
}


@cache
def regime_model(kind: str, precision: int | str) -> bytes:
    """The compiled regime model (deterministic: the committed ONNX file, 2,048 calibration
    windows of the training paths)."""
    from ..model.sequence_accuracy import REGIME_FILES, calibration_windows, compile_regime_onnx
    from ..model.sequence_train import FIXTURE_DIR

    if kind not in REGIME_FILES:
        raise ValueError(f"unknown regime model {kind!r} ({', '.join(REGIME_FILES)})")
    return compile_regime_onnx(
        FIXTURE_DIR / REGIME_FILES[kind],
        calibration_windows().x,
        precision,
    )


def heldout_q16(model: bytes, n: int, start: int = 0) -> NDArray[np.int64]:
    """Held-out windows ``start .. start + n`` as Q16.16, clipped to the model's declared range
    (as a client does before sending; ``sequence_accuracy.reference_classes`` does the same)."""
    from ..model.sequence_accuracy import heldout_windows

    x = heldout_windows(start + n).q16()[start:]
    return clip_to_range(decode(model), x)


@dataclass
class ParityRun:
    model: str
    precision: str
    route: str  # "infer" or "job"
    windows: int
    mismatches: int
    first_mismatch: int | None
    transactions: int  # all of them, features writes included
    inference_cu: list[int] = field(default_factory=list)  # per window: infer or job steps
    steps: list[int] = field(default_factory=list)  # infer_step transactions per window
    wall_s: float = 0.0

    @property
    def bit_exact(self) -> bool:
        return self.mismatches == 0 and self.windows > 0

    def summary(self) -> dict[str, Any]:
        d = asdict(self)
        del d["inference_cu"], d["steps"]
        cu = np.asarray(self.inference_cu or [0])
        st = np.asarray(self.steps or [0])
        d.update(
            bit_exact=self.bit_exact,
            cu_mean=int(cu.mean()),
            cu_max=int(cu.max()),
            steps_min=int(st.min()),
            steps_max=int(st.max()),
            wall_per_window_s=round(self.wall_s / max(1, self.windows), 4),
        )
        return d


def runs_as_job(model: bytes) -> bool:
    """Whether one `infer` cannot carry the model (its compute estimate is over 1.4M CU)."""
    return assess(decode(model)).cu_estimate > MAX_TX_CU


async def needs_job(chain: Chain, payer: Keypair, handle: Any, account: Pubkey) -> bool:
    """For a model whose estimate is over one transaction (`runs_as_job`): simulate one `infer`
    from ``account`` at the 1.4M limit, as a client would before choosing a job. The estimate
    is an upper bound a few percent above what runs (the GRU-32 in speed mode: 1.43M estimated,
    ~1.38M measured), so a model near the limit may still fit; it runs as a job only if the
    simulation fails."""
    ix = infer_instruction(handle.address, handle.weights, (), features_account=account)
    sim = await chain.simulate([set_compute_unit_limit(MAX_TX_CU), ix], payer)
    return not sim.ok


async def run_parity(
    chain: Chain,
    payer: Keypair,
    kind: str,
    precision: int | str,
    n: int,
    *,
    start: int = 0,
    model: bytes | None = None,
    log: Any = None,
) -> ParityRun:
    """Run ``n`` held-out windows of regime model ``kind`` on ``chain`` and compare every class
    and output with the numpy reference."""
    data = model if model is not None else regime_model(kind, precision)
    qm = decode(data)
    x = heldout_q16(data, n, start)
    want = execute(qm, x)
    registry = ModelRegistry(chain, payer)
    client = InferenceClient(chain, payer, log_limit=None)
    deployed = await registry.deploy(data)
    handle = await client.model(deployed.model)
    account = await create_features(chain, payer, [int(v) for v in x[0]])
    job = runs_as_job(data) and await needs_job(chain, payer, handle, account)
    run = ParityRun(
        MODEL_NAMES.get(kind, kind), str(precision), "job" if job else "infer", 0, 0, None, 0
    )
    run.transactions += 1 + -(-x.shape[1] // 240)
    started = time.perf_counter()
    for i in range(n):
        row = [int(v) for v in x[i]]
        if i > 0:
            run.transactions += await write_features(chain, payer, account, row)
        if job:
            outs, cls, cu, steps = await _job_once(
                chain, payer, handle.address, handle.weights, account
            )
            run.transactions += steps + 2
            run.steps.append(steps)
        else:
            r = await client.infer(handle, features_account=account, check_inputs=False)
            outs, cls, cu = tuple(r.outputs), r.class_id, r.compute_units
            run.transactions += 1
        run.inference_cu.append(cu)
        run.windows += 1
        if outs != tuple(int(v) for v in want.outputs[i]) or cls != int(want.classes[i]):
            run.mismatches += 1
            if run.first_mismatch is None:
                run.first_mismatch = start + i
        if log is not None and (i + 1) % 100 == 0:
            log(f"{run.model} {precision}: {i + 1}/{n} windows, {run.mismatches} mismatches")
    run.wall_s = round(time.perf_counter() - started, 3)
    await close_features(chain, payer, account)
    return run


async def _job_once(
    chain: Chain, payer: Keypair, model: Pubkey, weights: Pubkey, account: Pubkey
) -> tuple[tuple[int, ...], int, int, int]:
    """One job from the features account, stepped with the program's bound budget; returns
    (outputs, class, CU of the steps, steps)."""
    jid = new_job_id()
    job = job_address(payer.pubkey(), jid)
    ix = create_job_ix(payer.pubkey(), jid, model, weights, features_account=account)
    created = await chain.send([set_compute_unit_limit(MAX_TX_CU), ix], payer, check=False)
    if not created.ok:
        raise RuntimeError(f"create_job failed: {created.error} {created.logs[-3:]}")
    cu, steps = 0, 0
    while True:
        res = await chain.send(
            [set_compute_unit_limit(MAX_TX_CU), infer_step_ix(job, model, weights, 0)],
            payer,
            check=False,
        )
        if not res.ok:
            raise RuntimeError(f"infer_step failed: {res.error} {res.logs[-3:]}")
        cu += res.compute_units
        steps += 1
        info = await read_job(chain, job)
        if info.done:
            break
        if steps > 200:
            raise RuntimeError("job makes no progress")
    await chain.send([close_job_ix(payer.pubkey(), job)], payer)
    return info.outputs, info.class_id, cu, steps


# ---------------------------------------------------------------- bench


@dataclass
class RegimeBenchRow:
    runtime: str
    model: str
    precision: str
    route: str  # "infer (features account)" or "job (infer_large)"
    transactions: int  # everything the SDK sent for one inference
    steps: int  # infer_step transactions (0 for infer)
    total_cu: int  # the inference's CU (infer, or create_job + steps)
    wall_s: float  # one inference through the SDK, features account included
    bit_exact: bool
    cu_estimate: int  # feasibility.estimate_cu (one-transaction figure)


@dataclass
class RegimeBench:
    rows: list[RegimeBenchRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"rows": [asdict(r) for r in self.rows], "notes": self.notes}


async def measure_regime(
    chain: Chain, payer: Keypair, runtime: str, kind: str, precision: int | str
) -> RegimeBenchRow:
    """One held-out window through the SDK: `infer` from a features account when the model
    fits one transaction, else `infer_large` (temporary features account, job, steps sized by
    simulation, close)."""
    data = regime_model(kind, precision)
    qm = decode(data)
    x = [int(v) for v in heldout_q16(data, 1)[0]]
    registry = ModelRegistry(chain, payer)
    client = InferenceClient(chain, payer, log_limit=None)
    deployed = await registry.deploy(data)
    handle = await client.model(deployed.model)
    want = reference_result(handle, x)
    job = False
    if runs_as_job(data):
        probe = await create_features(chain, payer, x)
        job = await needs_job(chain, payer, handle, probe)
        await close_features(chain, payer, probe)
    started = time.perf_counter()
    if job:
        result, run = await client.run_job(handle, features_fx=x)
        wall = time.perf_counter() - started
        # run.transactions counts the features account's creation and writes, create_job and
        # the steps; the features account's and the job's closing come on top.
        route, txs, steps = "job (infer_large)", run.transactions + 2, len(run.step_cus)
        total = run.total_cu
    else:
        account = await create_features(chain, payer, x)
        result = await client.infer(handle, features_account=account)
        await close_features(chain, payer, account)
        wall = time.perf_counter() - started
        route, txs, steps = "infer (features account)", 2 + -(-len(x) // 240) + 1, 0
        total = result.compute_units
    return RegimeBenchRow(
        runtime=runtime,
        model=MODEL_NAMES[kind],
        precision=str(precision),
        route=route,
        transactions=txs,
        steps=steps,
        total_cu=total,
        wall_s=round(wall, 3),
        bit_exact=result.same_numbers(want),
        cu_estimate=assess(qm).cu_estimate,
    )


async def run_regime_bench(
    *,
    kinds: tuple[str, ...] = REGIME_KINDS,
    precisions: tuple[int | str, ...] = (8,),
    surfpool: bool = True,
) -> RegimeBench:
    from .runner import fast_chain

    out = RegimeBench()
    chain = fast_chain()
    payer = Keypair()
    await chain.airdrop(payer.pubkey(), 1_000 * 10**9)
    cases = [(k, p) for k in kinds for p in precisions]
    if "gru" in kinds and "speed" not in precisions:
        # The GRU-32 in speed mode: the one-transaction GRU.
        cases.append(("gru", "speed"))
    for kind, p in cases:
        out.rows.append(await measure_regime(chain, payer, "LiteSVM (v0)", kind, p))
    for r in out.rows:
        if r.model == "GRU-32" and r.precision in ("8", "speed"):
            fits = r.steps == 0 and r.total_cu <= MAX_TX_CU
            out.notes.append(
                f"GRU-32 INT8 ({'speed' if r.precision == 'speed' else 'plain'} layout) in one "
                f"transaction: {'yes' if fits else 'no'}: {r.total_cu:,} CU "
                f"on {r.runtime} ({r.route}) against {MAX_TX_CU:,}; the one-transaction "
                f"estimate is {r.cu_estimate:,}"
            )
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
                    for kind, p in cases:
                        out.rows.append(await measure_regime(rpc, payer, "Surfpool (v3)", kind, p))
                finally:
                    await rpc.close()
        except ValidatorNotInstalled as e:
            out.notes.append(f"Surfpool rows skipped: {e}")
    return out


def format_regime_report(b: RegimeBench) -> str:
    lines = [
        "Regime models (120 x 5 window = 600 features from a features account; one held-out "
        "window through the SDK; bit-exact = equal to the numpy reference)",
        f"{'runtime':<14} {'model':<10} {'prec':>4} {'route':<25} {'txs':>4} {'steps':>5} "
        f"{'total CU':>10} {'wall s':>7}  bit-exact",
    ]
    for r in b.rows:
        lines.append(
            f"{r.runtime:<14} {r.model:<10} {r.precision:>4} {r.route:<25} {r.transactions:>4} "
            f"{r.steps:>5} {r.total_cu:>10,} {r.wall_s:>7.2f}  {'yes' if r.bit_exact else 'NO'}"
        )
    lines += b.notes
    return "\n".join(lines)
