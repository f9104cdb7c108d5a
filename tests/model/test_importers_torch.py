"""PyTorch nn.Sequential importer (runs only where torch imports; the same architectures are
covered through the torch-shaped ONNX fixtures in test_importers_onnx.py)."""

from __future__ import annotations

import numpy as np
import pytest

from client.model import (
    UnsupportedModelError,
    compile_model,
    execute,
    features_to_q16,
    import_torch,
)
from client.model.ir import Head

torch = pytest.importorskip("torch", reason="torch is not installed (its wheels pull CUDA)")


@pytest.mark.parametrize("act", ["ReLU", "Sigmoid", "Tanh"])
def test_sequential_imports_and_quantizes(act: str) -> None:
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), getattr(nn, act)(), nn.Linear(8, 3)).eval()
    x = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    fm = import_torch(model, task="classification")
    assert fm.head is Head.SOFTMAX
    np.testing.assert_allclose(fm.forward(x).outputs, want, atol=1e-5)
    got = execute(compile_model(fm, x, 16), features_to_q16(x)).classes
    assert (got == want.argmax(axis=1)).mean() >= 0.99


def test_final_sigmoid_becomes_a_logistic_head() -> None:
    from torch import nn

    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1), nn.Sigmoid())
    assert import_torch(model).head is Head.LOGISTIC


def test_unsupported_module_is_named() -> None:
    from torch import nn

    with pytest.raises(UnsupportedModelError, match=r"module 1 \(LeakyReLU\)"):
        import_torch(nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(), nn.Linear(4, 2)))
