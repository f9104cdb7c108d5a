"""Fit the compute-unit estimate of `client/model/feasibility.py` on LiteSVM measurements.

    python scripts/fit_cu_model.py            # measure, fit, print CU_COEFFICIENTS
    python scripts/fit_cu_model.py --check    # only compare the current estimate with LiteSVM

It compiles a spread of models (MLPs at INT8/INT16 in every layout, with and without LUT
activations, softmax heads up to 126 classes, pruned layers, decision trees, forests and boosted
ensembles), deploys each on LiteSVM and measures the whole `infer` instruction (worst case over
data samples and inputs at the declared bounds, as the bench does).  Non-negative least squares
on `cu_terms` gives the coefficients, which are then scaled up so that no measured model
exceeds its estimate; `CU_MARGIN` adds a few percent on top.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from client.model import compile_model, encode, features_to_q16, import_sklearn
from client.model.feasibility import cu_terms, estimate_cu
from client.model.ir import (
    Activation,
    ActivationLayer,
    DenseLayer,
    FloatModel,
    Head,
)
from client.model.qmodel import QModel

F64 = np.ndarray[Any, np.dtype[np.float64]]


def random_mlp(
    widths: list[int], act: Activation, head: Head, seed: int, density: float = 1.0
) -> tuple[FloatModel, F64]:
    rng = np.random.default_rng(seed)
    layers: list[DenseLayer | ActivationLayer] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        w = rng.normal(0, np.sqrt(2.0 / a), (b, a))
        if density < 1.0:
            w = w * (rng.random(w.shape) < density)
        layers.append(DenseLayer(w, rng.normal(0, 0.1, b)))
        if i < len(widths) - 2:
            layers.append(ActivationLayer(act))
    n_classes = widths[-1] if head is Head.SOFTMAX else 2 if head is Head.LOGISTIC else 0
    fm = FloatModel(
        n_features=widths[0],
        layers=tuple(layers),
        head=head,
        labels=tuple(range(n_classes)),
        name="mlp",
    )
    return fm, rng.normal(0, 1, (256, widths[0]))


def mlp_cases(seed: int, count: int) -> Iterator[tuple[str, QModel, F64]]:
    rng = np.random.default_rng(seed)
    acts = [Activation.RELU, Activation.TANH, Activation.SIGMOID]
    for k in range(count):
        depth = int(rng.integers(1, 4))
        widths = [int(rng.integers(1, 120))]
        widths += [int(rng.integers(1, 300)) for _ in range(depth)]
        head = [Head.NONE, Head.SOFTMAX, Head.LOGISTIC][k % 3]
        widths.append(1 if head is not Head.SOFTMAX else int(rng.integers(2, 127)))
        act = acts[int(rng.integers(0, 3))]
        density = 1.0 if k % 4 else float(rng.uniform(0.05, 0.5))
        fm, x = random_mlp(widths, act, head, seed * 1000 + k, density)
        for prec, prefer in [(8, "size"), (8, "speed"), (16, "size")]:
            try:
                qm = compile_model(fm, x, prec, prefer=prefer, check_feasible=False)
            except Exception:
                continue
            yield f"mlp{widths}-{act.value}-{head.value}-d{density:.2f}-{prec}-{prefer}", qm, x


def big_cases() -> Iterator[tuple[str, QModel, F64]]:
    for widths, prec, prefer in [
        ([256, 544, 544, 10], 8, "speed"),
        ([256, 384, 384, 10], 8, "size"),
        ([128, 1000, 10], 8, "speed"),
        ([200, 300, 300, 1], 16, "size"),
        ([64, 1200, 100], 8, "size"),
    ]:
        head = Head.SOFTMAX if widths[-1] > 1 else Head.NONE
        fm, x = random_mlp(widths, Activation.RELU, head, 7)
        qm = compile_model(fm, x, prec, prefer=prefer, check_feasible=False)
        yield f"big{widths}-{prec}-{prefer}", qm, x


def tree_cases(seed: int) -> Iterator[tuple[str, QModel, F64]]:
    from sklearn.datasets import make_classification, make_regression
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    specs: list[tuple[str, int, int, int, int]] = [
        ("dt", 10, 4, 1, 2),
        ("dt", 30, 14, 1, 5),
        ("dtr", 12, 9, 1, 0),
        ("rf", 20, 8, 20, 2),
        ("rf", 16, 6, 60, 6),
        ("rfr", 30, 10, 10, 0),
        ("gb", 20, 3, 50, 2),
        ("gb", 20, 4, 30, 4),
        ("gbr", 8, 5, 40, 0),
        ("gbr", 15, 3, 150, 0),
    ]
    for kind, nf, depth, n_trees, n_classes in specs:
        est: Any
        if n_classes:
            x, y = make_classification(
                1500, nf, n_informative=min(nf, 8), n_classes=n_classes, random_state=seed
            )
            est = {
                "dt": DecisionTreeClassifier(max_depth=depth, random_state=seed),
                "rf": RandomForestClassifier(n_trees, max_depth=depth, random_state=seed),
                "gb": GradientBoostingClassifier(
                    n_estimators=n_trees, max_depth=depth, random_state=seed
                ),
            }[kind]
        else:
            x, y = make_regression(1500, nf, random_state=seed)
            est = {
                "dtr": DecisionTreeRegressor(max_depth=depth, random_state=seed),
                "rfr": RandomForestRegressor(n_trees, max_depth=depth, random_state=seed),
                "gbr": GradientBoostingRegressor(
                    n_estimators=n_trees, max_depth=depth, random_state=seed
                ),
            }[kind]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(x, y)
        qm = compile_model(import_sklearn(est), x, check_feasible=False)
        yield f"trees-{kind}-{nf}f-d{depth}-{n_trees}t-{n_classes}c", qm, x


def boundary_rows(qm: QModel, n: int, seed: int) -> np.ndarray[Any, np.dtype[np.int64]]:
    rng = np.random.default_rng(seed)
    lo, hi = qm.input.lo, qm.input.hi
    pick = rng.integers(0, 3, size=(n, lo.size))
    inside = rng.integers(lo, hi + 1, size=(n, lo.size))
    out: np.ndarray[Any, np.dtype[np.int64]] = np.where(
        pick == 0, lo, np.where(pick == 1, hi, inside)
    )
    return out


async def measure(cases: list[tuple[str, QModel, F64]], samples: int = 16) -> list[int]:
    """Worst-case CU of one `infer` per model, on LiteSVM."""
    from solders.compute_budget import set_compute_unit_limit
    from solders.keypair import Keypair

    from client.bench.runner import fast_chain
    from client.inference import InferenceClient, infer_instruction
    from client.program import PROGRAM_ID
    from client.registry import ModelRegistry

    chain = fast_chain()
    payer = Keypair()
    await chain.airdrop(payer.pubkey(), 10**13)
    registry = ModelRegistry(chain, payer)
    client = InferenceClient(chain, payer, log_limit=None)
    consumed = f"Program {PROGRAM_ID} consumed "
    out = []
    for _, qm, x in cases:
        deployed = await registry.deploy(encode(qm))
        handle = await client.model(deployed.model)
        data_rows = np.clip(features_to_q16(x[:samples]), qm.input.lo, qm.input.hi)
        rows = np.vstack([data_rows, boundary_rows(qm, samples, 1)])
        worst = 0
        for r in rows:
            ix = infer_instruction(handle.address, handle.weights, r.tolist())
            res = await chain.send([set_compute_unit_limit(1_400_000), ix], payer, check=False)
            assert res.ok, res.logs[-5:]
            for line in res.logs:
                if line.startswith(consumed):
                    worst = max(worst, int(line[len(consumed) :].split()[0]))
        out.append(worst)
    return out


def all_cases() -> list[tuple[str, QModel, F64]]:
    return [*mlp_cases(1, 40), *big_cases(), *tree_cases(0)]


def fit(cases: list[tuple[str, QModel, F64]], cus: list[int]) -> dict[str, float]:
    from scipy.optimize import nnls

    terms = [cu_terms(qm) for _, qm, _ in cases]
    keys = sorted({k for t in terms for k in t})
    a = np.array([[t.get(k, 0.0) for k in keys] for t in terms])
    b = np.array(cus, dtype=np.float64)
    # Relative error matters (a 1,000 CU model and a 1M CU one): weight rows by 1/cu.
    w = 1.0 / b
    coef, _ = nnls(a * w[:, None], b * w)
    worst = float(np.max(b / (a @ coef)))
    return {k: round(float(c) * worst, 3) for k, c in zip(keys, coef, strict=True)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare estimate and chain")
    args = parser.parse_args()
    cases = all_cases()
    cus = asyncio.run(measure(cases))
    if not args.check:
        coef = fit(cases, cus)
        print("CU_COEFFICIENTS: dict[str, float] = {")
        for k, v in coef.items():
            print(f'    "{k}": {v},')
        print("}")
        return 0
    ratios = []
    for (name, qm, _), cu in zip(cases, cus, strict=True):
        est = estimate_cu(qm)
        ratios.append(est / cu)
        print(f"{name:<60} measured {cu:>9,}  estimate {est:>9,}  ratio {est / cu:.3f}")
    print(f"estimate / measured: min {min(ratios):.3f}, max {max(ratios):.3f}")
    return 0 if min(ratios) >= 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
