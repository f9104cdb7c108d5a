"""Will a compiled model run on chain?  The limits an `infer` must fit, checked before deploying.

A model file can be well-formed and still never run: its `infer` transaction may not fit a
packet, its activations may not fit the program's scratch arena, its outputs may not fit the
return data, its forward pass may need more compute units than a transaction may buy.  This
module states those limits (each one derived from the program's own constants, cited below;
``tests/model/test_feasibility.py`` re-reads the Rust sources to keep them in sync), estimates
what a model needs, and refuses (``InfeasibleModelError``) with the limit's name and what to do.

Two one-transaction limits have routes around them, so they are reported as ``Route``s, not
refusals: more features than a packet carries (the input comes from a features account,
``infer --features-account`` / ``infer --large``), and more compute than one transaction
(an inference job over several, ``infer --large``), as long as the job's account fits the
10 KiB a program may create. The scratch arena, the return data and the job account have no
route and still refuse.

Calibration sanity (too few rows, constant columns, values outside the Q16.16 range) is checked
by ``check_calibration`` before compiling, since a declared range derived from degenerate data
rejects almost every real input.

The estimate is also what ``model-info`` prints and what the SDK checks before it sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from .conv import conv1d_segment_positions
from .errors import ModelError
from .qmodel import (
    Arch,
    Layout,
    OpKind,
    QArgmax,
    QConv1d,
    QDense,
    QLut,
    QModel,
    QPool,
    QRecurrent,
    QSoftmax,
    QTrees,
)

# ------------------------------------------------------------------ limits and their sources

# Solana: the largest serialized transaction (`PACKET_DATA_SIZE`, 1280 - 40 - 8).
PACKET_DATA_SIZE = 1232
# Solana: the most compute units one transaction may request (`MAX_COMPUTE_UNIT_LIMIT`).
MAX_TX_CU = 1_400_000
# programs/ml_agent/src/instructions/infer.rs `MAX_OUTPUTS`: return data is capped at 1,024
# bytes, 12 of header and 126 i64 outputs.
MAX_OUTPUTS = 126
# programs/ml_agent/src/kernels/scratch.rs `DEFAULT_HEAP_BYTES`: the arena is the 32 KiB heap.
HEAP_BYTES = 32 * 1024
# infer.rs takes `MAX_OUTPUTS + 2` words for the return data first; exec.rs / marked.rs then
# split what remains into three equal buffers (raw features, and two that alternate as each
# op's input and output).
SCRATCH_BUFFER_WORDS = (HEAP_BYTES // 8 - (MAX_OUTPUTS + 2)) // 3
# exec.rs refuses `n_features > words` and every op with `n_out >= words` (a PACKED layer with
# an odd n_out writes one padding row too).
MAX_FEATURES_SCRATCH = SCRATCH_BUFFER_WORDS
MAX_LAYER_WIDTH = SCRATCH_BUFFER_WORDS - 1
# programs/ml_agent/src/state/job.rs: `MAX_JOB_SPACE` (a job account is created by CPI, which
# may allocate at most 10 KiB) and `InferenceJob::LEN` (the fixed part before the snapshot).
MAX_JOB_SPACE = 10 * 1024
JOB_HEADER = 312
# instructions/job/infer_step.rs `TMP_WORDS`: working words a step lends from the heap.
JOB_TMP_WORDS = HEAP_BYTES // 8 - (MAX_OUTPUTS + 2)
# instructions/job/infer_step.rs `STEP_BUDGET`: the bound CU one `infer_step` may spend.
JOB_STEP_CU = 1_400_000 - 40_000
# client/inference/features.py `WRITE_CHUNK_VALUES`: values per `write_features` transaction.
FEATURES_PER_WRITE = 240
# Features enter as i32 Q16.16: |x| must stay below 2^15 (docs/model-format.md 1.1).
Q16_LIMIT = 32768.0
# Calibration: fewer rows than this cannot estimate a range or an activation scale.
MIN_CALIBRATION_ROWS = 2

# Bytes of a legacy transaction that sends one `infer` (instructions/infer.rs: discriminator,
# `Vec<i32>` features, `flags` u8) with one signer, the model and weights accounts (and the
# features account's placeholder), and the
# compute-budget instructions the SDK adds (`SetComputeUnitLimit`, optionally
# `SetComputeUnitPrice`). ``tests/model/test_feasibility.py`` checks this against solders.
_SIGNATURES = 1 + 64  # compact count, one signature
_MESSAGE_HEADER = 3
_BLOCKHASH = 32
_CU_LIMIT_IX = 1 + 1 + 1 + 5  # program index, no accounts, data length, data
_CU_PRICE_IX = 1 + 1 + 1 + 9


def _compact_len(n: int) -> int:
    """Bytes of Solana's compact-u16 length prefix."""
    return 1 if n < 0x80 else 2 if n < 0x4000 else 3


def infer_data_bytes(n_features: int) -> int:
    """Instruction data of `infer`: 8-byte discriminator, u32 length, i32 features, u8 flags."""
    return 8 + 4 + 4 * n_features + 1


def infer_tx_bytes(n_features: int, *, priority_fee: bool = False) -> int:
    """Serialized size of the SDK's `infer` transaction for a model with ``n_features``."""
    keys = 5  # payer, model, weights, the ml_agent program, the ComputeBudget program
    n_ix = 2 + int(priority_fee)
    data = infer_data_bytes(n_features)
    # program index, account count, model, weights and the optional features account (Anchor's
    # None placeholder: the program id, already a key).
    infer_ix = 1 + 1 + 3 + _compact_len(data) + data
    return (
        _SIGNATURES
        + _MESSAGE_HEADER
        + _compact_len(keys)
        + 32 * keys
        + _BLOCKHASH
        + _compact_len(n_ix)
        + _CU_LIMIT_IX
        + (_CU_PRICE_IX if priority_fee else 0)
        + infer_ix
    )


def max_features_per_tx(*, priority_fee: bool = False) -> int:
    """The most features an `infer` transaction can carry."""
    n = 1
    while infer_tx_bytes(n + 1, priority_fee=priority_fee) <= PACKET_DATA_SIZE:
        n += 1
    return n


MAX_FEATURES_TX = max_features_per_tx()
MAX_FEATURES_TX_PRIORITY = max_features_per_tx(priority_fee=True)


# ------------------------------------------------------------------ compute-unit estimate

# CU coefficients of the whole `infer` instruction, fitted on LiteSVM measurements (the
# worst case over data samples and inputs at the declared bounds) by
# `python scripts/fit_cu_model.py` and scaled so that no measured model exceeds its estimate.
# Keys are the terms of `cu_terms`.
# Fitted on 135 models (program build fb88c7c9...): estimate / measured in 1.00..1.09 before
# the margin. Tiny files (<= 4 KiB, run by the lean `marked` executor) cost less than the
# fit assumes (iris 4-8-3: 1,975 measured, 2,988 estimated); they are nowhere near a limit.
CU_COEFFICIENTS: dict[str, float] = {
    "argmax_in": 0.0,
    "base": 1040.024,
    "dense_i16_compact_mac": 6.308,
    "dense_i16_compact_op": 392.628,
    "dense_i16_compact_row": 51.779,
    "dense_i16_sparse_mac": 16.733,
    "dense_i16_sparse_op": 379.983,
    "dense_i16_sparse_row": 61.224,
    "dense_i8_compact_mac": 4.754,
    "dense_i8_compact_op": 349.574,
    "dense_i8_compact_row": 57.989,
    "dense_i8_packed_mac": 2.605,
    "dense_i8_packed_op": 286.344,
    "dense_i8_packed_row": 45.009,
    # PACKED3 (added with the layout, not fitted by the script): bounds over the op CU the
    # layout's author measured on LiteSVM (128x128 23,094; 128x8 2,319; 32x32 2,588; 16x12 790;
    # 12x8 648), per MAC over rows padded to groups of 12.
    "dense_i8_packed3_mac": 1.35,
    "dense_i8_packed3_op": 500.0,
    "dense_i8_packed3_row": 50.0,
    # CONV1D / POOL (not fitted by the script): bounds over the op CU measured on LiteSVM by
    # `python -m client.bench.conv` (60x8 -> 16, K=5: PACKED 131,984, COMPACT INT8 221,461,
    # INT16 273,338, PACKED "same" padding 142,998, dilation 2 146,052; 120x5 -> 16, K=5,
    # stride 2: 103,706). A padded or dilated position gathers its window (per word), or, over
    # 256 words, goes tap by tap (`conv1d_seg_mac` more per MAC).
    "conv1d_i8_compact_mac": 5.6,
    "conv1d_i8_packed_mac": 2.8,
    "conv1d_i16_compact_mac": 7.0,
    "conv1d_gather_word": 20.0,
    "conv1d_op": 500.0,
    "conv1d_out": 60.0,
    "conv1d_pos": 350.0,
    "conv1d_seg_mac": 12.0,
    "pool_in": 15.0,
    "pool_op": 200.0,
    "pool_out": 30.0,
    "dense_i8_sparse_mac": 16.788,
    "dense_i8_sparse_op": 0.0,
    "dense_i8_sparse_row": 59.196,
    "features_quantized": 58.469,
    "features_raw": 24.746,
    "lut_i16": 27.949,
    "lut_i8": 19.922,
    "outputs": 0.0,
    "softmax_in": 77.507,
    "softmax_op": 180.701,
    "trees_leaf_entry": 9.301,
    "trees_out": 0.0,
    "trees_step": 19.264,
    "trees_tree": 45.714,
    # GRU / LSTM (kernels/recurrent.rs; not fitted by the script): per timestep, per paired
    # INT8 word (two MACs, rows padded to groups of 8) or INT16 MAC, per gate row (two
    # requantizations), per hidden unit (table lookups, state update), per step and per op.
    # Rounded up from the per-step op CU `python -m client.bench.rnn` measured on LiteSVM
    # (GRU-32 / LSTM-64 over 8 x 5, INT8: 13,518 / 55,401 CU per step, speed mode 11,295 /
    # 41,072; INT16: 35,208 / 160,846; about 4.5 CU per paired or PACKED3 word and 8.3 CU per
    # INT16 MAC once rows and units are taken out). Each per-step estimate is 0-4 % above its
    # measurement, before CU_MARGIN.
    "rnn_i8_word": 4.5,
    "rnn_i16_mac": 8.5,
    # Speed mode's h part: a PACKED3 word (three MACs) over rows padded to groups of 12.
    "rnn_p3_word": 4.5,
    "rnn_row": 25.0,
    "rnn_unit_gru": 90.0,
    "rnn_unit_lstm": 150.0,
    "rnn_step": 300.0,
    "rnn_op": 1000.0,
}
# `kernels::conv::GATHER`: windows up to this many words are gathered on the stack.
CONV_GATHER_WORDS = 256
# Safety factor on top of the fitted coefficients (program changes, input-dependent paths).
CU_MARGIN = 1.03


def recurrent_state_words(op: QRecurrent) -> int:
    """`kernels/recurrent.rs` `state_words`: h, LSTM's c, and the x and h gate buffers."""
    padded = -(-op.rows // 8) * 8
    words = 1 + (op.kind is OpKind.LSTM) + op.h8
    return op.hidden * words + 2 * padded


def tree_depths(op: QTrees) -> list[int]:
    """Depth (moves from root to the deepest leaf) of every tree of ``op``."""
    ends = [*op.roots[1:].tolist(), op.n_nodes]
    depths = []
    for start, end in zip(op.roots.tolist(), ends, strict=True):
        depth = np.zeros(end - start, dtype=np.int64)
        for k in range(end - start):  # children have larger indices than their parent
            if op.feature[start + k] != 0xFFFF:
                for child in (op.left[start + k], op.right[start + k]):
                    depth[child - start] = depth[k] + 1
        depths.append(int(depth.max()))
    return depths


def _dense_key(op: QDense) -> str:
    return f"dense_{op.dtype.name.lower()}_{op.layout.name.lower()}"


def cu_terms(qm: QModel) -> dict[str, float]:
    """The quantities the CU of an `infer` grows with: counts of features, rows, MACs, LUT
    entries, softmax inputs, tree steps.  The estimate is their dot product with
    ``CU_COEFFICIENTS``."""
    t: dict[str, float] = {"base": 1.0, "outputs": float(qm.n_outputs)}
    if qm.arch is Arch.NEURAL:
        t["features_quantized"] = float(qm.n_features)
    else:
        t["features_raw"] = float(qm.n_features)

    def add(key: str, v: float) -> None:
        t[key] = t.get(key, 0.0) + v

    for op in qm.ops:
        if isinstance(op, QDense):
            k = _dense_key(op)
            add(k + "_op", 1.0)
            add(k + "_row", float(op.n_out))
            if op.layout is Layout.SPARSE:
                macs = op.nnz
            elif op.layout is Layout.PACKED3:
                # Rows run in groups of 12 (three 21-bit lanes in four words): padding rows
                # cost as much as real ones.
                macs = op.n_in * -(-op.n_out // 12) * 12
            else:
                macs = op.n_in * op.n_out
            add(k + "_mac", float(macs))
        elif isinstance(op, QLut):
            add(f"lut_{op.dtype.name.lower()}", float(op.n))
        elif isinstance(op, QSoftmax):
            add("softmax_op", 1.0)
            add("softmax_in", float(op.n_out))
        elif isinstance(op, QArgmax):
            add("argmax_in", float(op.n_in))
        elif isinstance(op, QRecurrent):
            steps, rows, cols = op.steps, op.rows, op.features + op.hidden
            add("rnn_op", 1.0)
            add("rnn_step", float(steps))
            if op.h8:
                add("rnn_i8_word", float(steps * (-(-rows // 8) * 4) * op.features))
                add("rnn_p3_word", float(steps * (-(-rows // 12) * 4) * op.hidden))
            elif op.dtype.name == "I8":
                add("rnn_i8_word", float(steps * (-(-rows // 8) * 4) * cols))
            else:
                add("rnn_i16_mac", float(steps * rows * cols))
            add("rnn_row", float(steps * rows))
            unit = "rnn_unit_gru" if op.kind is OpKind.GRU else "rnn_unit_lstm"
            add(unit, float(steps * op.hidden))
        elif isinstance(op, QConv1d):
            per_pos = op.k * op.c_in * op.c_out
            key = f"conv1d_{op.dtype.name.lower()}_{op.layout.name.lower()}_mac"
            add(key, float(op.t_out * per_pos))
            add("conv1d_op", 1.0)
            add("conv1d_out", float(op.n_out))
            add("conv1d_pos", float(op.t_out))
            off = conv1d_segment_positions(op)
            if op.k * op.c_in <= CONV_GATHER_WORDS:
                add("conv1d_gather_word", float(off * op.k * op.c_in))
            else:
                add("conv1d_seg_mac", float(off * per_pos))
        elif isinstance(op, QPool):
            add("pool_op", 1.0)
            add("pool_in", float(op.t_out * op.kernel * op.channels))
            add("pool_out", float(op.n_out))
        elif isinstance(op, QTrees):
            depths = tree_depths(op)
            add("trees_tree", float(op.n_trees))
            add("trees_step", float(sum(depths)))
            if op.mode.name == "PROBA":
                add("trees_leaf_entry", float(op.n_trees * op.n_out))
            add("trees_out", float(op.n_out))
    return t


def estimate_cu(qm: QModel) -> int:
    """Upper estimate of the compute units of one `infer` of ``qm`` (see CU_COEFFICIENTS)."""
    terms = cu_terms(qm)
    missing = sorted(k for k in terms if k not in CU_COEFFICIENTS)
    if missing:
        raise ModelError(f"no CU coefficient for {', '.join(missing)} (scripts/fit_cu_model.py)")
    total = sum(CU_COEFFICIENTS[k] * v for k, v in terms.items())
    return int(np.ceil(total * CU_MARGIN))


# ------------------------------------------------------------------ jobs


def _op_n_out(op: object) -> int:
    if isinstance(op, QLut):
        return op.n
    if isinstance(op, QArgmax):
        return 2
    return int(op.n_out)  # type: ignore[attr-defined]


def _carry_words(op: object) -> int:
    """`kernels::job::carry_words`: the state words that persist between units (h, LSTM's c)."""
    if isinstance(op, QRecurrent):
        return op.hidden * (2 if op.kind is OpKind.LSTM else 1)
    return 0


@dataclass(frozen=True)
class JobSizes:
    """`kernels::job::sizes`: an inference job's buffers (op i reads A and writes B when i is
    even), its persisted state and the working words a step lends from the heap."""

    a_words: int
    b_words: int
    state_words: int
    tmp_words: int
    n_features: int

    @property
    def account_bytes(self) -> int:
        """`InferenceJob::layout`: header, snapshot (i32, 8-aligned), A, B, state."""
        snap = -(-4 * self.n_features // 8) * 8
        return JOB_HEADER + snap + 8 * (self.a_words + self.b_words + self.state_words)


def job_sizes(qm: QModel) -> JobSizes:
    n = qm.n_features
    a, b, state, tmp = n + 1, 1, 0, 0
    for i, op in enumerate(qm.ops):
        n_out = _op_n_out(op)
        if i % 2 == 0:
            b = max(b, n_out + 1)
        else:
            a = max(a, n_out + 1)
        if i == 0 and isinstance(op, QArgmax):
            b = max(b, n + 1)
        carry = _carry_words(op)
        state = max(state, carry)
        if isinstance(op, QRecurrent):
            tmp = max(tmp, recurrent_state_words(op))
    return JobSizes(a, b, state, tmp, n)


def job_transactions(qm: QModel, cu: int) -> int:
    """Transactions `infer_large` sends for one inference: the features account (created,
    written in pieces, closed) when the input does not fit `create_job`'s transaction,
    `create_job`, the steps (each at most ``JOB_STEP_CU`` of estimated work) and `close_job`."""
    n = qm.n_features
    features = 0 if infer_tx_bytes(n) <= PACKET_DATA_SIZE else 2 + -(-n // FEATURES_PER_WRITE)
    return features + 1 + max(1, -(-cu // JOB_STEP_CU)) + 1


# ------------------------------------------------------------------ the check


class InfeasibleModelError(ModelError):
    """The model compiles but could never run on chain; ``problems`` lists every limit it breaks
    (each ``Problem`` names the limit and says what to change)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in self.problems))


@dataclass(frozen=True)
class Problem:
    limit: str  # "transaction size", "scratch arena", "return data", "compute units", ...
    message: str


@dataclass(frozen=True)
class Route:
    """A one-transaction limit the model exceeds but that another way of running it lifts:
    ``how`` is "features account" (the input is read from an account instead of the
    transaction) or "job" (an inference job over several transactions)."""

    how: str
    message: str


@dataclass(frozen=True)
class Feasibility:
    """What one `infer` of a model needs, next to the limits it must fit."""

    n_features: int
    tx_bytes: int
    tx_bytes_with_priority_fee: int
    tx_bytes_limit: int
    max_features: int
    max_features_with_priority_fee: int
    widest_buffer: int  # the largest vector the forward pass holds (features or an op output)
    scratch_limit: int
    n_outputs: int
    outputs_limit: int
    cu_estimate: int
    cu_limit: int
    problems: list[Problem] = field(default_factory=list)
    # How the model runs when one plain `infer` cannot carry it (empty: one `infer`).
    routes: list[Route] = field(default_factory=list)
    job_bytes: int = 0
    job_bytes_limit: int = MAX_JOB_SPACE
    job_transactions: int = 0  # 0: not a job

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def needs_features_account(self) -> bool:
        return any(r.how == "features account" for r in self.routes)

    @property
    def needs_job(self) -> bool:
        return any(r.how == "job" for r in self.routes)

    def lines(self) -> list[str]:
        def pct(a: int, b: int) -> str:
            return f"{100.0 * a / b:.0f}%"

        return [
            f"infer tx     {self.tx_bytes} of {self.tx_bytes_limit} bytes "
            f"({self.tx_bytes_with_priority_fee} with a priority fee); at most "
            f"{self.max_features} features ({self.max_features_with_priority_fee} with a fee)",
            f"scratch      widest vector {self.widest_buffer} of {self.scratch_limit} words "
            f"({pct(self.widest_buffer, self.scratch_limit)})",
            f"return data  {self.n_outputs} of {self.outputs_limit} outputs",
            f"compute      ~{self.cu_estimate:,} of {self.cu_limit:,} CU "
            f"({pct(self.cu_estimate, self.cu_limit)}, estimate)",
            f"job account  {self.job_bytes:,} of {self.job_bytes_limit:,} bytes "
            f"({pct(self.job_bytes, self.job_bytes_limit)}) if run as a job",
            *(f"RUNS AS      {r.how}: {r.message}" for r in self.routes),
        ]


def _cu_hint(qm: QModel) -> str:
    if qm.arch is Arch.TREES:
        return "use fewer or shallower trees"
    dense = [op for op in qm.ops if isinstance(op, QDense)]
    hints = ["use smaller hidden layers"]
    if any(op.dtype.name == "I16" for op in dense):
        hints.append("INT8 instead of INT16 (--precision 8 or auto)")
    if any(op.dtype.name == "I8" and op.layout is Layout.COMPACT for op in dense):
        hints.append("--prefer speed (PACKED INT8 layers cost ~45% less per MAC)")
    return ", or ".join(hints)


def assess(qm: QModel) -> Feasibility:
    """Everything one `infer` of ``qm`` needs, and every limit it breaks."""
    n = qm.n_features
    problems: list[Problem] = []
    routes: list[Route] = []
    tx = infer_tx_bytes(n)
    if tx > PACKET_DATA_SIZE:
        # The input goes into a features account (written in transaction-sized pieces) that
        # `infer` or `create_job` reads: the packet no longer bounds the feature count.
        routes.append(
            Route(
                "features account",
                f"{n} features make an infer transaction of {tx} bytes, over Solana's "
                f"{PACKET_DATA_SIZE}-byte packet limit (at most {MAX_FEATURES_TX} features fit "
                "in the transaction): needs a features account: infer --features-account "
                "(or infer --large, which writes one)",
            )
        )
    widest = n
    for i, op in enumerate(qm.ops):
        width = (
            op.n_out
            if isinstance(op, QDense | QSoftmax | QTrees | QRecurrent | QConv1d | QPool)
            else 0
        )
        if isinstance(op, QLut):
            width = op.n
        if isinstance(op, QRecurrent):
            # exec.rs keeps the op's state (h, c, gate buffers) after its output.
            width = op.n_out + recurrent_state_words(op)
        widest = max(widest, width)
        if isinstance(op, QRecurrent) and width > MAX_LAYER_WIDTH:
            problems.append(
                Problem(
                    "scratch arena",
                    f"op {i} ({op.kind.name} {op.steps}x{op.features} -> {op.hidden}, "
                    f"{'sequence' if op.sequence else 'last'}) needs {op.n_out} output and "
                    f"{recurrent_state_words(op)} state words, more than the {MAX_LAYER_WIDTH} "
                    f"the program's {HEAP_BYTES // 1024} KiB scratch arena holds per op: use "
                    "fewer hidden units or steps, or sequence-to-last output",
                )
            )
        elif width > MAX_LAYER_WIDTH:
            problems.append(
                Problem(
                    "scratch arena",
                    f"op {i} produces {width} values, more than the {MAX_LAYER_WIDTH} the "
                    f"program's {HEAP_BYTES // 1024} KiB scratch arena holds per layer: use a "
                    f"layer of at most {MAX_LAYER_WIDTH} units",
                )
            )
    if n > MAX_FEATURES_SCRATCH:
        problems.append(
            Problem(
                "scratch arena",
                f"{n} features exceed the {MAX_FEATURES_SCRATCH} the scratch arena holds",
            )
        )
    if qm.n_outputs > MAX_OUTPUTS:
        what = "classes" if qm.n_classes else "outputs"
        problems.append(
            Problem(
                "return data",
                f"{qm.n_outputs} {what} do not fit infer's return data (at most {MAX_OUTPUTS} "
                f"i64 outputs in 1,024 bytes): merge rare classes or split the model into "
                f"models of at most {MAX_OUTPUTS} {what}",
            )
        )
    cu = estimate_cu(qm)
    js = job_sizes(qm)
    job_txs = 0
    if cu > MAX_TX_CU:
        over = (
            f"one infer needs an estimated {cu:,} compute units, over the {MAX_TX_CU:,} a "
            "transaction may use"
        )
        job_problems = []
        if js.account_bytes > MAX_JOB_SPACE:
            job_problems.append(
                f"its job account would need {js.account_bytes:,} bytes (input snapshot "
                f"{4 * n:,}, buffers {js.a_words} + {js.b_words} words, state "
                f"{js.state_words} words), over the {MAX_JOB_SPACE:,} a program-created "
                "account may have"
            )
        if js.tmp_words > JOB_TMP_WORDS:
            job_problems.append(
                f"a step needs {js.tmp_words:,} working words, over the {JOB_TMP_WORDS:,} "
                "infer_step lends from the heap"
            )
        if job_problems:
            problems.append(
                Problem(
                    "job account",
                    f"{over}, and it cannot run as a job: {'; '.join(job_problems)}: "
                    f"{_cu_hint(qm)}",
                )
            )
        else:
            job_txs = job_transactions(qm, cu)
            routes.append(
                Route(
                    "job",
                    f"{over}: over one transaction: runs as a job, ~{job_txs} transactions "
                    f"(~{-(-cu // JOB_STEP_CU)} infer_step): infer --large "
                    "(InferenceClient.infer_large)",
                )
            )
    return Feasibility(
        n_features=n,
        tx_bytes=tx,
        tx_bytes_with_priority_fee=infer_tx_bytes(n, priority_fee=True),
        tx_bytes_limit=PACKET_DATA_SIZE,
        max_features=MAX_FEATURES_TX,
        max_features_with_priority_fee=MAX_FEATURES_TX_PRIORITY,
        widest_buffer=widest,
        scratch_limit=MAX_LAYER_WIDTH,
        n_outputs=qm.n_outputs,
        outputs_limit=MAX_OUTPUTS,
        cu_estimate=cu,
        cu_limit=MAX_TX_CU,
        problems=problems,
        routes=routes,
        job_bytes=js.account_bytes,
        job_transactions=job_txs,
    )


def check(qm: QModel) -> Feasibility:
    """``assess`` that raises ``InfeasibleModelError`` when a limit is broken."""
    f = assess(qm)
    if f.problems:
        raise InfeasibleModelError(f.problems)
    return f


# ------------------------------------------------------------------ calibration sanity


def check_declared_range(lo: NDArray[np.float64], hi: NDArray[np.float64]) -> None:
    """An explicitly declared input range must be finite and inside Q16.16."""
    for j in range(lo.shape[0]):
        a, b = float(lo[j]), float(hi[j])
        if not (np.isfinite(a) and np.isfinite(b)):
            why = f"declared range of feature {j} is [{a}, {b}]; both bounds must be finite"
        elif max(abs(a), abs(b)) >= Q16_LIMIT:
            why = (
                f"declared range of feature {j} is [{a:g}, {b:g}], but features enter the "
                f"program as Q16.16 i32, so |x| must stay below {Q16_LIMIT:g}: rescale the "
                "feature or declare a narrower range"
            )
        else:
            continue
        raise InfeasibleModelError([Problem("feature range", why)])


def check_calibration(
    calib: NDArray[np.float64],
    *,
    declared: Iterable[bool] | None = None,
) -> None:
    """Refuse calibration data from which no usable feature range can be derived.

    ``declared[j]`` is True when the caller declared feature j's range explicitly (then a
    constant column is fine: its range does not come from the data).
    """
    n_rows, n_cols = calib.shape
    if n_rows < MIN_CALIBRATION_ROWS:
        raise InfeasibleModelError(
            [
                Problem(
                    "calibration",
                    f"calibration data has {n_rows} row(s); at least {MIN_CALIBRATION_ROWS} "
                    "are needed (pass typical inputs, e.g. the training set)",
                )
            ]
        )
    bad = np.argwhere(~np.isfinite(calib))
    if bad.size:
        r, c = (int(v) for v in bad[0])
        raise InfeasibleModelError(
            [Problem("calibration", f"calibration row {r}, feature {c} is {calib[r, c]}")]
        )
    big = np.argwhere(np.abs(calib) >= Q16_LIMIT)
    if big.size:
        r, c = (int(v) for v in big[0])
        raise InfeasibleModelError(
            [
                Problem(
                    "feature range",
                    f"feature {c} reaches {calib[r, c]:g} (calibration row {r}); features "
                    f"enter the program as Q16.16 i32, so |x| must stay below {Q16_LIMIT:g}: "
                    "rescale the feature before training (e.g. thousands instead of units)",
                )
            ]
        )
    flags = [False] * n_cols if declared is None else list(declared)
    span = calib.max(axis=0) - calib.min(axis=0)
    constant = [j for j in range(n_cols) if span[j] == 0 and not flags[j]]
    if constant:
        shown = ", ".join(str(j) for j in constant[:8]) + (" ..." if len(constant) > 8 else "")
        raise InfeasibleModelError(
            [
                Problem(
                    "calibration",
                    f"feature(s) {shown} are constant in the calibration data, so the range the "
                    "chain accepts cannot be derived from it (almost every real input would be "
                    "rejected): pass calibration data where every feature varies, or declare "
                    "the ranges (input_range / --input-range)",
                )
            ]
        )


__all__ = [
    "MAX_FEATURES_TX",
    "MAX_LAYER_WIDTH",
    "MAX_OUTPUTS",
    "MAX_TX_CU",
    "PACKET_DATA_SIZE",
    "Feasibility",
    "InfeasibleModelError",
    "JobSizes",
    "Problem",
    "Route",
    "assess",
    "check",
    "check_calibration",
    "check_declared_range",
    "cu_terms",
    "estimate_cu",
    "infer_tx_bytes",
    "job_sizes",
    "job_transactions",
    "recurrent_state_words",
]
