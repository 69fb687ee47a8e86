"""Block 3: the model registry."""

from loopml.models.loaded import LoadedClassifier, LoadedModel
from loopml.models.service import ModelService
from loopml.models.signature import ColumnSpec, Signature, TensorSpec
from loopml.models.version import AliasChange, ModelFile, ModelSummary, ModelVersion

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
