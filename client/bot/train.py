"""Train a trading model on a price series with the agent's own features.

    result = train(prices, TrainConfig())
    Path("agent.mla").write_bytes(result.model)

1. prices → Q32 integers (the pool source's scale) → ``training_rows``: the bit-exact feature
   twin, so the model sees exactly the numbers ``agent_step`` computes on chain;
2. labels from the future return over ``horizon`` steps: SELL (0) below the lower quantile,
   BUY (2) above the upper one, HOLD (1) between;
3. a standardized logistic regression (scikit-learn), compiled to INT8 with the project's
   compiler (the scaler is folded into the model), encoded as a model file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ..agent import FeatureSpec, training_rows
from ..agent.decide import BUY, HOLD, SELL
from ..model.compiler import compile_model
from ..model.format import decode, encode
from ..model.reference import execute

Q32 = 1 << 32
Q16 = 65536
DEFAULT_SPEC = "return:1,return:5,sma_ratio:20,volatility:10"


def price_ints(prices: Sequence[float]) -> list[int]:
    """Prices as the pool source reports them: Q32 quote per base."""
    return [round(float(p) * Q32) for p in prices]


@dataclass(frozen=True)
class TrainConfig:
    spec: str = DEFAULT_SPEC
    horizon: int = 10
    # Fraction of rows labelled SELL (lowest future returns) and BUY (highest).
    tail: float = 0.3
    precision: int = 8
    c: float = 1.0
    # Rows used for training; the rest is held out for an honest accuracy.
    train_fraction: float = 0.7
    max_position: int = 300 * 10**6


@dataclass(frozen=True)
class TrainResult:
    model: bytes = field(repr=False)
    spec: str
    rows: int
    label_counts: dict[str, int]
    thresholds: tuple[float, float]
    float_accuracy_train: float
    float_accuracy_test: float
    quantized_accuracy_test: float
    quantized_agreement: float


def labels(prices: Sequence[float], horizon: int, lo: float, hi: float) -> NDArray[np.int64]:
    p = np.asarray(prices, dtype=np.float64)
    fut = p[horizon:] / p[:-horizon] - 1
    return np.where(fut < lo, SELL, np.where(fut > hi, BUY, HOLD)).astype(np.int64)


def dataset(
    prices: Sequence[float], config: TrainConfig
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64], tuple[float, float]]:
    """(features as floats, Q16.16 features, labels, thresholds) for every step that has both
    a full feature history and a future ``horizon`` steps ahead."""
    spec = FeatureSpec.parse(config.spec)
    rows = np.asarray(
        training_rows(price_ints(prices), spec, max_position=config.max_position), dtype=np.int64
    )
    first = spec.lookback - 1  # the price index of the first row
    p = np.asarray(prices, dtype=np.float64)
    fut = p[config.horizon :] / p[: -config.horizon] - 1
    lo, hi = np.quantile(fut, [config.tail, 1 - config.tail])
    y_all = labels(prices, config.horizon, float(lo), float(hi))
    n = min(len(rows), len(y_all) - first)
    if n < 50:
        raise ValueError(f"need a longer series: only {n} labelled rows")
    xq = rows[:n]
    return xq.astype(np.float64) / Q16, xq, y_all[first : first + n], (float(lo), float(hi))


def train(prices: Sequence[float], config: TrainConfig | None = None) -> TrainResult:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ..model.importers import import_sklearn

    cfg = config or TrainConfig()
    x, xq, y, thresholds = dataset(prices, cfg)
    split = int(len(x) * cfg.train_fraction)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=cfg.c, max_iter=1000))
    clf.fit(x[:split], y[:split])
    fm = import_sklearn(clf, name="agent-momentum")
    qmodel = compile_model(fm, x[:split], cfg.precision)
    blob = encode(qmodel)
    # The quantized model on the held-out rows, through the reference executor (what the
    # chain computes), clamped to its declared input range as agent_step clamps.
    qm = decode(blob)
    lo, hi = np.asarray(qm.input.lo), np.asarray(qm.input.hi)
    xt = np.clip(xq[split:], lo, np.maximum(hi, lo))
    q_pred = np.asarray(execute(qm, xt.astype(np.int64)).classes)
    f_pred = clf.predict(x[split:])
    counts = {
        name: int((y == c).sum()) for c, name in ((SELL, "sell"), (HOLD, "hold"), (BUY, "buy"))
    }
    return TrainResult(
        model=blob,
        spec=cfg.spec,
        rows=len(x),
        label_counts=counts,
        thresholds=thresholds,
        float_accuracy_train=float(clf.score(x[:split], y[:split])),
        float_accuracy_test=float((f_pred == y[split:]).mean()),
        quantized_accuracy_test=float((q_pred == y[split:]).mean()),
        quantized_agreement=float((q_pred == f_pred).mean()),
    )
