"""CPI overhead: ``infer`` called by another program (``risk_gate``, docs/cpi.md) against the
same ``infer`` sent directly, on LiteSVM.

The gate's ``borrow`` computes two features from on-chain balances, calls ``infer`` through
``ml_agent_cpi`` and pays out when a small credit model approves. For each of several loans the
bench sends the direct ``infer`` with exactly the features the gate will compute, then the
``borrow``; the overhead is ``borrow`` CU minus direct ``infer`` CU (the CPI itself, the gate's
checks, reading the return data and the lamport transfer).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer

from ..chain.base import Chain
from ..inference import infer_instruction
from ..model import QModel, compile_model, encode, import_sklearn
from ..registry import DeployedModel, ModelRegistry
from ..risk_gate import GATE_LEN, create_gate_account, feature_fx, init_gate, risk_gate_so_path
from ..risk_gate import borrow as borrow_ix

GIB = 1 << 30  # the gate's feature unit, in lamports
APPROVE = 1


def credit_model(seed: int = 0) -> QModel:
    """A decision tree on (amount, balance) in units of 2^30 lamports: approve (class 1) when
    the amount is at most a quarter of the borrower's balance."""
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.uniform(0, 4, 4000), rng.uniform(0, 16, 4000)])
    y = (x[:, 0] <= 0.25 * x[:, 1]).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = DecisionTreeClassifier(max_depth=8, random_state=seed).fit(x, y)
    qm = compile_model(import_sklearn(est), x)
    qm.name = "credit_tree"
    return qm


@dataclass
class Gate:
    """A deployed risk_gate with a funded vault over a deployed credit model."""

    program: Pubkey
    gate: Pubkey
    model: DeployedModel
    qmodel: QModel
    caps: tuple[int, int]
    admin: Keypair
    gate_keypair: Keypair


async def deploy_gate(
    chain: Chain,
    payer: Keypair,
    *,
    min_confidence_q16: int = 0,
    max_amount: int = 4 * GIB,
    funding: int = 20 * GIB,
    program: Keypair | None = None,
) -> Gate:
    program = program or Keypair()
    await chain.deploy_program(program, risk_gate_so_path().read_bytes(), payer)
    qm = credit_model()
    deployed = await ModelRegistry(chain, payer).deploy(encode(qm))
    hi = np.asarray(qm.input.hi, dtype=np.int64)
    caps = (int(hi[0]), int(hi[1]))
    gate = Keypair()
    floor = await chain.minimum_balance_for_rent_exemption(GATE_LEN)
    await chain.send(
        [
            create_gate_account(program.pubkey(), payer.pubkey(), gate.pubkey(), floor),
            init_gate(
                program.pubkey(),
                payer.pubkey(),
                gate.pubkey(),
                deployed.model,
                approve_class=APPROVE,
                min_confidence_q16=min_confidence_q16,
                max_amount=max_amount,
                caps=caps,
            ),
        ],
        payer,
        [gate],
    )
    await chain.send(
        [
            transfer(
                TransferParams(
                    from_pubkey=payer.pubkey(), to_pubkey=gate.pubkey(), lamports=funding
                )
            )
        ],
        payer,
    )
    return Gate(program.pubkey(), gate.pubkey(), deployed, qm, caps, payer, gate)


@dataclass
class CpiCase:
    amount: int
    balance: int
    features_fx: list[int]
    direct_cu: int
    cpi_cu: int
    approved: bool
    overhead: int  # cpi_cu - direct_cu


@dataclass
class CpiBenchReport:
    model: str
    cases: list[CpiCase] = field(default_factory=list)
    overhead_min: int = 0  # over the approved loans (they include the transfer)
    overhead_max: int = 0


# (amount, borrower balance) in units of 2^30 lamports: approvals and denials.
LOANS = [(1.0, 8.0), (0.5, 12.0), (2.0, 10.0), (3.0, 4.0), (0.25, 2.0), (1.5, 3.0)]


async def run_cpi_bench(chain: Chain, payer: Keypair) -> CpiBenchReport:
    g = await deploy_gate(chain, payer)
    report = CpiBenchReport(g.qmodel.name)
    for amount_u, balance_u in LOANS:
        amount, balance = int(amount_u * GIB), int(balance_u * GIB)
        borrower = Keypair()
        await chain.airdrop(borrower.pubkey(), balance)
        fx = [feature_fx(amount, g.caps[0]), feature_fx(balance, g.caps[1])]
        direct = await chain.send([infer_instruction(g.model.model, g.model.weights, fx)], payer)
        res = await chain.send(
            [
                borrow_ix(
                    g.program, borrower.pubkey(), g.gate, g.model.model, g.model.weights, amount
                )
            ],
            payer,
            [borrower],
            check=False,
        )
        # A denial aborts the borrow after the CPI returned: its CU still covers the whole path
        # except the transfer.
        cu, base = res.compute_units, direct.compute_units
        report.cases.append(CpiCase(amount, balance, fx, base, cu, res.ok, cu - base))
    approved = [c.overhead for c in report.cases if c.approved]
    if not approved:
        raise RuntimeError("cpi bench: the gate approved no loan; the CU would miss the transfer")
    report.overhead_min, report.overhead_max = min(approved), max(approved)
    return report


def format_cpi_report(r: CpiBenchReport) -> str:
    head = (
        f"{'cpi':<10} {'loan (amount / balance, 2^30 lamports)':<40} "
        f"{'infer':>7} {'via CPI':>8} {'overhead':>9}"
    )
    lines = [head, "-" * len(head)]
    for c in r.cases:
        what = (
            f"{c.amount / GIB:g} / {c.balance / GIB:g} ({'approved' if c.approved else 'denied'})"
        )
        lines.append(
            f"{'risk_gate':<10} {what:<40} {c.direct_cu:>7,} {c.cpi_cu:>8,} {c.overhead:>9,}"
        )
    lines.append(
        f"CPI overhead over a direct infer, approved loans ({r.model}): "
        f"{r.overhead_min:,}-{r.overhead_max:,} CU"
    )
    return "\n".join(lines)
