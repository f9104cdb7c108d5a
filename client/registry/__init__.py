"""On-chain model registry: chunked, hash-verified, versioned uploads (docs/model-registry.md).

`ModelRegistry` is the async API the CLI (`python -m client deploy-model|verify|inspect|close|
set-authority|freeze`), the tests and the bots use.
"""

from .accounts import ArchSummary, ModelInfo, VersionInfo
from .layout import MAX_CHUNK_SIZE, ModelHashes, WeightsLayout, model_address
from .progress import ProgressBar, UploadProgress
from .registry import DeployedModel, ModelRegistry, RegistryError, VerifyReport, VersionRef

__all__ = [
    "MAX_CHUNK_SIZE",
    "ArchSummary",
    "DeployedModel",
    "ModelHashes",
    "ModelInfo",
    "ModelRegistry",
    "ProgressBar",
    "RegistryError",
    "UploadProgress",
    "VerifyReport",
    "VersionInfo",
    "VersionRef",
    "WeightsLayout",
    "model_address",
]
