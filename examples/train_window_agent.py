"""Train a model over a window of an agent's own features: the input of an agent with a feature
history (docs/agent.md "Feature history").

    python examples/train_window_agent.py [OUT_DIR] [--window T] [--steps N]

1. a regime-switching price path (`client.sim.paths`), as Q32 integers (a pool agent's scale);
2. `window_rows`: after each price, the last T feature vectors flattened time-major, oldest
   first: bit for bit what `agent_step` feeds a model of T x F inputs;
3. labels from the return over the next 10 steps (SELL / HOLD / BUY by quantile);
4. a standardized logistic regression, compiled to INT8 (`compile_model`), checked against the
   float model on held-out windows through the reference executor (what the chain computes).

Writes OUT_DIR/window_agent.mla and OUT_DIR/window_agent.mla.json ({"spec", "window", ...});
then: `python -m client registry deploy OUT_DIR/window_agent.mla`, and
`python -m client agent create --pool POOL --model MODEL --spec-from OUT_DIR/window_agent.mla
--window T`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from client.agent import FeatureSpec, window_rows
from client.bot.train import labels, price_ints
from client.model.compiler import compile_model
from client.model.format import decode, encode
from client.model.reference import execute
from client.sim.paths import regime_switching

SPEC = "return:1,return:3,sma_ratio:8,volatility:4,volatility:12"
HORIZON = 10
Q16 = 65536


def train_window(
    steps: int = 4000, window: int = 20, seed: int = 0, spec_text: str = SPEC
) -> tuple[bytes, dict[str, Any]]:
    """The model file and its sidecar (spec, window, accuracies)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from client.model.importers import import_sklearn

    spec = FeatureSpec.parse(spec_text)
    prices = regime_switching(steps, seed=seed).prices
    xq = np.asarray(window_rows(price_ints(prices), spec, window), dtype=np.int64)
    # Window j ends at price index first + j (the spec's lookback, then the window's).
    first = spec.lookback - 1 + window - 1
    p = np.asarray(prices, dtype=np.float64)
    fut = p[HORIZON:] / p[:-HORIZON] - 1
    lo, hi = np.quantile(fut, [0.3, 0.7])
    y_all = labels(prices, HORIZON, float(lo), float(hi))
    n = min(len(xq), len(y_all) - first)
    xq, y = xq[:n], y_all[first : first + n]
    x = xq.astype(np.float64) / Q16
    split = int(0.7 * n)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    clf.fit(x[:split], y[:split])
    fm = import_sklearn(clf, name=f"window-agent-{window}x{len(spec)}")
    # Windows of more than ~235 inputs fit no `infer` transaction; an agent reads them from
    # its history account, so the packet check does not apply to this model.
    model = encode(compile_model(fm, x[:split], 8, check_feasible=False))
    qm = decode(model)
    qlo, qhi = np.asarray(qm.input.lo), np.asarray(qm.input.hi)
    xt = np.clip(xq[split:], qlo, np.maximum(qhi, qlo))  # agent_step clamps the same way
    q_pred = np.asarray(execute(qm, xt).classes)
    f_pred = clf.predict(x[split:])
    meta = {
        "spec": spec_text,
        "window": window,
        "inputs": window * len(spec),
        "rows": n,
        "float_accuracy_test": float((f_pred == y[split:]).mean()),
        "quantized_accuracy_test": float((q_pred == y[split:]).mean()),
        "quantized_agreement": float((q_pred == f_pred).mean()),
    }
    return model, meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", type=Path, default=Path("."))
    ap.add_argument("--window", type=int, default=20)
    ap.add_argument("--steps", type=int, default=4000)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    model, meta = train_window(args.steps, args.window)
    path = args.out / "window_agent.mla"
    path.write_bytes(model)
    Path(str(path) + ".json").write_text(json.dumps(meta, indent=2) + "\n")
    print(
        f"{meta['inputs']} inputs ({args.window} x {len(FeatureSpec.parse(SPEC))}); held-out "
        f"accuracy float {meta['float_accuracy_test']:.3f}, INT8 "
        f"{meta['quantized_accuracy_test']:.3f}, agreement {meta['quantized_agreement']:.3f}; "
        f"wrote {path} and {path}.json"
    )


if __name__ == "__main__":
    main()
