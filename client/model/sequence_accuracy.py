"""Accuracy harness for the regime sequence models: float vs quantized on held-out windows.

For each ONNX file the harness compiles a quantized model from calibration windows (training
paths), then on ``n`` held-out windows (paths no model saw) measures

- **float accuracy**: the ONNX graph run by onnxruntime (optimizations off) on the float windows;
- **quantized accuracy**: the quantized model run by an executor (default: the numpy reference
  executor, the spec the program matches bit for bit) on the same windows' Q16.16 integers;
- **agreement**: fraction of windows where the two predict the same class (issue 15: >= 99 %).

The two plug points are plain functions, so the on-chain runtime or another compiler can be
measured the same way:

- ``CompileFn(onnx_path, calibration (n, T*F) float, precision) -> model file bytes``;
- ``ExecuteFn(model file bytes, windows (n, T*F) Q16.16 int64) -> class per window``.

``compile_regime_onnx`` is the project's compile path (ONNX importer -> compiler -> encoder);
``reference_classes`` the reference executor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

from ..sim.regimes import REGIME_NAMES
from .sequence_data import WindowConfig, WindowSet, concat, path_rows, path_seed, rows_to_windows
from .sequence_onnx import onnxruntime_logits
from .sequence_train import DEFAULT_CONFIG, FIXTURE_DIR, MODEL_FILES, RegimeTrainConfig

CompileFn = Callable[[Path, NDArray[np.float64], int | str], bytes]
ExecuteFn = Callable[[bytes, NDArray[np.int64]], NDArray[np.int64]]
FloatFn = Callable[[Path, NDArray[np.float64]], NDArray[np.int64]]

# Regime models beside the three the harness trains by default (same data and training code,
# docs/regime-models.md "On chain"): a GRU small enough for one agent step, and a Conv1D whose
# activation (116 x 11 words) fits the scratch arena of one infer.
EXTRA_FILES: Final = {"gru8": "gru8.onnx", "conv11": "conv11.onnx"}
REGIME_FILES: Final = {**MODEL_FILES, **EXTRA_FILES}

DEFAULT_WINDOWS: Final = 10_000
CALIBRATION_WINDOWS: Final = 2048
TARGET_AGREEMENT: Final = 0.99


def compile_regime_onnx(
    path: Path, calibration: NDArray[np.float64], precision: int | str
) -> bytes:
    """ONNX file -> quantized model file, through the project's importers (GRU/LSTM,
    Conv1D) and compiler; ``precision`` 8, 16, "auto" or "speed" (INT8, speed
    layouts). The feasibility check
    is off because the harness measures numerics: ``compile`` accepts the GRU/LSTM files (a
    features account and a job are their routes on chain) but refuses the Conv1D one, whose
    116 x 16 activation overflows the scratch arena and a job account alike."""
    from .compiler import compile_model
    from .format import encode
    from .importers import import_onnx

    fm = import_onnx(str(path), labels=list(REGIME_NAMES))
    if precision == "speed":
        # INT8 with `compile --prefer speed`: a GRU/LSTM's h part runs PACKED3 over the state
        # rounded to Q7 (docs/model-format.md 1.12), what fits the GRU-32 in one infer.
        qm = compile_model(fm, calibration, precision=8, check_feasible=False, prefer="speed")
        return encode(qm)
    return encode(compile_model(fm, calibration, precision=precision, check_feasible=False))


def reference_classes(model: bytes, windows_q16: NDArray[np.int64]) -> NDArray[np.int64]:
    """Class per window from the numpy reference executor (features outside the model's
    declared range are clipped first, as a client would before sending them)."""
    from .format import decode
    from .reference import clip_to_range, execute

    qm = decode(model)
    out = [
        execute(qm, clip_to_range(qm, windows_q16[i : i + 256])).classes
        for i in range(0, len(windows_q16), 256)
    ]
    return np.concatenate(out).astype(np.int64)


def onnx_classes(path: Path, windows: NDArray[np.float64]) -> NDArray[np.int64]:
    """Class per window from onnxruntime, windows reshaped to the graph's input shape."""
    import onnx

    dims = [d.dim_value for d in onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim]
    shaped = windows.reshape(len(windows), *dims[1:])
    return np.argmax(onnxruntime_logits(path, shaped), axis=1).astype(np.int64)


@dataclass(frozen=True)
class SequenceAccuracy:
    model: str
    precision: int | str  # 8, 16 or "auto"
    n_windows: int
    float_accuracy: float
    quant_accuracy: float
    agreement: float
    model_bytes: int
    n_clipped: int  # windows with a feature outside the quantized model's declared range

    @property
    def meets_target(self) -> bool:
        return self.agreement >= TARGET_AGREEMENT


def heldout_windows(n: int, config: RegimeTrainConfig = DEFAULT_CONFIG) -> WindowSet:
    """The first ``n`` held-out windows: paths of ``config.test_seed`` in order (the same
    windows the training summary's held-out accuracy uses, extended with more paths)."""
    return _windows(n, config.windows, config.test_seed)


def calibration_windows(
    n: int = CALIBRATION_WINDOWS, config: RegimeTrainConfig = DEFAULT_CONFIG
) -> WindowSet:
    """``n`` training windows (the training paths' seed) to calibrate quantization with."""
    return _windows(n, config.windows, config.train_seed)


def _windows(n: int, cfg: WindowConfig, seed: int) -> WindowSet:
    if n < 1:
        raise ValueError("need at least one window")
    parts: list[WindowSet] = []
    total, i = 0, 0
    while total < n:
        w = rows_to_windows(path_rows(cfg, path_seed(seed, i)), cfg)
        parts.append(w)
        total += len(w)
        i += 1
    w = concat(parts)
    return WindowSet(w.x[:n], w.y[:n], w.window, w.n_features)


def evaluate(
    onnx_path: Path,
    heldout: WindowSet,
    calibration: WindowSet,
    *,
    precision: int | str = 8,
    compile_fn: CompileFn = compile_regime_onnx,
    execute_fn: ExecuteFn = reference_classes,
    float_fn: FloatFn = onnx_classes,
) -> SequenceAccuracy:
    """Float vs quantized accuracy and agreement of one ONNX model on ``heldout``."""
    from .format import decode
    from .reference import out_of_range

    model = compile_fn(onnx_path, calibration.x, precision)
    x_q16 = heldout.q16()
    float_pred = float_fn(onnx_path, heldout.x)
    quant_pred = execute_fn(model, x_q16)
    clipped = int(np.sum(np.any(out_of_range(decode(model).input, x_q16), axis=1)))
    return SequenceAccuracy(
        model=onnx_path.name,
        precision=precision,
        n_windows=len(heldout),
        float_accuracy=float(np.mean(float_pred == heldout.y)),
        quant_accuracy=float(np.mean(quant_pred == heldout.y)),
        agreement=float(np.mean(float_pred == quant_pred)),
        model_bytes=len(model),
        n_clipped=clipped,
    )


def regime_accuracy_report(
    directory: Path = FIXTURE_DIR,
    *,
    n_windows: int = DEFAULT_WINDOWS,
    precision: int | str = 8,
    only: tuple[str, ...] = (),
    compile_fn: CompileFn = compile_regime_onnx,
    execute_fn: ExecuteFn = reference_classes,
    log: Callable[[str], None] | None = None,
) -> list[SequenceAccuracy]:
    """``evaluate`` for every regime model file in ``directory``."""
    heldout = heldout_windows(n_windows)
    calib = calibration_windows()
    rows = []
    for kind, name in REGIME_FILES.items():
        if (only and kind not in only) or (not only and kind not in MODEL_FILES):
            continue
        row = evaluate(
            directory / name,
            heldout,
            calib,
            precision=precision,
            compile_fn=compile_fn,
            execute_fn=execute_fn,
        )
        if log is not None:
            log(f"{name}: float {row.float_accuracy:.4f} quantized {row.quant_accuracy:.4f}")
        rows.append(row)
    return rows
