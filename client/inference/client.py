"""Async on-chain inference: one call per feature vector, or many per transaction.

    client = InferenceClient(chain, payer)
    result = await client.infer(model_address, [5.1, 3.5, 1.4, 0.2], cross_check=True)
    print(result.class_id, result.label, result.confidence, result.compute_units)

`infer` simulates first and sizes the compute-unit limit from the simulation (+10 %), adds the
compute-budget instructions (and a priority fee when asked), sends, waits for confirmation and
decodes the return data through the IDL's `InferenceResult` type. With `cross_check` it also
runs the bit-exact local reference and raises `ParityError` on any difference.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from ..chain.base import Chain, TxResult
from ..model.errors import InputRangeError
from ..model.feasibility import assess
from ..model.fixedpoint import float_to_q16
from ..model.reference import execute
from ..program import PROGRAM_ID, build_ix, parse_events
from .errors import InferenceError, ParityError
from .features import close_features, create_features, read_features
from .jobs import (
    FLAG_FEATURES_ACCOUNT,
    JobRun,
    close_job_ix,
    create_job_ix,
    job_address,
    new_job_id,
    step_to_completion,
)
from .model import ModelHandle, load_model
from .result import CuProfile, InferenceResult, ReturnData, return_data_from_logs

# `infer` flags (instructions/infer.rs).
FLAG_LOG_CU = 1
# Limits of one transaction.
MAX_TX_CU = 1_400_000
PACKET_DATA_SIZE = 1232
# Runtime log cap per transaction; batched inferences are read back from the logs.
LOG_BYTES_LIMIT = 10_000
# Margin on the simulated compute units when setting the limit.
CU_MARGIN = 0.10


def features_to_fx(features: Sequence[float] | NDArray[np.floating]) -> list[int]:
    """Raw features to Q16.16 (`floor(x * 65536 + 0.5)`), as the program expects them."""
    return [float_to_q16(float(v)) for v in features]


def infer_instruction(
    model: Pubkey,
    weights: Pubkey,
    features_fx: Sequence[int],
    *,
    log_cu: bool = False,
    program_id: Pubkey = PROGRAM_ID,
    features_account: Pubkey | None = None,
) -> Instruction:
    """The `infer` instruction, encoded from the IDL. With `features_account` the features
    argument is empty and the program reads the input from that account (flags bit 1)."""
    flags = FLAG_LOG_CU if log_cu else 0
    accounts = {"model": model, "weights": weights}
    if features_account is not None:
        flags |= FLAG_FEATURES_ACCOUNT
        accounts["features"] = features_account
        features_fx = ()
    return build_ix(
        "infer",
        {"features": [int(v) for v in features_fx], "flags": flags},
        accounts,
        program_id=program_id,
    )


def check_features(handle: ModelHandle, x_fx: Sequence[int]) -> None:
    """Refuse locally what the program would refuse (saves a failed transaction)."""
    if len(x_fx) != handle.n_features:
        raise InferenceError(
            f"model {handle.address} takes {handle.n_features} features, got {len(x_fx)}"
        )
    for j, v in enumerate(x_fx):
        lo, hi = int(handle.lo_fx[j]), int(handle.hi_fx[j])
        if not lo <= v <= hi:
            raise InputRangeError(0, j, int(v), lo, hi)


# Limits a model breaks for every input; compute units are left to the simulation, since the
# compile-time CU figure is a (slightly pessimistic) estimate.
_EXACT_LIMITS = ("scratch arena", "return data")


def check_runnable(handle: ModelHandle) -> None:
    """Refuse a model the program can never run (activations beyond the scratch arena, outputs
    beyond the return data) before paying for a failing transaction."""
    problems = [p for p in assess(handle.qmodel).problems if p.limit in _EXACT_LIMITS]
    if problems:
        raise InferenceError(
            f"model {handle.address} can never run on chain: "
            + "; ".join(p.message for p in problems)
        )


def check_tx_size(ixs: list[Instruction], payer: Keypair, n_features: int) -> None:
    """Refuse an `infer` transaction larger than a packet (LiteSVM would run it; a validator
    drops it)."""
    size = _tx_size(ixs, payer)
    if size > PACKET_DATA_SIZE:
        raise InferenceError(
            f"an infer transaction with {n_features} features is {size} bytes, over Solana's "
            f"{PACKET_DATA_SIZE}-byte packet limit"
            + (" (drop the priority fee to save 12 bytes)" if len(ixs) > 2 else "")
        )


def reference_result(handle: ModelHandle, x_fx: Sequence[int]) -> ReturnData:
    """What the chain must return, from the numpy reference (confidence as the program's u32)."""
    tr = execute(handle.qmodel, np.asarray([list(x_fx)], dtype=np.int64))
    return ReturnData(
        int(tr.classes[0]),
        int(tr.confidence[0]) & 0xFFFF_FFFF,
        tuple(int(v) for v in tr.outputs[0]),
    )


@dataclass
class InferenceClient:
    chain: Chain
    payer: Keypair
    cu_margin: float = CU_MARGIN
    # Log bytes a transaction may produce (None: no cap, e.g. a LiteSVM without one).
    log_limit: int | None = LOG_BYTES_LIMIT
    _models: dict[Pubkey, ModelHandle] = field(default_factory=dict)

    async def model(self, address: Pubkey, *, refresh: bool = False) -> ModelHandle:
        """The model's active version (cached; `refresh` re-reads it after an activation)."""
        if refresh or address not in self._models:
            self._models[address] = await load_model(self.chain, address)
        return self._models[address]

    async def _handle(self, model: Pubkey | ModelHandle) -> ModelHandle:
        return model if isinstance(model, ModelHandle) else await self.model(model)

    async def infer(
        self,
        model: Pubkey | ModelHandle,
        features: Sequence[float] | NDArray[np.floating] | None = None,
        *,
        features_fx: Sequence[int] | None = None,
        priority_fee: int | None = None,
        cross_check: bool = False,
        log_cu: bool = False,
        check_inputs: bool = True,
        features_account: Pubkey | None = None,
    ) -> InferenceResult:
        """Run the model on chain. Pass raw `features` (floats), `features_fx` (Q16.16), or
        `features_account` (a features account holding the Q16.16 values, anyone's).

        `priority_fee` is in micro-lamports per compute unit. `check_inputs=False` sends even
        features the program will reject (to observe its error).
        """
        handle = await self._handle(model)
        if features_account is not None:
            if features is not None or features_fx is not None:
                raise ValueError("pass features, features_fx or features_account, not several")
            x = list((await read_features(self.chain, features_account)).values_fx)
        else:
            x = _features(features, features_fx)
        if check_inputs:
            check_features(handle, x)
            check_runnable(handle)
        ix = infer_instruction(
            handle.address, handle.weights, x, log_cu=log_cu, features_account=features_account
        )
        price = [set_compute_unit_price(priority_fee)] if priority_fee else []
        check_tx_size([set_compute_unit_limit(MAX_TX_CU), *price, ix], self.payer, len(x))

        sim = await self.chain.simulate([set_compute_unit_limit(MAX_TX_CU), *price, ix], self.payer)
        if not sim.ok:
            hint = ""
            if assess(handle.qmodel).needs_job:
                hint = (
                    ": the model's estimated compute is over one transaction, run it as a job "
                    "(infer_large, CLI infer --large)"
                )
            raise InferenceError(f"simulating infer on {handle.address} failed{hint}", sim)
        limit = min(MAX_TX_CU, math.ceil(sim.compute_units * (1 + self.cu_margin)))
        res = await self.chain.send(
            [set_compute_unit_limit(limit), *price, ix], self.payer, check=False
        )
        if not res.ok:
            raise InferenceError(f"infer on {handle.address} failed", res)
        result = _decode(handle, res)
        if cross_check:
            want = reference_result(handle, x)
            if not result.same_numbers(want):
                raise ParityError(f"model {handle.address}", want, result)
        return result

    async def infer_large(
        self,
        model: Pubkey | ModelHandle,
        features: Sequence[float] | NDArray[np.floating] | None = None,
        *,
        features_fx: Sequence[int] | None = None,
        features_account: Pubkey | None = None,
        keep_job: bool = False,
        job_id: int | None = None,
        max_units: int = 0,
        cross_check: bool = False,
    ) -> InferenceResult:
        """Run a model too large for one transaction as an inference job (see `run_job`);
        returns the same `InferenceResult` as `infer` (`compute_units`: all transactions')."""
        result, _ = await self.run_job(
            model,
            features,
            features_fx=features_fx,
            features_account=features_account,
            keep_job=keep_job,
            job_id=job_id,
            max_units=max_units,
            cross_check=cross_check,
        )
        return result

    async def run_job(
        self,
        model: Pubkey | ModelHandle,
        features: Sequence[float] | NDArray[np.floating] | None = None,
        *,
        features_fx: Sequence[int] | None = None,
        features_account: Pubkey | None = None,
        keep_job: bool = False,
        job_id: int | None = None,
        max_units: int = 0,
        cross_check: bool = False,
    ) -> tuple[InferenceResult, JobRun]:
        """Create a job for the model's active version, step it to completion and close it
        (unless `keep_job`). The input comes from `features_account`, or from `features` /
        `features_fx`: in the `create_job` argument when that transaction fits a packet, else
        through a temporary features account (written in transaction-sized pieces, closed
        after). Each step's compute-unit limit comes from a simulation of it; `max_units` caps
        the units per step (0: as many as the budget allows)."""
        started = time.perf_counter()
        handle = await self._handle(model)
        owner = self.payer
        temp_account: Pubkey | None = None
        txs = 0
        if features_account is not None:
            if features is not None or features_fx is not None:
                raise ValueError("pass features, features_fx or features_account, not several")
            x = list((await read_features(self.chain, features_account)).values_fx)
        else:
            x = _features(features, features_fx)
        check_features(handle, x)
        jid = job_id if job_id is not None else new_job_id()
        job = job_address(owner.pubkey(), jid)
        if features_account is None:
            ix = create_job_ix(owner.pubkey(), jid, handle.address, handle.weights, features_fx=x)
            if _tx_size([set_compute_unit_limit(MAX_TX_CU), ix], owner) > PACKET_DATA_SIZE:
                temp_account = await create_features(self.chain, owner, x)
                txs += 1 + math.ceil(len(x) / 240)
        source = features_account or temp_account
        if source is not None:
            ix = create_job_ix(
                owner.pubkey(), jid, handle.address, handle.weights, features_account=source
            )
        created = await self.chain.send([set_compute_unit_limit(MAX_TX_CU), ix], owner, check=False)
        if not created.ok:
            raise InferenceError(f"create_job for {handle.address} failed", created)
        txs += 1
        if temp_account is not None:
            # The job holds its own snapshot: the temporary account can go now.
            await close_features(self.chain, owner, temp_account)
        final, cus = await step_to_completion(
            self.chain,
            owner,
            job,
            handle.address,
            handle.weights,
            cu_margin=self.cu_margin,
            max_units=max_units,
        )
        txs += len(cus)
        if not keep_job:
            await self.chain.send([close_job_ix(owner.pubkey(), job)], owner)
        run = JobRun(
            job=job,
            final=final,
            create_cu=created.compute_units,
            step_cus=cus,
            transactions=txs,
            wall_s=time.perf_counter() - started,
        )
        decoded = _decode(handle, final)
        result = dataclasses.replace(decoded, compute_units=run.total_cu)
        if cross_check:
            want = reference_result(handle, x)
            if not result.same_numbers(want):
                raise ParityError(f"model {handle.address} (job {job})", want, result)
        return result, run

    async def infer_many(
        self,
        model: Pubkey | ModelHandle,
        rows_fx: Sequence[Sequence[int]] | NDArray[np.int64],
        *,
        per_tx: int | None = None,
    ) -> tuple[list[ReturnData], list[TxResult]]:
        """Run many feature vectors, packing as many `infer` instructions per transaction as
        the packet, compute and log limits allow (results are read from the `Program return:`
        log lines). Inputs are sent as given; a rejected row fails its whole transaction."""
        handle = await self._handle(model)
        rows = [[int(v) for v in r] for r in rows_fx]
        if not rows:
            return [], []
        k = per_tx or await self.rows_per_tx(handle, rows[0])
        out: list[ReturnData] = []
        txs: list[TxResult] = []
        for start in range(0, len(rows), k):
            chunk = rows[start : start + k]
            ixs = [infer_instruction(handle.address, handle.weights, r) for r in chunk]
            budget = [set_compute_unit_limit(MAX_TX_CU)]
            res = await self.chain.send([*budget, *ixs], self.payer, check=False)
            if not res.ok:
                raise InferenceError(f"batched infer (rows {start}..{start + len(chunk)})", res)
            datas = return_data_from_logs(res.logs, PROGRAM_ID)
            if len(datas) != len(chunk):
                raise InferenceError(
                    f"expected {len(chunk)} results in the logs, found {len(datas)} (truncated?)",
                    res,
                )
            out += [ReturnData.decode(d) for d in datas]
            txs.append(res)
        return out, txs

    async def rows_per_tx(self, handle: ModelHandle, sample_fx: Sequence[int]) -> int:
        """How many `infer` instructions of this model fit one transaction: packet size, then
        compute (from a simulation of one) and the log cap."""
        ix = infer_instruction(handle.address, handle.weights, sample_fx)
        sim = await self.chain.simulate([set_compute_unit_limit(MAX_TX_CU), ix], self.payer)
        if not sim.ok:
            raise InferenceError("simulating infer failed", sim)
        per_ix_cu = max(1, sim.compute_units)
        per_ix_logs = sum(len(line) + 1 for line in sim.logs) + 64
        k = 1
        while True:
            nxt = k + 1
            fits = (
                _tx_size([set_compute_unit_limit(MAX_TX_CU), *[ix] * nxt], self.payer)
                <= PACKET_DATA_SIZE
                and nxt * per_ix_cu * (1 + self.cu_margin) <= MAX_TX_CU
                and (self.log_limit is None or nxt * per_ix_logs <= self.log_limit)
            )
            if not fits:
                return k
            k = nxt


def _tx_size(ixs: list[Instruction], payer: Keypair) -> int:
    from solders.hash import Hash

    tx = Transaction.new_signed_with_payer(ixs, payer.pubkey(), [payer], Hash.default())
    return len(bytes(tx))


def _features(
    features: Sequence[float] | NDArray[np.floating] | None, features_fx: Sequence[int] | None
) -> list[int]:
    if (features is None) == (features_fx is None):
        raise ValueError("pass exactly one of features (floats) or features_fx (Q16.16)")
    if features_fx is not None:
        return [int(v) for v in features_fx]
    assert features is not None
    return features_to_fx(features)


def _decode(handle: ModelHandle, res: TxResult) -> InferenceResult:
    if not res.return_data:
        raise InferenceError("infer succeeded but returned no data", res)
    rd = ReturnData.decode(res.return_data)
    events = [e for e in parse_events(res.logs) if e.name == "Inference"]
    if len(events) != 1:
        raise InferenceError(f"expected one Inference event, found {len(events)}", res)
    ev = events[0].data
    digest = bytes(ev.outputs_sha256)
    if digest != rd.outputs_sha256 or int(ev.class_) != rd.class_id:
        raise InferenceError("the Inference event disagrees with the return data", res)
    return InferenceResult(
        model=handle.address,
        weights=handle.weights,
        version=int(ev.version),
        class_id=rd.class_id,
        confidence_q16=rd.confidence_q16,
        outputs=rd.outputs,
        compute_units=res.compute_units,
        signature=str(res.signature) if res.signature is not None else None,
        label=handle.label(rd.class_id),
        out_frac_bits=handle.out_frac_bits,
        is_classifier=handle.is_classifier,
        cu_profile=CuProfile.from_logs(res.logs),
        outputs_sha256=digest,
    )


async def infer(
    chain: Chain,
    payer: Keypair,
    model: Pubkey,
    features: Sequence[float] | NDArray[np.floating],
    *,
    priority_fee: int | None = None,
    cross_check: bool = False,
) -> InferenceResult:
    """One-shot `infer(model, features)` (see `InferenceClient.infer`)."""
    return await InferenceClient(chain, payer).infer(
        model, features, priority_fee=priority_fee, cross_check=cross_check
    )
