"""A loaded model: ``predict`` on a DataFrame, array or list of dicts, checked against the
version's signature, plus what the version is (name, number, flavor, signature)."""

from __future__ import annotations

from typing import Any

from loopml.api.models import ModelVersion
from loopml.models.flavors import Predictor
from loopml.models.signature import Signature, as_data


class LoadedModel:
    def __init__(self, version: ModelVersion, predictor: Predictor) -> None:
        self.model_version = version
        self.name = version.name
        self.version = version.version
        self.flavor = version.flavor
        self.signature = (
            None if version.signature is None else Signature.from_dict(version.signature)
        )
        self._predictor = predictor

    @property
    def ref(self) -> str:
        return self.model_version.ref

    @property
    def raw(self) -> Any:
        """The underlying object: an estimator, an onnxruntime session, the user's object."""
        return self._predictor.raw

    def prepare(self, data: Any) -> Any:
        """``data`` as the model takes it; InvalidInput when it does not fit the signature."""
        if self.signature is None:
            return as_data(data)
        return self.signature.prepare(data)

    def predict(self, data: Any) -> Any:
        return self._predictor.predict(self.prepare(data))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.ref} flavor={self.flavor}>"


class LoadedClassifier(LoadedModel):
    """A loaded model that also gives class probabilities."""

    def predict_proba(self, data: Any) -> Any:
        return self._predictor.predict_proba(self.prepare(data))


def loaded(version: ModelVersion, predictor: Predictor) -> LoadedModel:
    """The wrapper that exposes exactly what the underlying model can do."""
    cls = LoadedClassifier if predictor.has_proba else LoadedModel
    return cls(version, predictor)
