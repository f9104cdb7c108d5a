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
from ..model.autoprecision import compile_auto
from ..model.feasibility import Feasibility, assess
from ..model.qmodel import QArgmax, QConv1d, QDense, QLut, QPool, QRecurrent, QSoftmax, QTrees
from ..model.saturation import LayerSaturation, saturation_rates
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
    # What one `infer` needs against the chain's limits (client/model/feasibility.py).
    feasibility: Feasibility | None = None
    # compile only: per-dense-layer saturation rates, and what --precision auto chose.
    saturation: list[LayerSaturation] = field(default_factory=list)
    auto: AutoSummary | None = None


@dataclass
class AutoSummary:
    precisions: list[str]
    agreement: float
    metric: str
    n_holdout: int
    trials: list[dict[str, Any]]
    # Fraction of evaluation rows that agree by less than the logit error bound (classifiers).
    at_risk: float = 0.0
    error_bound: float = 0.0


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
    p.add_argument(
        "--precision",
        choices=("8", "16", "auto"),
        default="8",
        help="8 or 16 bits for every layer, or auto: INT8 where held-out agreement with the "
        "float model is >= 99%% and at most 1 row in 1,000 agrees by less than the logit "
        "error bound, INT16 for the layers that need it (default 8)",
    )
    p.add_argument(
        "--prefer",
        choices=("size", "speed"),
        default="size",
        help="size: compact layouts; speed: packed INT8 layers (PACKED3, three MACs per multiply, "
        "from 8 rows and 128 MACs; PACKED below, where its overflow proof allows)",
    )
    p.add_argument(
        "--input-range",
        metavar="LO,HI|FILE",
        help="declare the feature range the chain accepts instead of deriving it from the "
        "calibration data: LO,HI for every feature, or a .npy/.csv file with two rows (per-"
        "feature lows, then highs)",
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
    """Read a calibration table; every way the file can be wrong is a ValueError that says so."""
    if not path.is_file():
        raise ValueError(f"calibration file {path} does not exist or is not a file")
    if path.stat().st_size == 0:
        raise ValueError(f"calibration file {path} is empty")
    try:
        if path.suffix == ".npy":
            data = np.load(path, allow_pickle=False)
        else:
            data = np.loadtxt(path, delimiter=",", ndmin=2)
        arr = np.asarray(data, dtype=np.float64)
    except (ValueError, TypeError, OSError, EOFError) as e:
        kind = ".npy array" if path.suffix == ".npy" else "CSV table of numbers (no header)"
        raise ValueError(f"calibration file {path} is not a readable {kind}: {e}") from None
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(
            f"calibration data in {path} must be a non-empty 2-D table (rows x features), got "
            f"shape {arr.shape}"
        )
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        r, c = (int(v) for v in bad[0])
        raise ValueError(f"calibration data in {path} has {arr[r, c]} at row {r}, column {c}")
    return arr


def parse_input_range(spec: str) -> tuple[Any, Any]:
    """``LO,HI`` (every feature) or a file whose two rows are the per-feature lows and highs."""
    path = Path(spec)
    if path.suffix in (".npy", ".csv") or path.is_file():
        if not path.is_file():
            raise ValueError(f"input range file {path} does not exist")
        rows = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, delimiter=",", ndmin=2)
        arr = np.asarray(rows, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[0] != 2:
            raise ValueError(f"input range file {path} must have two rows (lows, highs)")
        return arr[0], arr[1]
    parts = spec.split(",")
    if len(parts) != 2:
        raise ValueError(f"--input-range must be LO,HI or a file, got {spec!r}")
    try:
        lo, hi = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"--input-range bounds must be numbers, got {spec!r}") from None
    return lo, hi


def _why(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def import_any(path: Path, fmt: str) -> FloatModel:
    """Load and import a model file.  A malformed file makes the parsers (pickle, protobuf,
    torch) raise almost anything, so every failure becomes a ModelError naming the file and the
    format it was read as."""
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist or is not a file")
    if path.stat().st_size == 0:
        raise ModelError(f"model file {path} is empty")
    if fmt == "auto":
        fmt = {".onnx": "onnx", ".pt": "torch", ".pth": "torch"}.get(path.suffix, "sklearn")
    try:
        obj = _load_object(path, fmt)
    except ModelError:
        raise
    except Exception as e:
        raise ModelError(f"cannot read {path} as a {fmt} model file ({_why(e)})") from None
    try:
        if fmt == "onnx":
            return import_onnx(obj)
        if fmt == "torch":
            return import_torch(obj)
        return import_sklearn(obj)
    except ModelError:
        raise
    except Exception as e:
        raise ModelError(f"{path} does not hold a usable {fmt} model ({_why(e)})") from None


def _load_object(path: Path, fmt: str) -> Any:
    if fmt == "onnx":
        import onnx

        model = onnx.load(str(path))
        onnx.checker.check_model(model)
        return model
    if fmt == "torch":
        try:
            import torch
        except ModuleNotFoundError as e:
            raise ModelError("PyTorch is not installed: pip install 'ml-agent[torch]'") from e
        return torch.load(str(path), weights_only=False)
    if path.suffix == ".joblib":
        import joblib

        return joblib.load(path)
    with path.open("rb") as f:
        return pickle.load(f)


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
        elif isinstance(op, QRecurrent):
            ops.append(
                OpSummary(
                    op.kind.name,
                    f"{op.steps}x{op.features} -> {op.hidden} "
                    f"{'sequence' if op.sequence else 'last'} {op.dtype.name}",
                )
            )
        elif isinstance(op, QConv1d):
            geom = f"K={op.k} stride {op.stride} dilation {op.dilation}"
            pads = f" pad {op.pad_left}/{op.pad_right}" if op.pad_left + op.pad_right else ""
            ops.append(
                OpSummary(
                    "CONV1D",
                    f"{op.t_in}x{op.c_in} -> {op.t_out}x{op.c_out}, {geom}{pads}, "
                    f"{op.dtype.name} {op.layout.name}",
                )
            )
        elif isinstance(op, QPool):
            what = "global" if op.kernel == op.t_in else f"kernel {op.kernel} stride {op.stride}"
            ops.append(
                OpSummary("POOL", f"{op.mode.name} {what}, {op.t_in}x{op.channels} -> {op.t_out}")
            )
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
        feasibility=assess(qm),
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
    if s.auto is not None:
        a = s.auto
        lines.append(
            f"precision    auto: {' / '.join(a.precisions) or 'n/a (trees)'}; held-out "
            f"{a.metric} {100 * a.agreement:.2f}% on {a.n_holdout} rows"
            + (
                f", {100 * a.at_risk:.2f}% within the logit error bound {a.error_bound:.3g}"
                if a.metric == "top-1 agreement"
                else ""
            )
        )
    if s.saturation:
        lines.append("saturation   per dense layer, calibration data / declared margins:")
        lines += [
            f"  {x.layer}: {100 * x.calibration:.2f}% / {100 * x.margin:.2f}%" for x in s.saturation
        ]
    if s.feasibility is not None:
        lines += s.feasibility.lines()
        lines += [f"CANNOT RUN   {p.limit}: {p.message}" for p in s.feasibility.problems]
    return "\n".join(lines)


async def run_compile(args: argparse.Namespace, ctx: CliContext) -> int:
    src = Path(args.model)
    out = Path(args.out) if args.out else src.with_suffix(".mlag")
    try:
        fm = import_any(src, args.format)
        calib = load_calibration(Path(args.calibration))
        input_range = parse_input_range(args.input_range) if args.input_range else None
        options: dict[str, Any] = {
            "input_range": input_range,
            "range_margin": args.range_margin,
            "prefer": args.prefer,
        }
        auto = None
        if args.precision == "auto":
            result = compile_auto(fm, calib, **options)
            qm = result.qmodel
            auto = AutoSummary(
                precisions=list(result.precisions),
                agreement=result.agreement,
                metric=result.metric,
                n_holdout=result.n_holdout,
                trials=[
                    {
                        "precisions": list(t.precisions),
                        "agreement": t.agreement,
                        "at_risk": t.at_risk,
                    }
                    for t in result.trials
                ],
                at_risk=result.at_risk,
                error_bound=result.error_bound,
            )
        else:
            qm = compile_model(fm, calib, precision=int(args.precision), **options)
    except (ModelError, ValueError) as e:
        return fail(f"cannot compile {src}: {e}")
    try:
        data = save(qm, out)
    except OSError as e:
        return fail(f"cannot write {out}: {e.strerror or e}")
    s = summarize(str(out), data, qm)
    s.auto = auto
    if not fm.is_trees:
        s.saturation = saturation_rates(qm, calib)
    ctx.emit(s, _human(s))
    return 0


async def run_info(args: argparse.Namespace, ctx: CliContext) -> int:
    path = Path(args.model)
    if not path.is_file():
        return fail(f"model file {path} does not exist or is not a file")
    try:
        data = path.read_bytes()
    except OSError as e:
        return fail(f"cannot read {path}: {e.strerror or e}")
    try:
        qm = decode(data)
    except ModelError as e:
        return fail(f"{path} is not a valid model file: {e}")
    s = summarize(str(path), data, qm)
    ctx.emit(s, _human(s))
    return 0
