"""One served model version: the loaded model, what it accepts, and the fastest correct way to
call it on a batch of columns."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from loopml.models import LoadedModel
from loopml.serving.codec import v2_datatype
from loopml.serving.errors import ModelOutputError
from loopml.serving.records import FloatRecords
from loopml.serving.schema import Batch, InputSchema

# scikit-learn warns when an estimator fitted on a DataFrame is given an array. The endpoint
# has already checked the columns against the signature and orders them as the model was
# fitted, so it passes an array: five times faster than a DataFrame for small batches.
_FEATURE_NAMES_WARNING = r"X does not have valid feature names"


def quiet_feature_name_warnings() -> None:
    """Silence the one scikit-learn warning the array fast path triggers (server process only)."""
    warnings.filterwarnings("ignore", message=_FEATURE_NAMES_WARNING, category=UserWarning)


def model_allows_nan(loaded: LoadedModel) -> bool:
    """Whether the model declares it takes missing values (scikit-learn's ``allow_nan`` tag)."""
    if loaded.flavor != "sklearn":
        return False
    try:
        from sklearn.utils import get_tags

        return bool(get_tags(loaded.raw).input_tags.allow_nan)
    except Exception:  # an estimator whose tags cannot be read takes no NaN
        return False


def _array_call(method: Callable[[Any], Any], checked: bool) -> Callable[[Batch], Any]:
    """``method`` of a scikit-learn estimator called on the batch as one float array. When the
    schema has already refused NaN and infinity (``checked``), scikit-learn is told so
    (``assume_finite``) instead of scanning every value again."""
    import sklearn

    def call(b: Batch) -> Any:
        x = b.matrix if b.matrix is not None else np.column_stack(b.columns or [])
        if not checked:
            return method(x)
        with sklearn.config_context(assume_finite=True):
            return method(x)

    return call


class ServedModel:
    """A version ready to serve: ``predict(batch)`` returns one output row per input row."""

    def __init__(self, loaded: LoadedModel, allow_nan: bool | None = None) -> None:
        self.loaded = loaded
        self.name = loaded.name
        self.version = loaded.version
        self.signature = loaded.signature
        nan_ok = model_allows_nan(loaded) if allow_nan is None else allow_nan
        self.schema = InputSchema(loaded.signature, allow_nan=nan_ok)
        # the usual body of an all-float64 signature, read without the general path
        self.records = FloatRecords(self.schema.names) if self.schema.all_float64 else None
        self.loaded_at = time.time()
        self._on_array = self._takes_arrays()
        self._call = self._pick_call()
        # a classifier whose classes are known gives the prediction log its probabilities
        classes = (
            getattr(loaded.raw, "classes_", None) if hasattr(loaded, "predict_proba") else None
        )
        self.classes: tuple[Any, ...] | None = (
            None if classes is None else tuple(np.asarray(classes).tolist())
        )
        self.scorer = self if self.classes else None
        self._proba = self._pick_call(proba=True) if self.classes else None

    def _pick_call(self, proba: bool = False) -> Callable[[Batch], Any]:
        schema, loaded = self.schema, self.loaded
        method = "predict_proba" if proba else "predict"
        call = getattr(loaded, method)
        if schema.tensor is not None:
            return lambda b: call(b.tensor)
        names = schema.names

        def via_frame(b: Batch) -> Any:
            import pandas as pd

            return call(pd.DataFrame(dict(zip(names, b.columns or [], strict=True))))

        if self._on_array:
            return _array_call(getattr(loaded.raw, method), checked=not schema.allow_nan)
        return via_frame

    def _takes_arrays(self) -> bool:
        """Whether the model may be called on one float array: a numeric scikit-learn model
        that predicts on the made-up row as an array (one that picks its columns by name, a
        ColumnTransformer, needs a DataFrame). Decided once, for predict and predict_proba."""
        if self.loaded.flavor != "sklearn" or not self.schema.numeric:
            return False
        probe = _array_call(self.loaded.raw.predict, checked=not self.schema.allow_nan)
        try:
            probe(self.example_batch())
        except Exception:
            return False
        return True

    def proba(self, batch: Batch) -> np.ndarray:
        """Class probabilities of a batch, one column per class of :attr:`classes` (the
        prediction log calls it off the request path)."""
        assert self._proba is not None, "proba() of a model without classes"
        return np.asarray(self._proba(batch))

    def predict(self, batch: Batch) -> np.ndarray:
        out = np.asarray(self._call(batch))
        if out.ndim == 0 or out.shape[0] != batch.n:
            raise ModelOutputError(
                f"model {self.loaded.ref} returned shape {list(out.shape)} for {batch.n} row(s); "
                "a model must return one output row per input row"
            )
        return out

    def warm_up(self) -> None:
        """One prediction on a made-up row, so the first real request pays no first-call cost."""
        self.predict(self.example_batch())

    def example_batch(self) -> Batch:
        s = self.schema
        if s.tensor is not None:
            shape = tuple(1 if n == -1 else n for n in s.tensor.shape)
            dtype = {"f": np.float64, "i": np.int64, "b": np.bool_}.get(
                s.tensor.dtype[:1], np.float64
            )
            return Batch(1, tensor=np.zeros(shape, dtype=dtype))
        fill = {"f": 0.0, "i": 0, "b": False, "s": "", "o": 0.0}
        cols = [s.convert(j, [fill[c.kind]], lambda i: "warm-up") for j, c in enumerate(s.columns)]
        return Batch(1, cols)

    def metadata(self) -> dict[str, Any]:
        mv = self.loaded.model_version
        return {
            "model": self.name,
            "version": self.version,
            "ref": mv.ref,
            "flavor": mv.flavor,
            "signature": mv.signature,
            "metrics": mv.metrics,
            "created_at": mv.created_at,
            "loaded_at": self.loaded_at,
            "accepts_missing_values": self.schema.allow_nan,
        }

    def v2_metadata(self) -> dict[str, Any]:
        s = self.schema
        if s.tensor is not None:
            inputs = [
                {
                    "name": "input-0",
                    "datatype": _v2_of(s.tensor.dtype),
                    "shape": list(s.tensor.shape),
                }
            ]
        else:
            inputs = [
                {"name": c.name, "datatype": _v2_of(c.dtype), "shape": [-1]} for c in s.columns
            ]
        return {
            "name": self.name,
            "versions": [str(self.version)],
            "platform": f"loopml-{self.loaded.flavor}",
            "inputs": inputs,
            "outputs": [{"name": "predict", "datatype": "FP64", "shape": [-1]}],
        }


def _v2_of(dtype: str) -> str:
    try:
        return v2_datatype(np.empty(0, dtype=np.dtype(dtype)))
    except TypeError:
        return "BOOL" if dtype == "bool" else "BYTES"
