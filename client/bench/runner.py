"""`python -m client bench`: compute units and wall time of on-chain inference on LiteSVM.

For every benchmark model (`models.py`) it deploys the file through the registry SDK, then
measures on LiteSVM:

* the CU of the whole `infer` instruction (the runtime's `consumed` line for the instruction,
  worst case over the data samples and as many boundary inputs, `models.measured_rows`);
* the CU of the kernels alone, from an `infer` with the LOG_CU flag (`sol_log_compute_units`
  before/after the forward pass and after each op, the logging syscalls subtracted);
* CU per MAC (dense ops only) for MLPs;

picks the largest 224-h-h-10 INT8 MLP that fits one transaction (packet and CU), and times one
inference on four paths: the pure-Python reference, the batched numpy reference, the native Rust
kernels (`host-infer`, the program's code compiled for the host) and the program on LiteSVM.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from solders.compute_budget import set_compute_unit_limit
from solders.keypair import Keypair
from solders.litesvm import LiteSVM

from ..artifacts import REPO_ROOT, embedded_so_path, read_embedded_so, sha256_hex
from ..chain.base import Chain
from ..chain.litesvm import LiteSvmChain
from ..inference import CuProfile, InferenceClient, ModelHandle, infer_instruction
from ..model.feasibility import InfeasibleModelError
from ..model.format import payload_bytes
from ..model.pure import PureModel
from ..model.qmodel import QDense
from ..model.reference import execute
from ..program import PROGRAM_ID
from ..registry import ModelRegistry
from ..risk_gate import risk_gate_so_path
from .models import BUILDERS, LARGEST_INPUTS, BenchModel, Target, largest_mlp, measured_rows

MAX_TX_CU = 1_400_000
_CONSUMED = re.compile(rf"^Program {PROGRAM_ID} consumed (\d+) of \d+ compute units$")


@dataclass
class ModelReport:
    name: str
    description: str
    architecture: str
    macs: int
    nodes: int
    trees: int
    max_depth: int
    file_bytes: int
    payload_bytes: int
    # Whole `infer` instruction, worst and mean over the sample inputs.
    instruction_cu: int
    instruction_cu_mean: float
    # The forward pass alone (feature checks, input quantization, every op).
    kernel_cu: int
    op_names: list[str]
    op_cu: list[int]
    inputs_cu: int
    # MLPs: CU of the dense ops per MAC, and of the whole instruction per MAC.
    dense_cu_per_mac: float | None
    instruction_cu_per_mac: float | None
    # Per op: CU per MAC of each dense op (None for other ops).
    op_cu_per_mac: list[float | None] = field(default_factory=list)
    target: str | None = None
    target_met: bool | None = None
    # The same `infer` instructions (same rows) on Surfpool (Agave 4.1.2), worst case; None when
    # not measured. LiteSVM above is solders 0.26's SVM (Agave 2.2 era): see docs/toolchain.md.
    surfpool_instruction_cu: int | None = None


@dataclass
class TimingRow:
    name: str
    pure_python_us: float
    numpy_batched_us: float
    native_rust_us: float | None
    litesvm_us: float
    litesvm_single_tx_us: float


@dataclass
class BenchReport:
    program_sha256: str
    models: list[ModelReport]
    timing: list[TimingRow]
    upload: Any | None = None
    notes: list[str] = field(default_factory=list)
    agent: Any | None = None  # client/bench/agent.py: agent_step CU
    cpi: Any | None = None  # client/bench/cpi.py: infer by CPI from risk_gate vs direct
    conv: Any | None = None  # client/bench/conv.py: Conv1D CU per MAC, regime-window conv
    # Why the Surfpool column is missing, when it is.
    surfpool_note: str | None = None


def fast_chain() -> LiteSvmChain:
    svm = LiteSVM().with_transaction_history(0).with_log_bytes_limit(None).with_sigverify(False)
    chain = LiteSvmChain(svm)
    chain.add_program(PROGRAM_ID, read_embedded_so())
    return chain


def _op_name(op: Any) -> str:
    kind = type(op).__name__.removeprefix("Q").upper()
    if isinstance(op, QDense):
        return f"DENSE {op.n_in}x{op.n_out} {op.dtype.name} {op.layout.name}"
    return kind


async def _instruction_cu(
    client: InferenceClient, handle: ModelHandle, rows: np.ndarray[Any, Any]
) -> list[int]:
    """CU of each `infer` (several per transaction; each has its own `consumed` line)."""
    out: list[int] = []
    k = await client.rows_per_tx(handle, rows[0].tolist())
    for start in range(0, rows.shape[0], k):
        ixs = [
            infer_instruction(handle.address, handle.weights, r.tolist())
            for r in rows[start : start + k]
        ]
        res = await client.chain.send([set_compute_unit_limit(MAX_TX_CU), *ixs], client.payer)
        out += [int(m.group(1)) for line in res.logs if (m := _CONSUMED.match(line))]
    return out


async def _profile(client: InferenceClient, handle: ModelHandle, row: list[int]) -> CuProfile:
    ix = infer_instruction(handle.address, handle.weights, row, log_cu=True)
    res = await client.chain.send([set_compute_unit_limit(MAX_TX_CU), ix], client.payer)
    prof = CuProfile.from_logs(res.logs)
    assert prof is not None, res.logs
    return prof


async def measure(
    chain: LiteSvmChain, payer: Keypair, model: BenchModel, *, samples: int = 32
) -> tuple[ModelReport, ModelHandle]:
    deployed = await ModelRegistry(chain, payer).deploy(model.data)
    client = InferenceClient(chain, payer, log_limit=None)
    handle = await client.model(deployed.model)
    rows = measured_rows(model, samples)
    cus = await _instruction_cu(client, handle, rows)
    # The profile of the most expensive input (trees: the longest paths).
    worst = int(np.argmax(cus))
    prof = await _profile(client, handle, rows[worst].tolist())
    names = [_op_name(op) for op in model.qmodel.ops]
    dense_cu = sum(
        c for c, op in zip(prof.ops, model.qmodel.ops, strict=True) if isinstance(op, QDense)
    )
    macs = model.macs
    report = ModelReport(
        name=model.name,
        description=model.description,
        architecture=model.architecture,
        macs=macs,
        nodes=model.nodes,
        trees=model.trees,
        max_depth=model.max_depth,
        file_bytes=len(model.data),
        payload_bytes=payload_bytes(model.qmodel),
        instruction_cu=max(cus),
        instruction_cu_mean=round(float(np.mean(cus)), 1),
        kernel_cu=prof.forward,
        op_names=names,
        op_cu=list(prof.ops),
        inputs_cu=prof.inputs,
        dense_cu_per_mac=round(dense_cu / macs, 3) if macs else None,
        instruction_cu_per_mac=round(max(cus) / macs, 3) if macs else None,
        op_cu_per_mac=[
            round(c / (op.n_in * op.n_out), 3) if isinstance(op, QDense) else None
            for c, op in zip(prof.ops, model.qmodel.ops, strict=True)
        ],
    )
    _judge(report, model.target)
    return report, handle


def _judge(r: ModelReport, t: Target | None) -> None:
    if t is None:
        return
    if t.what == "instruction":
        r.target, r.target_met = f"instruction <= {t.value:,.0f} CU", r.instruction_cu <= t.value
    elif t.what == "kernel_cu_per_mac":
        first = r.op_cu_per_mac[0] if r.op_cu_per_mac else None
        r.target = f"op 0 kernel <= {t.value} CU/MAC (measured {first})"
        r.target_met = first is not None and first <= t.value
    else:
        r.target = f">= {t.value:,.0f} MACs within {MAX_TX_CU:,} CU"
        r.target_met = r.macs >= t.value and r.instruction_cu <= MAX_TX_CU


async def largest(
    chain: LiteSvmChain, payer: Keypair, per_mac: float, fixed: float
) -> tuple[ModelReport, BenchModel, ModelHandle]:
    """The widest 224-h-h-10 MLP (h a multiple of 32) predicted to fit, stepping down if the
    compiler's feasibility check or the measurement disagrees."""
    budget = MAX_TX_CU * 0.97

    def macs(h: int) -> int:
        return LARGEST_INPUTS * h + h * h + 10 * h

    h = 32
    while fixed + per_mac * macs(h + 32) <= budget and h + 32 <= 1280:
        h += 32
    while True:
        try:
            model = largest_mlp(h)
        except InfeasibleModelError:
            h -= 32
            continue
        report, handle = await measure(chain, payer, model, samples=4)
        if report.instruction_cu <= MAX_TX_CU or h <= 32:
            return report, model, handle
        h -= 32


# ---------------------------------------------------------------- wall time


def _time_per_call(fn: Any, budget_s: float = 0.3, min_calls: int = 3) -> float:
    calls = 0
    start = time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < budget_s:
        fn()
        calls += 1
    return (time.perf_counter() - start) / calls


def host_infer_binary() -> Path | None:
    """Build (if needed) and locate the native runner; None when cargo is unavailable."""
    exe = REPO_ROOT / "target" / "release" / "host-infer"
    try:
        subprocess.run(
            ["cargo", "build", "-q", "--release", "-p", "ml_agent", "--bin", "host-infer"],
            cwd=REPO_ROOT,
            check=True,
            capture_output=True,
            timeout=900,
        )
    except (OSError, subprocess.SubprocessError):
        return exe if exe.is_file() else None
    return exe


def native_us(exe: Path, model: BenchModel, rows: np.ndarray[Any, Any]) -> float | None:
    with tempfile.TemporaryDirectory() as tmp:
        mpath, fpath = Path(tmp) / "m.mlag", Path(tmp) / "x.bin"
        mpath.write_bytes(model.data)
        fpath.write_bytes(np.asarray(rows, dtype="<i4").tobytes())
        repeat = max(1, 20_000 // max(1, model.macs // 64 + model.nodes // 8 + 1))
        out = subprocess.run(
            [str(exe), str(mpath), str(fpath), str(repeat)],
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        ).stdout
    doc = json.loads(out)
    # The native results must be the reference's: a cheap extra parity check.
    tr = execute(model.qmodel, rows)
    for i, r in enumerate(doc["rows"]):
        if r.get("outputs") != tr.outputs[i].tolist():
            raise AssertionError(f"host-infer disagrees with the reference on {model.name} row {i}")
    return float(doc["ns_per_inference"]) / 1000.0


async def timing_row(
    chain: LiteSvmChain,
    payer: Keypair,
    model: BenchModel,
    handle: ModelHandle,
    exe: Path | None,
) -> TimingRow:
    rows = model.samples
    pure = PureModel(model.data)
    first = [int(v) for v in rows[0]]
    pure_s = _time_per_call(lambda: pure.infer(first), budget_s=0.3)
    batch = np.resize(rows, (10_000 if model.macs < 100_000 else 1_000, rows.shape[1]))
    np_s = _time_per_call(lambda: execute(model.qmodel, batch), budget_s=0.3) / batch.shape[0]
    native = native_us(exe, model, rows) if exe is not None else None
    client = InferenceClient(chain, payer, log_limit=None)
    many = np.resize(rows, (200 if model.macs < 100_000 else 20, rows.shape[1]))
    per_tx = await client.rows_per_tx(handle, many[0].tolist())
    t0 = time.perf_counter()
    await client.infer_many(handle, many, per_tx=per_tx)
    svm_s = (time.perf_counter() - t0) / many.shape[0]
    single = rows[:10] if model.macs < 100_000 else rows[:3]
    t0 = time.perf_counter()
    for r in single:
        await chain.send(
            [
                set_compute_unit_limit(MAX_TX_CU),
                infer_instruction(handle.address, handle.weights, r.tolist()),
            ],
            payer,
        )
    single_s = (time.perf_counter() - t0) / len(single)
    return TimingRow(
        model.name,
        round(pure_s * 1e6, 2),
        round(np_s * 1e6, 3),
        None if native is None else round(native, 3),
        round(svm_s * 1e6, 1),
        round(single_s * 1e6, 1),
    )


async def measure_rpc_cu(
    chain: Chain,
    payer: Keypair,
    models: list[BenchModel],
    *,
    samples: int = 32,
    failures: dict[str, str] | None = None,
) -> dict[str, int]:
    """Worst-case `infer` CU of each model on an RPC cluster, over the rows LiteSVM measured.

    A model the cluster cannot run (e.g. its transaction is over the 1,232-byte packet limit,
    which LiteSVM does not enforce) is left out, with the reason in ``failures``.
    """
    from ..chain.base import ChainError

    out: dict[str, int] = {}
    for m in models:
        try:
            deployed = await ModelRegistry(chain, payer).deploy(m.data)
            client = InferenceClient(chain, payer, log_limit=None)
            handle = await client.model(deployed.model)
            cus = await _instruction_cu(client, handle, measured_rows(m, samples))
        except ChainError as e:
            if failures is None:
                raise
            failures[m.name] = str(e).splitlines()[0][:300]
            continue
        out[m.name] = max(cus)
    return out


async def surfpool_cu(models: list[BenchModel]) -> tuple[dict[str, int], str | None]:
    """Start a Surfpool, deploy the program and measure `models` there: (CU by name, note)."""
    from ..chain.connect import ensure_program
    from ..chain.errors import ValidatorNotInstalled
    from ..chain.rpc import RpcChain
    from ..chain.surfpool import Surfpool

    try:
        async with Surfpool.start() as sp:
            chain = RpcChain(sp.rpc_url, name="surfpool")
            try:
                payer = Keypair()
                await chain.airdrop(payer.pubkey(), 10_000 * 10**9)
                await ensure_program(chain, payer)
                failures: dict[str, str] = {}
                cu = await measure_rpc_cu(chain, payer, models, failures=failures)
                note = "; ".join(f"{k} not measured on Surfpool: {v}" for k, v in failures.items())
                return cu, note or None
            finally:
                await chain.close()
    except ValidatorNotInstalled as e:
        return {}, f"Surfpool column skipped: {e}"


def _quiet(_message: str) -> None:
    pass


async def run_bench(
    *,
    timing: bool = True,
    largest_search: bool = True,
    surfpool: bool = False,
    progress: Callable[[str], None] = _quiet,
) -> BenchReport:
    """Every measurement of the report; `progress` hears what is being measured as it starts."""
    if not embedded_so_path().is_file():
        raise FileNotFoundError("build the program first: bash scripts/build-program.sh")
    chain = fast_chain()
    payer = Keypair()
    await chain.airdrop(payer.pubkey(), 10_000 * 10**9)
    models = [b() for b in BUILDERS]
    reports: list[ModelReport] = []
    handles: list[tuple[BenchModel, ModelHandle]] = []
    for m in models:
        progress(f"LiteSVM: {m.name}")
        rep, handle = await measure(chain, payer, m)
        reports.append(rep)
        handles.append((m, handle))
    if largest_search:
        dense = next(r for r in reports if r.name == "dense128_int8")
        per_mac = dense.dense_cu_per_mac or 3.0
        # Everything but the dense ops, plus the extra input features at ~70 CU each.
        fixed = dense.instruction_cu - per_mac * dense.macs + (LARGEST_INPUTS - 128) * 70
        progress("LiteSVM: the largest MLP in one transaction")
        rep, model, handle = await largest(chain, payer, per_mac, fixed)
        reports.append(rep)
        handles.append((model, handle))
    rows: list[TimingRow] = []
    if timing:
        exe = host_infer_binary()
        for m, handle in handles:
            progress(f"wall time: {m.name}")
            rows.append(await timing_row(chain, payer, m, handle, exe))
    from .agent import run_agent_bench
    from .upload import run_upload_bench

    progress("LiteSVM: registry upload")
    upload = await run_upload_bench(chain, payer)
    progress("LiteSVM: agent_step")
    agent = await run_agent_bench(chain, payer)
    from .conv import run_conv_bench

    progress("LiteSVM: Conv1D")
    conv = await run_conv_bench(chain, payer)
    cpi = None
    if risk_gate_so_path().is_file():
        from .cpi import run_cpi_bench

        progress("LiteSVM: infer by CPI (risk_gate)")
        cpi = await run_cpi_bench(chain, payer)
    notes = [] if cpi else [f"cpi: {risk_gate_so_path()} missing (scripts/build-program.sh)"]
    note = None
    if surfpool:
        progress("Surfpool: the same infer instructions")
        by_name, note = await surfpool_cu([m for m, _ in handles])
        for rep in reports:
            rep.surfpool_instruction_cu = by_name.get(rep.name)
    return BenchReport(
        sha256_hex(read_embedded_so()),
        reports,
        rows,
        upload,
        notes=notes,
        agent=agent,
        cpi=cpi,
        surfpool_note=note,
        conv=conv,
    )


# ---------------------------------------------------------------- text report


def format_report(r: BenchReport) -> str:
    lines = [
        f"program sha256 {r.program_sha256[:16]}...  (the SBPF v0 build; CU = compute units; "
        "instr CU measured on LiteSVM = solders 0.26, an Agave 2.2-era SVM; Surfpool CU = the "
        "same instructions on Surfpool 1.5.0, Agave 4.1.2, running the deployable SBPF v3 build)",
        "",
    ]
    head = (
        f"{'model':<22} {'architecture':<50} {'MACs':>8} {'nodes':>6} {'bytes':>9} "
        f"{'instr CU':>9} {'Surfpool CU':>11} {'kernel CU':>9} {'CU/MAC':>7}  target"
    )
    lines += [head, "-" * len(head)]
    for m in r.models:
        cpm = f"{m.dense_cu_per_mac:.2f}" if m.dense_cu_per_mac is not None else "-"
        verdict = "" if m.target is None else f"{m.target}: {'met' if m.target_met else 'MISSED'}"
        sp = f"{m.surfpool_instruction_cu:,}" if m.surfpool_instruction_cu is not None else "-"
        lines.append(
            f"{m.name:<22} {m.architecture[:50]:<50} {m.macs:>8,} {m.nodes:>6,} "
            f"{m.file_bytes:>9,} {m.instruction_cu:>9,} {sp:>11} {m.kernel_cu:>9,} {cpm:>7}  "
            f"{verdict}"
        )
    if r.surfpool_note:
        lines.append(r.surfpool_note)
    lines += ["", "kernel CU by op (worst-case input):"]
    for m in r.models:
        parts = [f"inputs {m.inputs_cu}"] + [
            f"{n} {c}" for n, c in zip(m.op_names, m.op_cu, strict=True)
        ]
        lines.append(f"  {m.name}: " + ", ".join(parts))
    if r.timing:
        lines += ["", "wall time per inference (microseconds):"]
        th = (
            f"{'model':<22} {'pure Python':>12} {'numpy batch':>12} {'native Rust':>12} "
            f"{'LiteSVM':>10} {'LiteSVM 1/tx':>13}"
        )
        lines += [th, "-" * len(th)]
        for t in r.timing:
            nat = f"{t.native_rust_us:.3f}" if t.native_rust_us is not None else "n/a"
            lines.append(
                f"{t.name:<22} {t.pure_python_us:>12.1f} {t.numpy_batched_us:>12.3f} "
                f"{nat:>12} {t.litesvm_us:>10.1f} {t.litesvm_single_tx_us:>13.1f}"
            )
        lines.append(
            "(LiteSVM: batched infer_many, several inferences per transaction; "
            "1/tx: one inference per transaction)"
        )
    if r.upload is not None:
        lines += ["", f"registry upload bench: {r.upload}"]
    if r.agent is not None:
        from .agent import format_agent_report

        lines.append(format_agent_report(r.agent))
    if r.cpi is not None:
        from .cpi import format_cpi_report

        lines += ["", format_cpi_report(r.cpi)]
    if r.conv is not None:
        from .conv import format_conv_report

        lines += ["", format_conv_report(r.conv)]
    lines += [f"note: {n}" for n in r.notes]
    return "\n".join(lines)
