"""Check the regime ONNX fixtures against a genuine torch.onnx.export (needs torch).

The development machines cannot install torch, so ``tests/fixtures/regime/*.onnx`` are written by
``client/model/sequence_onnx.py`` in the node shape the TorchScript exporter emits. On a machine
with torch, this script loads each fixture's weights into the equivalent torch module, exports it
(opset 17, batch 1, TorchScript exporter), and compares the two graphs: node op types in order,
node attributes, initializer shapes, and onnxruntime outputs on held-out windows. Exit 1 on any
difference. ``--write`` replaces the fixtures with the genuine exports.

    pip install torch onnx onnxruntime
    python scripts/check_regime_torch_export.py [--write]
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from client.model.sequence_onnx import onnxruntime_logits, reorder_gates  # noqa: E402
from client.model.sequence_train import FIXTURE_DIR, MODEL_FILES  # noqa: E402

GRU_BACK = (1, 0, 2)  # ONNX (z, r, h) -> PyTorch (r, z, n)
LSTM_BACK = (0, 2, 3, 1)  # ONNX (i, o, f, c) -> PyTorch (i, f, g, o)


def _inits(m: onnx.ModelProto) -> dict[str, np.ndarray[Any, Any]]:
    return {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}


def build(kind: str, m: onnx.ModelProto) -> Any:
    import torch
    from torch import nn

    p = _inits(m)
    t = torch.tensor

    class Rnn(nn.Module):
        def __init__(self, cell: nn.Module, fc: nn.Linear) -> None:
            super().__init__()
            setattr(self, kind, cell)
            self.fc = fc

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out, _ = getattr(self, kind)(x)
            return self.fc(out[:, -1, :])

    class Conv(nn.Module):
        def __init__(self, conv: nn.Conv1d, pool: int, fc: nn.Linear) -> None:
            super().__init__()
            self.conv, self.relu = conv, nn.ReLU()
            self.pool, self.flatten, self.fc = nn.MaxPool1d(pool), nn.Flatten(), fc

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.pool(self.relu(self.conv(x.transpose(1, 2))))
            return self.fc(self.flatten(x))

    fc_w = p["fc.weight"]
    fc = nn.Linear(fc_w.shape[1], fc_w.shape[0])
    with torch.no_grad():
        fc.weight.copy_(t(fc_w))
        fc.bias.copy_(t(p["fc.bias"]))
    if kind == "conv":
        w = p["conv.weight"]
        conv = nn.Conv1d(w.shape[1], w.shape[0], w.shape[2])
        with torch.no_grad():
            conv.weight.copy_(t(w))
            conv.bias.copy_(t(p["conv.bias"]))
        pool = next(n for n in m.graph.node if n.op_type == "MaxPool")
        k = helper.get_attribute_value(next(a for a in pool.attribute if a.name == "kernel_shape"))
        return Conv(conv, int(k[0]), fc).eval()
    node = next(n for n in m.graph.node if n.op_type in ("GRU", "LSTM"))
    back = GRU_BACK if kind == "gru" else LSTM_BACK
    w, r, b = (p[node.input[i]][0] for i in (1, 2, 3))
    hidden = r.shape[1]
    cell: nn.GRU | nn.LSTM = (nn.GRU if kind == "gru" else nn.LSTM)(
        w.shape[1], hidden, batch_first=True
    )
    half = b.shape[0] // 2
    with torch.no_grad():
        cell.weight_ih_l0.copy_(t(reorder_gates(w, back)))
        cell.weight_hh_l0.copy_(t(reorder_gates(r, back)))
        cell.bias_ih_l0.copy_(t(reorder_gates(b[:half], back)))
        cell.bias_hh_l0.copy_(t(reorder_gates(b[half:], back)))
    return Rnn(cell, fc).eval()


def export(module: Any, window: int, n_features: int) -> onnx.ModelProto:
    import torch

    f = io.BytesIO()
    kwargs: dict[str, Any] = {
        "opset_version": 17,
        "input_names": ["input"],
        "output_names": ["output"],
    }
    try:
        torch.onnx.export(module, torch.zeros(1, window, n_features), f, dynamo=False, **kwargs)
    except TypeError:  # torch < 2.5 has no `dynamo` argument (TorchScript is the only exporter)
        torch.onnx.export(module, torch.zeros(1, window, n_features), f, **kwargs)
    return onnx.load_from_string(f.getvalue())


def describe(m: onnx.ModelProto) -> list[tuple[str, dict[str, Any], list[tuple[int, ...]]]]:
    inits = _inits(m)
    out = []
    for n in m.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute if a.name != "value"}
        shapes = [tuple(inits[i].shape) for i in n.input if i in inits]
        out.append((n.op_type, attrs, shapes))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="replace the fixtures with the exports")
    args = ap.parse_args()
    try:
        import torch  # noqa: F401
    except ImportError:
        print("torch is not installed: nothing to compare against", file=sys.stderr)
        return 2
    data = np.load(FIXTURE_DIR / "heldout.npz")
    rows = data["rows"][0].astype(np.float64) / 65536.0
    window = int(data["window"])
    windows = np.stack([rows[i : i + window] for i in range(0, 400, 40)])
    bad = 0
    for kind, name in MODEL_FILES.items():
        ours = onnx.load(str(FIXTURE_DIR / name))
        theirs = export(build(kind, ours), window, rows.shape[1])
        a, b = describe(ours), describe(theirs)
        if a != b:
            bad += 1
            print(f"{name}: graph differs\n  ours:  {a}\n  torch: {b}")
        diff = np.max(
            np.abs(
                onnxruntime_logits(ours.SerializeToString(), windows)
                - onnxruntime_logits(theirs.SerializeToString(), windows)
            )
        )
        print(f"{name}: {len(b)} nodes, outputs differ by {diff:.1e}")
        bad += int(diff > 1e-5)
        if args.write:
            onnx.save(theirs, str(FIXTURE_DIR / name))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
