"""Export the torch nn.Sequential fixtures to ONNX (needs torch; run on a machine that has it).

The development machines cannot install torch, so the committed fixtures were produced by the
twin script ``scripts/make_torch_like_onnx_fixtures.py``, which writes the same architectures
in the graph shape this script's torch.onnx.export produces (Gemm transB=1 + Relu/Sigmoid/Tanh,
initializers ``<index>.weight`` / ``<index>.bias``).  Running this script replaces them with
genuine exports of torch-trained models; the tests accept either.

    pip install torch onnx scikit-learn
    python scripts/make_torch_onnx_fixtures.py
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures"

# Same table as the twin script: name -> (hidden sizes, activation module name).
ARCHS = {
    "torch_mlp_relu": ((8,), "ReLU"),
    "torch_mlp_tanh": ((8, 6), "Tanh"),
    "torch_mlp_sigmoid": ((6,), "Sigmoid"),
}


def main() -> None:
    try:
        import torch
        from torch import nn
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise SystemExit(
            "torch is not installed; use scripts/make_torch_like_onnx_fixtures.py instead"
        ) from exc
    from sklearn.datasets import load_iris

    x_np, y_np = load_iris(return_X_y=True)
    x_np = (x_np - x_np.mean(axis=0)) / x_np.std(axis=0)
    x = torch.tensor(x_np, dtype=torch.float32)
    y = torch.tensor(y_np, dtype=torch.long)
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name, (hidden, act) in ARCHS.items():
        torch.manual_seed(0)
        mods: list[nn.Module] = []
        width = 4
        for h in hidden:
            mods += [nn.Linear(width, h), getattr(nn, act)()]
            width = h
        mods.append(nn.Linear(width, 3))
        model = nn.Sequential(*mods)
        opt = torch.optim.Adam(model.parameters(), lr=0.02)
        for _ in range(500):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        model.eval()
        path = OUT / f"{name}.onnx"
        kwargs = {
            "input_names": ["input"],
            "output_names": ["output"],
            "dynamic_axes": {"input": {0: "batch"}, "output": {0: "batch"}},
            "opset_version": 17,
        }
        try:
            # The TorchScript exporter emits Gemm(transB=1); torch >= 2.9 defaults to dynamo.
            torch.onnx.export(model, (x[:1],), str(path), dynamo=False, **kwargs)
        except TypeError:  # torch < 2.5 has no `dynamo` argument
            torch.onnx.export(model, (x[:1],), str(path), **kwargs)
        acc = float((model(x).argmax(1) == y).float().mean())
        manifest[name] = {
            "hidden": list(hidden),
            "activation": act,
            "bytes": path.stat().st_size,
            "train_accuracy": round(acc, 4),
            "made_by": "scripts/make_torch_onnx_fixtures.py",
            "torch": torch.__version__,
        }
    (OUT / "torch_fixtures.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
