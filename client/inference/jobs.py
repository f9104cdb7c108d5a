"""Inference jobs: one model run spread over as many transactions as it needs.

``create_job`` pins the model's active version (address, number and content hashes) and
snapshots the input; anyone advances the job with ``infer_step`` (each step runs as many units
of work as its compute budget allows); the step that runs the last unit returns the same
``InferenceResult`` return data and ``Inference`` event as ``infer``; ``close_job`` returns the
rent. ``run_job`` drives one to completion, sizing each step's compute-unit limit from a
simulation of it.
"""

from __future__ import annotations

import math
import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from solders.compute_budget import set_compute_unit_limit
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from ..chain.base import Chain, TxResult
from ..program import PROGRAM_ID, build_ix, coder, error_name, find_pda, parse_events
from .errors import InferenceError

JOB_SEED = b"job"
# `infer` / `create_job` flags bit 1 (instructions/infer.rs).
FLAG_FEATURES_ACCOUNT = 2
# state/job.rs: the fixed part's size and the cursor's offset in it.
JOB_HEADER = 312
_CURSOR_AT = 200
MAX_TX_CU = 1_400_000


def job_address(owner: Pubkey, job_id: int, program_id: Pubkey = PROGRAM_ID) -> Pubkey:
    return find_pda([JOB_SEED, bytes(owner), job_id.to_bytes(8, "little")], program_id)[0]


def create_job_ix(
    owner: Pubkey,
    job_id: int,
    model: Pubkey,
    weights: Pubkey,
    *,
    features_fx: Sequence[int] | None = None,
    features_account: Pubkey | None = None,
) -> Instruction:
    """`create_job` with the input in the argument or (exactly one of them) a features account."""
    if (features_fx is None) == (features_account is None):
        raise ValueError("pass exactly one of features_fx or features_account")
    accounts = {
        "owner": owner,
        "job": job_address(owner, job_id),
        "model": model,
        "weights": weights,
    }
    if features_account is not None:
        accounts["features"] = features_account
    return build_ix(
        "create_job",
        {
            "id": job_id,
            "features": [int(v) for v in features_fx or ()],
            "flags": FLAG_FEATURES_ACCOUNT if features_account is not None else 0,
        },
        accounts,
    )


def infer_step_ix(job: Pubkey, model: Pubkey, weights: Pubkey, max_units: int = 0) -> Instruction:
    return build_ix(
        "infer_step",
        {"max_units": max_units},
        {"job": job, "model": model, "weights": weights},
    )


def close_job_ix(owner: Pubkey, job: Pubkey) -> Instruction:
    return build_ix("close_job", {}, {"owner": owner, "job": job})


@dataclass(frozen=True)
class JobInfo:
    """An inference job account, decoded."""

    address: Pubkey
    owner: Pubkey
    model: Pubkey
    weights: Pubkey
    version: int
    chunk_root: bytes
    model_sha256: bytes
    job_id: int
    created_slot: int
    finished_slot: int
    units_done: int
    steps: int
    op: int
    unit: int
    done: bool
    class_id: int
    confidence_q16: int
    outputs: tuple[int, ...]
    input_fx: tuple[int, ...]
    source: Pubkey | None
    lamports: int


def decode_job(address: Pubkey, data: bytes, lamports: int = 0) -> JobInfo:
    disc = bytes(coder().accounts.acc_name_to_discriminator["InferenceJob"])
    if len(data) < JOB_HEADER or data[:8] != disc:
        raise InferenceError(f"{address} is not an inference job")
    keys = [Pubkey.from_bytes(data[8 + 32 * i : 40 + 32 * i]) for i in range(3)]
    chunk_root, model_sha256 = data[104:136], data[136:168]
    job_id, created, finished, units_done = struct.unpack_from("<QQQQ", data, 168)
    (_lo, _hi, confidence, op, unit, _width, n_outputs, class_id, _cur, done, out_buf, _pad) = (
        struct.unpack_from("<qqqIIIIIBBBB", data, _CURSOR_AT)
    )
    version, steps, n_features, a_words, _b_words, _state_words, _bump, from_account = (
        struct.unpack_from("<IIIIIIBB", data, 248)
    )
    source = Pubkey.from_bytes(data[280:312]) if from_account else None
    snap = JOB_HEADER
    a = snap + (4 * n_features + 7) // 8 * 8
    buf = a + (8 * a_words if out_buf else 0)
    outputs = struct.unpack_from(f"<{n_outputs}q", data, buf) if done else ()
    return JobInfo(
        address=address,
        owner=keys[0],
        model=keys[1],
        weights=keys[2],
        version=version,
        chunk_root=bytes(chunk_root),
        model_sha256=bytes(model_sha256),
        job_id=job_id,
        created_slot=created,
        finished_slot=finished,
        units_done=units_done,
        steps=steps,
        op=op,
        unit=unit,
        done=bool(done),
        class_id=class_id,
        confidence_q16=confidence & 0xFFFF_FFFF,
        outputs=tuple(outputs),
        input_fx=struct.unpack_from(f"<{n_features}i", data, snap),
        source=source,
        lamports=lamports,
    )


async def read_job(chain: Chain, address: Pubkey) -> JobInfo:
    acc = await chain.get_account(address)
    if acc is None:
        raise InferenceError(f"job {address} does not exist on {chain.name}")
    if acc.owner != PROGRAM_ID:
        raise InferenceError(f"{address} is not owned by the ml_agent program")
    return decode_job(address, bytes(acc.data), acc.lamports)


def new_job_id() -> int:
    return secrets.randbits(63)


@dataclass
class JobRun:
    """What running a job took: the finishing step's transaction and every step's CU."""

    job: Pubkey
    final: TxResult
    create_cu: int
    step_cus: list[int] = field(default_factory=list)
    # Transactions for the input (features account create + writes), the job's creation and
    # its steps (closing excluded).
    transactions: int = 0
    wall_s: float = 0.0

    @property
    def total_cu(self) -> int:
        return self.create_cu + sum(self.step_cus)


@dataclass(frozen=True)
class Stepped:
    """A `JobStepped` event: what one `infer_step` did."""

    units: int
    units_done: int
    op: int
    unit: int
    done: bool


def stepped_event(logs: list[str]) -> Stepped | None:
    for e in parse_events(logs):
        if e.name == "JobStepped":
            d = e.data
            return Stepped(int(d.units), int(d.units_done), int(d.op), int(d.unit), bool(d.done))
    return None


async def plan_step(
    chain: Chain,
    payer: Keypair,
    job: Pubkey,
    model: Pubkey,
    weights: Pubkey,
    *,
    cu_margin: float = 0.10,
    max_units: int = 0,
) -> tuple[Instruction, int]:
    """This step's instruction and compute-unit limit, chosen from simulation.

    With `max_units` the step runs that many units and the limit is its simulated CU plus
    `cu_margin`. Otherwise: `infer_step(0)` runs what the program's bound budget allows (safe at
    any state, but the bounds are about twice the units' real cost); its simulation says how
    many units that was and what they really cost, so the units that fill the 1.4M limit are
    extrapolated and that step simulated in turn, refined from each simulation's measured
    cost (at most four simulations; the best fitting step wins, the safe step if none fits).
    The program's work never depends on the limit, so a simulated step sent with its simulated
    CU plus the margin does the same work."""
    if max_units:
        ix = infer_step_ix(job, model, weights, max_units)
        sim = await chain.simulate([set_compute_unit_limit(MAX_TX_CU), ix], payer)
        if not sim.ok:
            raise InferenceError(f"simulating infer_step on job {job} failed", sim)
        return ix, min(MAX_TX_CU, math.ceil(sim.compute_units * (1 + cu_margin)))
    safe = infer_step_ix(job, model, weights, 0)
    sim = await chain.simulate([set_compute_unit_limit(MAX_TX_CU), safe], payer)
    if not sim.ok and error_name(sim.custom_error or 0) == "StepBudget":
        # One unit's bound exceeds the program's budget: its real cost may still fit.
        return await plan_step(chain, payer, job, model, weights, cu_margin=cu_margin, max_units=1)
    if not sim.ok:
        raise InferenceError(f"simulating infer_step on job {job} failed", sim)
    safe_limit = min(MAX_TX_CU, math.ceil(sim.compute_units * (1 + cu_margin)))
    ev = stepped_event(sim.logs)
    if ev is None or ev.done or sim.compute_units <= 0:
        return safe, safe_limit
    target = MAX_TX_CU / (1 + cu_margin)
    n = math.floor(ev.units * target / sim.compute_units)
    best: tuple[Instruction, int] = (safe, safe_limit)
    best_units = ev.units
    for _ in range(4):
        if n <= best_units:
            break
        ix = infer_step_ix(job, model, weights, n)
        try_sim = await chain.simulate([set_compute_unit_limit(MAX_TX_CU), ix], payer)
        if try_sim.ok and try_sim.compute_units <= target:
            best = (ix, min(MAX_TX_CU, math.ceil(try_sim.compute_units * (1 + cu_margin))))
            best_units = n
            ev_n = stepped_event(try_sim.logs)
            if ev_n is not None and ev_n.done:
                break
            # Closer to the target by the units' measured cost at this size.
            n = math.floor(n * target / try_sim.compute_units)
        elif try_sim.ok:
            n = math.floor(n * target / try_sim.compute_units)
        else:
            n = math.floor(n * 0.8)
    return best


async def step_to_completion(
    chain: Chain,
    payer: Keypair,
    job: Pubkey,
    model: Pubkey,
    weights: Pubkey,
    *,
    cu_margin: float = 0.10,
    max_units: int = 0,
    max_steps: int = 10_000,
) -> tuple[TxResult, list[int]]:
    """Send `infer_step` until the job finishes (each planned by `plan_step`); returns the
    finishing transaction and every step's CU."""
    cus: list[int] = []
    for _ in range(max_steps):
        ix, limit = await plan_step(
            chain, payer, job, model, weights, cu_margin=cu_margin, max_units=max_units
        )
        res = await chain.send([set_compute_unit_limit(limit), ix], payer, check=False)
        if not res.ok:
            raise InferenceError(f"infer_step on job {job} failed", res)
        cus.append(res.compute_units)
        if res.return_data:
            return res, cus
    raise InferenceError(f"job {job} did not finish in {max_steps} steps")
