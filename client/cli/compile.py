"""`python -m client compile` and `model-info`: turn a trained model into the on-chain format,
and show what a model file holds."""

from __future__ import annotations

import argparse
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..model import (
    FloatModel,
    ModelError,
    QModel,
    compile_model,
    decode,
    import_onnx,
    import_sklearn,
    import_torch,
    model_sha256,
    payload_bytes,
    save,
)
from ..model.qmodel import QArgmax, QDense, QLut, QSoftmax, QTrees
from .context import CliContext, add_common_options, fail

FORMATS = ("auto", "sklearn", "onnx", "torch")


@dataclass
class OpSummary:
    kind: str
    detail: str


@dataclass
class ModelSummary:
    path: str
    sha256: str
    file_bytes: int
    payload_bytes: int
    arch: str
    task: str
    n_features: int
    n_classes: int
    labels: list[str]
    ops: list[OpSummary] = field(default_factory=list)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compile",
        help="compile a scikit-learn, ONNX or PyTorch model into an on-chain model file",
        description="Quantize a trained model to INT8/INT16 fixed point and write the v1 model "
        "file that deploy-model uploads. Pickled scikit-learn and PyTorch files execute code "
        "when loaded: compile only files you trust.",
    )
    p.add_argument("model", help="input: .pkl/.joblib (scikit-learn), .onnx, or .pt (PyTorch)")
    p.add_argument(
        "--calibration",
        required=True,
        help="typical inputs, one row per sample: .npy or .csv (no header); sets activation "
        "scales and the declared feature ranges the chain enforces",
    )
    p.add_argument("--out", "-o", help="output model file (default: INPUT with .mlag)")
    p.add_argument(
        "--format", choices=FORMATS, default="auto", help="input format (default: by suffix)"
    )
    p.add_argument("--precision", type=int, choices=(8, 16), default=8)
    p.add_argument(
        "--prefer",
        choices=("size", "speed"),
        default="size",
        help="size: compact layouts; speed: packed INT8 layers (PACKED3, three MACs per multiply, "
        "from 8 rows and 128 MACs; PACKED below, where its overflow proof allows)",
    )
    p.add_argument(
        "--range-margin",
        type=float,
        default=0.25,
        help="widen each feature's calibration min/max by this fraction of its span",
    )
    add_common_options(p)
    p.set_defaults(handler=run_compile)

    info = sub.add_parser("model-info", help="show the header and ops of a model file")
    info.add_argument("model", help="a .mlag model file")
    add_common_options(info)
    info.set_defaults(handler=run_info)


def load_calibration(path: Path) -> NDArray[np.float64]:
    if not path.is_file():
        raise FileNotFoundError(f"calibration file {path} does not exist")
    if path.suffix == ".npy":
        data = np.load(path, allow_pickle=False)
    else:
        data = np.loadtxt(path, delimiter=",", ndmin=2)
    arr = np.asarray(data, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(
            f"calibration data in {path} must be a non-empty 2-D table, got {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"calibration data in {path} contains NaN or infinite values")
    return arr


def import_any(path: Path, fmt: str) -> FloatModel:
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    if fmt == "auto":
        fmt = {".onnx": "onnx", ".pt": "torch", ".pth": "torch"}.get(path.suffix, "sklearn")
    if fmt == "onnx":
        import onnx

        return import_onnx(onnx.load(str(path)))
    if fmt == "torch":
        try:
            import torch
        except ModuleNotFoundError as e:
            raise ModelError("PyTorch is not installed: pip install 'ml-agent[torch]'") from e
        return import_torch(torch.load(str(path), weights_only=False))
    estimator: Any
    if path.suffix == ".joblib":
        import joblib

        estimator = joblib.load(path)
    else:
        with path.open("rb") as f:
            estimator = pickle.load(f)
    return import_sklearn(estimator)


def summarize(path: str, data: bytes, qm: QModel) -> ModelSummary:
    ops: list[OpSummary] = []
    for op in qm.ops:
        if isinstance(op, QDense):
            ops.append(
                OpSummary(
                    "DENSE",
                    f"{op.n_in}->{op.n_out} {op.dtype.name} {op.layout.name}",
                )
            )
        elif isinstance(op, QLut):
            ops.append(OpSummary("LUT", f"{op.kind.name} x{op.n} {op.dtype.name}"))
        elif isinstance(op, QSoftmax):
            ops.append(OpSummary("SOFTMAX", f"over {op.n_in}" + (" (binary)" if op.binary else "")))
        elif isinstance(op, QArgmax):
            ops.append(OpSummary("ARGMAX", f"over {op.n_in}"))
        elif isinstance(op, QTrees):
            ops.append(
                OpSummary(
                    "TREES",
                    f"{op.mode.name}, {len(op.roots)} trees, {len(op.feature)} nodes, "
                    f"depth <= {op.max_depth}",
                )
            )
    return ModelSummary(
        path=path,
        sha256=model_sha256(data).hex(),
        file_bytes=len(data),
        payload_bytes=payload_bytes(qm),
        arch=qm.arch.name,
        task=qm.task.name,
        n_features=qm.n_features,
        n_classes=qm.n_classes,
        labels=[str(v) for v in qm.labels],
        ops=ops,
    )


def _human(s: ModelSummary) -> str:
    lines = [
        f"model        {s.path}",
        f"sha256       {s.sha256}",
        f"bytes        {s.file_bytes} (payload {s.payload_bytes})",
        f"architecture {s.arch} {s.task}, {s.n_features} features"
        + (f", {s.n_classes} classes {s.labels}" if s.n_classes else ""),
    ]
    lines += [f"  op {i}: {o.kind} {o.detail}" for i, o in enumerate(s.ops)]
    return "\n".join(lines)


async def run_compile(args: argparse.Namespace, ctx: CliContext) -> int:
    src = Path(args.model)
    out = Path(args.out) if args.out else src.with_suffix(".mlag")
    try:
        fm = import_any(src, args.format)
        calib = load_calibration(Path(args.calibration))
        qm = compile_model(
            fm,
            calib,
            precision=args.precision,
            range_margin=args.range_margin,
            prefer=args.prefer,
        )
    except ModelError as e:
        return fail(f"cannot compile {src}: {e}")
    data = save(qm, out)
    ctx.emit(summarize(str(out), data, qm), _human(summarize(str(out), data, qm)))
    return 0


async def run_info(args: argparse.Namespace, ctx: CliContext) -> int:
    path = Path(args.model)
    if not path.is_file():
        return fail(f"model file {path} does not exist")
    data = path.read_bytes()
    try:
        qm = decode(data)
    except ModelError as e:
        return fail(f"{path} is not a valid model file: {e}")
    s = summarize(str(path), data, qm)
    ctx.emit(s, _human(s))
    return 0
