"""On-chain inference: the async SDK over the program's `infer` instruction.

`InferenceClient.infer` (or the one-shot `infer`) simulates, sizes the compute budget, sends,
decodes the typed result and can cross-check it bit for bit against the local reference;
`infer_many` packs many inferences per transaction (the parity suite and the bench use it).
"""

from .client import (
    FLAG_LOG_CU,
    InferenceClient,
    check_features,
    features_to_fx,
    infer,
    infer_instruction,
    reference_result,
)
from .errors import InferenceError, ParityError
from .model import ModelHandle, load_model
from .result import CuProfile, InferenceResult, ReturnData, return_data_from_logs

__all__ = [
    "FLAG_LOG_CU",
    "CuProfile",
    "InferenceClient",
    "InferenceError",
    "InferenceResult",
    "ModelHandle",
    "ParityError",
    "ReturnData",
    "check_features",
    "features_to_fx",
    "infer",
    "infer_instruction",
    "load_model",
    "reference_result",
    "return_data_from_logs",
]
