"""Block 3: the model registry."""

from loopml.api.models import AliasChange, ModelFile, ModelSummary, ModelVersion
from loopml.models.loaded import LoadedClassifier, LoadedModel
from loopml.models.service import ModelService
from loopml.models.signature import ColumnSpec, Signature, TensorSpec

__all__ = [
    "AliasChange",
    "ColumnSpec",
    "LoadedClassifier",
    "LoadedModel",
    "ModelFile",
    "ModelService",
    "ModelSummary",
    "ModelVersion",
    "Signature",
    "TensorSpec",
]
