"""Train a small scikit-learn classifier on iris: the "your own model" of docs/first-model.md.

    python examples/train_iris.py [OUT_DIR]

Writes OUT_DIR/iris.pkl (the fitted model) and OUT_DIR/iris_calibration.csv (the training
inputs, one row per sample: `compile` takes its activation scales and the feature ranges the
chain enforces from them). Replace this with your own training; anything `compile` accepts
(scikit-learn pickle, ONNX, PyTorch) works the same way.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris
from sklearn.neural_network import MLPClassifier


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")
    out.mkdir(parents=True, exist_ok=True)
    data = load_iris()
    model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2000, random_state=0)
    labels = data.target_names[data.target]  # setosa, versicolor, virginica
    model.fit(data.data, labels)
    (out / "iris.pkl").write_bytes(pickle.dumps(model))
    np.savetxt(out / "iris_calibration.csv", data.data, delimiter=",", fmt="%.4f")
    accuracy = model.score(data.data, labels)
    print(f"accuracy {accuracy:.3f}; wrote {out}/iris.pkl and {out}/iris_calibration.csv")


if __name__ == "__main__":
    main()
