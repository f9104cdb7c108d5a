"""Importers turning trained models from other frameworks into the float IR.

Each importer imports its framework lazily, inside the functions, so ``client.model`` needs
only numpy; install the ``sklearn``, ``onnx`` or ``torch`` extra for the one you use.
"""

from __future__ import annotations

from typing import Any

from ..ir import FloatModel


def import_sklearn(estimator: Any, *, name: str | None = None) -> FloatModel:
    from .sklearn import import_sklearn as impl

    return impl(estimator, name=name)


def import_onnx(model: Any, **kwargs: Any) -> FloatModel:
    from .onnx import import_onnx as impl

    return impl(model, **kwargs)


def import_torch(module: Any, **kwargs: Any) -> FloatModel:
    from .torch import import_torch as impl

    result: FloatModel = impl(module, **kwargs)
    return result


__all__ = ["import_onnx", "import_sklearn", "import_torch"]
