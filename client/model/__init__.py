"""Model compiler: import, quantize, serialize and execute models for on-chain inference.

Typical use::

    from client.model import import_sklearn, compile_model, save, execute, features_to_q16

    qmodel = compile_model(import_sklearn(fitted), x_train, precision=8)
    data = save(qmodel, "model.mlag")            # bytes of the v1 file
    trace = execute(qmodel, features_to_q16(x))  # bit-exact integer reference

docs/model-format.md specifies the numeric contract and the byte layout.
"""

from __future__ import annotations

from .compiler import compile_model
from .errors import (
    InputRangeError,
    ModelError,
    ModelFormatError,
    QuantizationError,
    UnsupportedModelError,
)
from .feasibility import InfeasibleModelError, assess
from .format import chunk_hashes, decode, encode, load, model_sha256, payload_bytes, save
from .importers import import_onnx, import_sklearn, import_torch
from .ir import FloatModel
from .qmodel import QModel
from .reference import Trace, execute, features_to_q16

__all__ = [
    "FloatModel",
    "InfeasibleModelError",
    "InputRangeError",
    "ModelError",
    "ModelFormatError",
    "QModel",
    "QuantizationError",
    "Trace",
    "UnsupportedModelError",
    "assess",
    "chunk_hashes",
    "compile_model",
    "decode",
    "encode",
    "execute",
    "features_to_q16",
    "import_onnx",
    "import_sklearn",
    "import_torch",
    "load",
    "model_sha256",
    "payload_bytes",
    "save",
]
