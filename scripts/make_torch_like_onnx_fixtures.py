"""Write ONNX fixtures shaped like torch.onnx.export output, without torch.

torch is not installable on the development machines (its wheels pull GBs of CUDA), so this
script builds the graphs that ``scripts/make_torch_onnx_fixtures.py`` exports from torch, with
``onnx.helper``: the same nn.Sequential architectures, trained on iris, emitted the way
torch.onnx.export emits nn.Linear (Gemm with transB=1, weight initializers named
``<index>.weight``/``<index>.bias``, node names ``/<index>/Gemm``) and ReLU/Sigmoid/Tanh.
The weights come from scikit-learn MLPs with a fixed seed instead of torch training.

Run from the repository root:  python scripts/make_torch_like_onnx_fixtures.py
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures"

# name -> (hidden sizes, activation between Linear layers: torch module name)
ARCHS = {
    "torch_mlp_relu": ((8,), "Relu"),
    "torch_mlp_tanh": ((8, 6), "Tanh"),
    "torch_mlp_sigmoid": ((6,), "Sigmoid"),
}
_SKLEARN_ACT = {"Relu": "relu", "Tanh": "tanh", "Sigmoid": "logistic"}


def build(name: str, weights: list[np.ndarray], biases: list[np.ndarray], act: str) -> bytes:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = []
    inits = []
    cur = "input"
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        idx = 2 * i  # Sequential index: Linear, activation, Linear, ...
        inits.append(numpy_helper.from_array(w.T.astype(np.float32), f"{idx}.weight"))
        inits.append(numpy_helper.from_array(b.astype(np.float32), f"{idx}.bias"))
        last = i == len(weights) - 1
        out = "output" if last else f"/{idx}/Gemm_output_0"
        nodes.append(
            helper.make_node(
                "Gemm",
                [cur, f"{idx}.weight", f"{idx}.bias"],
                [out],
                name=f"/{idx}/Gemm",
                alpha=1.0,
                beta=1.0,
                transB=1,
            )
        )
        cur = out
        if not last:
            act_out = f"/{idx + 1}/{act}_output_0"
            nodes.append(helper.make_node(act, [cur], [act_out], name=f"/{idx + 1}/{act}"))
            cur = act_out
    n_in = weights[0].shape[0]
    n_out = weights[-1].shape[1]
    graph = helper.make_graph(
        nodes,
        "main_graph",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", n_in])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", n_out])],
        inits,
    )
    model = helper.make_model(
        graph,
        producer_name="pytorch",
        producer_version="2.5.0",
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def main() -> None:
    from sklearn.datasets import load_iris
    from sklearn.neural_network import MLPClassifier

    x, y = load_iris(return_X_y=True)
    x = (x - x.mean(axis=0)) / x.std(axis=0)  # the torch script trains on standardised iris
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name, (hidden, act) in ARCHS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mlp = MLPClassifier(
                hidden, activation=_SKLEARN_ACT[act], max_iter=3000, random_state=0
            ).fit(x, y)
        data = build(name, mlp.coefs_, mlp.intercepts_, act)
        (OUT / f"{name}.onnx").write_bytes(data)
        manifest[name] = {
            "hidden": list(hidden),
            "activation": act,
            "bytes": len(data),
            "made_by": "scripts/make_torch_like_onnx_fixtures.py",
        }
    (OUT / "torch_fixtures.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
