"""Train the regime models (GRU-32, LSTM-64, Conv1D) in numpy and write their ONNX fixtures.

    result = train_regime_models(RegimeTrainConfig(), out_dir=Path("tests/fixtures/regime"))

1. windows (``client.model.sequence_data``): training paths from seed ``train_seed``, held-out
   paths from ``test_seed`` (no path shared), 120 x 5 on-chain features each;
2. features standardised with the training mean/std (folded into the first layer afterwards, so
   the saved models take the raw features ``q / 65536`` an agent computes);
3. mini-batch Adam with a global gradient-norm clip, a fixed number of steps, batches drawn from
   a seeded generator: the same config gives the same weights on the same machine (one BLAS
   thread; float rounding may differ across CPUs, so a regenerated file may differ in the last
   bits elsewhere);
4. each model saved as ONNX in ``torch.onnx.export``'s shape (``client.model.sequence_onnx``),
   checked against onnxruntime, plus ``heldout.npz`` (held-out Q16.16 feature rows and labels)
   and ``regime.json`` (config, accuracies, sizes).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

from .sequence_data import (
    N_CLASSES,
    RegimeRows,
    WindowConfig,
    WindowSet,
    class_counts,
    make_windows,
    path_rows,
    path_seed,
)
from .sequence_nets import ConvNet, GRUNet, LSTMNet, Params, SequenceNet
from .sequence_onnx import onnxruntime_logits, save

FIXTURE_DIR: Final = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "regime"
MODEL_FILES: Final = {"gru": "gru32.onnx", "lstm": "lstm64.onnx", "conv": "conv.onnx"}
HELDOUT_FILE: Final = "heldout.npz"
SUMMARY_FILE: Final = "regime.json"
# |onnxruntime - numpy| bound on the logits (float32 graph vs the float64 numpy forward).
ONNX_TOLERANCE: Final = 1e-4


@dataclass(frozen=True)
class ModelSpec:
    kind: str  # "gru" | "lstm" | "conv"
    hidden: int = 32  # GRU/LSTM hidden units; Conv1D output channels
    kernel: int = 5  # Conv1D only
    pool: int = 4  # Conv1D only (MaxPool1d kernel = stride)
    steps: int = 3000
    batch: int = 64
    lr: float = 3e-3
    clip: float = 1.0
    seed: int = 0

    def build(self, n_features: int, window: int) -> SequenceNet:
        if self.kind == "gru":
            return GRUNet.init(n_features, self.hidden, N_CLASSES, window, self.seed)
        if self.kind == "lstm":
            return LSTMNet.init(n_features, self.hidden, N_CLASSES, window, self.seed)
        if self.kind == "conv":
            return ConvNet.init(
                n_features, self.hidden, self.kernel, self.pool, N_CLASSES, window, self.seed
            )
        raise ValueError(f"unknown model kind {self.kind!r} (gru, lstm, conv)")


DEFAULT_MODELS: Final = (
    ModelSpec("gru", hidden=32, steps=4000, lr=3e-3),
    ModelSpec("lstm", hidden=64, steps=2500, lr=2e-3),
    ModelSpec("conv", hidden=16, kernel=5, pool=4, steps=4000, lr=3e-3),
)


@dataclass(frozen=True)
class RegimeTrainConfig:
    windows: WindowConfig = field(default_factory=WindowConfig)
    train_paths: int = 150
    test_paths: int = 40
    train_seed: int = 1
    test_seed: int = 2
    # Held-out rows saved in heldout.npz: this many test paths (all their rows).
    fixture_paths: int = 12
    models: tuple[ModelSpec, ...] = DEFAULT_MODELS


DEFAULT_CONFIG: Final = RegimeTrainConfig()


@dataclass(frozen=True)
class ModelResult:
    kind: str
    file: str
    n_params: int
    onnx_bytes: int
    train_accuracy: float
    heldout_accuracy: float
    heldout_windows: int
    onnx_max_abs_diff: float  # onnxruntime vs numpy forward, on onnx_checked windows
    onnx_checked: int
    train_seconds: float
    final_loss: float


@dataclass(frozen=True)
class TrainedModel:
    net: SequenceNet  # folded: takes raw features
    result: ModelResult


@dataclass(frozen=True)
class Standardizer:
    mean: NDArray[np.float64]
    std: NDArray[np.float64]

    @classmethod
    def fit(cls, w: WindowSet) -> Standardizer:
        flat = w.as_sequences().reshape(-1, w.n_features)
        return cls(flat.mean(axis=0), np.maximum(flat.std(axis=0), 1e-9))

    def apply(self, seq: NDArray[np.float64]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = (seq - self.mean) / self.std
        return out


def adam_train(
    net: SequenceNet,
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    spec: ModelSpec,
    log: Callable[[str], None] | None = None,
) -> float:
    """``spec.steps`` Adam steps on mini-batches of ``(x, y)``; returns the mean loss of the last
    100 steps. Deterministic: batches come from ``default_rng(spec.seed + 1)``."""
    rng = np.random.default_rng(spec.seed + 1)
    b1, b2, eps = 0.9, 0.999, 1e-8
    m: Params = {k: np.zeros_like(v) for k, v in net.params.items()}
    v: Params = {k: np.zeros_like(v) for k, v in net.params.items()}
    recent: list[float] = []
    for step in range(1, spec.steps + 1):
        idx = rng.integers(0, len(y), size=spec.batch)
        loss, grads = net.loss_grads(x[idx], y[idx])
        norm = float(np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads.values())))
        scale = min(1.0, spec.clip / (norm + 1e-12))
        # Cosine decay to 10 % of the initial rate: the last steps settle instead of jumping.
        lr = spec.lr * (0.55 + 0.45 * np.cos(np.pi * step / spec.steps))
        for k, p in net.params.items():
            g = grads[k] * np.float32(scale)
            m[k] = b1 * m[k] + (1 - b1) * g
            v[k] = b2 * v[k] + (1 - b2) * g * g
            mh = m[k] / (1 - b1**step)
            vh = v[k] / (1 - b2**step)
            p -= (lr * mh / (np.sqrt(vh) + eps)).astype(np.float32)
        recent = [*recent[-99:], loss]
        if log is not None and step % 500 == 0:
            log(f"  {net.kind} step {step}/{spec.steps} loss {np.mean(recent):.4f}")
    return float(np.mean(recent))


def accuracy(net: SequenceNet, w: WindowSet) -> float:
    return float(np.mean(net.predict(w.as_sequences()) == w.y))


def heldout_rows(config: RegimeTrainConfig) -> list[RegimeRows]:
    """The rows of the first ``fixture_paths`` held-out paths (what heldout.npz stores)."""
    return [
        path_rows(config.windows, path_seed(config.test_seed, i))
        for i in range(config.fixture_paths)
    ]


def save_heldout(path: Path, rows: list[RegimeRows], config: RegimeTrainConfig) -> None:
    """Held-out Q16.16 feature rows (int32), labels and the Q32 prices they were computed from:
    any ``window`` consecutive rows of one path is a window, labelled with its last row's
    label."""
    assert all(r.prices is not None for r in rows)
    np.savez_compressed(
        path,
        prices=np.stack([r.prices for r in rows if r.prices is not None]).astype(np.int64),
        rows=np.stack([r.rows for r in rows]).astype(np.int32),
        labels=np.stack([r.labels for r in rows]).astype(np.int8),
        spec=np.array(config.windows.spec),
        window=np.array(config.windows.window),
    )


def train_regime_models(
    config: RegimeTrainConfig = DEFAULT_CONFIG,
    out_dir: Path = FIXTURE_DIR,
    *,
    only: tuple[str, ...] = (),
    log: Callable[[str], None] | None = None,
) -> list[TrainedModel]:
    """Train every model of ``config`` (or the kinds in ``only``), write the ONNX files, the
    held-out rows and the summary to ``out_dir``; return the trained models."""
    from threadpoolctl import threadpool_limits

    out_dir.mkdir(parents=True, exist_ok=True)
    with threadpool_limits(limits=1):
        train = make_windows(config.windows, config.train_paths, config.train_seed)
        test = make_windows(config.windows, config.test_paths, config.test_seed)
        std = Standardizer.fit(train)
        if log is not None:
            log(f"train {len(train)} windows {class_counts(train.y)}")
            log(f"held-out {len(test)} windows {class_counts(test.y)}")
        trained: list[TrainedModel] = []
        for spec in config.models:
            if only and spec.kind not in only:
                continue
            t0 = time.process_time()
            net = spec.build(train.n_features, train.window)
            x = std.apply(train.as_sequences()).astype(np.float32)
            loss = adam_train(net, x, train.y, spec, log)
            folded = net.fold_input_affine(std.mean, std.std)
            seconds = time.process_time() - t0
            path = out_dir / MODEL_FILES[spec.kind]
            data = save(folded, path)
            check = test.as_sequences()[:64]
            diff = float(np.max(np.abs(onnxruntime_logits(data, check) - folded.forward(check))))
            if diff >= ONNX_TOLERANCE:
                raise RuntimeError(f"{path.name}: onnxruntime differs from numpy by {diff:.2e}")
            result = ModelResult(
                kind=spec.kind,
                file=path.name,
                n_params=folded.n_params(),
                onnx_bytes=len(data),
                train_accuracy=accuracy(folded, train),
                heldout_accuracy=accuracy(folded, test),
                heldout_windows=len(test),
                onnx_max_abs_diff=diff,
                onnx_checked=len(check),
                train_seconds=round(seconds, 1),
                final_loss=loss,
            )
            if log is not None:
                log(
                    f"{spec.kind}: held-out accuracy {result.heldout_accuracy:.4f} "
                    f"(train {result.train_accuracy:.4f}), onnx diff {diff:.1e}, {seconds:.0f} s"
                )
            trained.append(TrainedModel(folded, result))
        save_heldout(out_dir / HELDOUT_FILE, heldout_rows(config), config)
        write_summary(out_dir / SUMMARY_FILE, config, trained, test)
    return trained


def write_summary(
    path: Path, config: RegimeTrainConfig, trained: list[TrainedModel], test: WindowSet
) -> None:
    old: dict[str, object] = {}
    if path.exists():
        old = json.loads(path.read_text()).get("models", {})
    models = dict(old) | {t.result.kind: asdict(t.result) for t in trained}
    summary = {
        "command": "python -m client train-regime",
        "config": asdict(config),
        "heldout_class_counts": class_counts(test.y),
        "majority_class_rate": max(class_counts(test.y).values()) / len(test),
        "models": models,
    }
    path.write_text(json.dumps(summary, indent=2) + "\n")
