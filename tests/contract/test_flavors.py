"""Round trips of every flavor: predictions equal before and after, and the trust rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopml import Client, InvalidInput, PermissionDenied
from loopml.api.protocols import Models as ModelService
from loopml.models import LoadedClassifier, LoadedModel  # what load() returns

pytestmark = pytest.mark.services("models")


@pytest.fixture
def svc(client: Client) -> ModelService:
    return client.models


class Doubler:
    """A user model: doubles the sum of each row."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def predict(self, data: Any) -> Any:
        return np.asarray(data, dtype=float).sum(axis=1) * self.factor


class ProbaModel(Doubler):
    def predict_proba(self, data: Any) -> Any:
        return np.full((len(data), 2), 0.5)


@pytest.mark.blobs
def test_sklearn_round_trip_on_dataframe(svc: ModelService, clf: Any, cancer: Any) -> None:
    x, _ = cancer
    svc.register("m", clf, input_example=x.head(5))
    loaded = svc.load("m")
    assert isinstance(loaded, LoadedClassifier)
    assert (loaded.name, loaded.version, loaded.flavor, loaded.ref) == ("m", 1, "sklearn", "m@1")
    assert loaded.signature is not None and loaded.signature.columns == list(x.columns)
    np.testing.assert_array_equal(loaded.predict(x), clf.predict(x))
    np.testing.assert_allclose(loaded.predict_proba(x), clf.predict_proba(x))
    records = x.head(3).to_dict(orient="records")
    np.testing.assert_array_equal(loaded.predict(records), clf.predict(x.head(3)))


def test_sklearn_model_fitted_on_arrays_takes_dataframes_quietly(
    svc: ModelService, array_clf: Any, iris: Any
) -> None:
    x, _ = iris
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    svc.register("m", array_clf, input_example=frame.head())
    loaded = svc.load("m")
    # warnings are errors in this run: a feature-name warning from sklearn would fail here
    np.testing.assert_array_equal(loaded.predict(frame), array_clf.predict(x))
    np.testing.assert_array_equal(loaded.predict(x), array_clf.predict(x))


def test_regressor_has_no_predict_proba(svc: ModelService, regressor: Any, iris: Any) -> None:
    x, _ = iris
    svc.register("r", regressor, input_example=x[:3])
    loaded = svc.load("r")
    assert type(loaded) is LoadedModel and not hasattr(loaded, "predict_proba")
    np.testing.assert_allclose(loaded.predict(x), regressor.predict(x))
    assert loaded.signature is not None
    assert loaded.signature.to_dict()["outputs"] == {
        "type": "tensor",
        "dtype": "float32",
        "shape": [-1],
    }


def test_sklearn_with_tree_types_trusts_exactly_what_was_recorded(
    svc: ModelService, iris: Any
) -> None:
    from sklearn.ensemble import RandomForestClassifier

    x, y = iris
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y)
    svc.register("f", forest)
    np.testing.assert_array_equal(svc.load("f").predict(x), forest.predict(x))


def test_skops_file_path_registers_as_sklearn(
    svc: ModelService, array_clf: Any, iris: Any, tmp_path: Path
) -> None:
    import skops.io as sio

    x, _ = iris
    path = tmp_path / "model.skops"
    sio.dump(array_clf, path)
    v = svc.register("m", str(path), input_example=x[:2])
    assert v.flavor == "sklearn"
    np.testing.assert_array_equal(svc.load("m").predict(x), array_clf.predict(x))


def test_onnx_round_trip_from_model_proto_and_from_file(
    svc: ModelService, array_clf: Any, iris: Any, tmp_path: Path
) -> None:
    from skl2onnx import to_onnx

    x, _ = iris
    proto = to_onnx(array_clf, x[:1], target_opset=17)
    v1 = svc.register("o", proto)
    assert v1.flavor == "onnx"
    # the graph declares its input: a signature without an example
    assert v1.signature == {
        "inputs": {"type": "tensor", "dtype": "float32", "shape": [-1, 4]},
        "outputs": None,
    }
    path = tmp_path / "model.onnx"
    path.write_bytes(proto.SerializeToString())
    v2 = svc.register("o", path, input_example=x[:5])
    assert v2.flavor == "onnx" and v2.signature is not None
    for ref in ("o@1", "o@2"):
        loaded = svc.load(ref)
        assert isinstance(loaded, LoadedClassifier)
        np.testing.assert_array_equal(loaded.predict(x), array_clf.predict(x))
        np.testing.assert_allclose(loaded.predict_proba(x), array_clf.predict_proba(x), atol=1e-5)


def test_invalid_onnx_file_is_refused(svc: ModelService, tmp_path: Path) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(InvalidInput, match="not a valid ONNX model"):
        svc.register("o", path)


def test_python_round_trip_needs_trust(svc: ModelService) -> None:
    model = ProbaModel(3.0)
    data = np.arange(12, dtype=float).reshape(4, 3)
    v = svc.register("p", model, input_example=data)
    assert v.flavor == "python"
    with pytest.raises(PermissionDenied, match=r"trusted=True.*LOOPML_TRUST_PICKLE=1"):
        svc.load("p")
    loaded = svc.load("p", trusted=True)
    assert isinstance(loaded, LoadedClassifier)
    np.testing.assert_array_equal(loaded.predict(data), model.predict(data))
    assert isinstance(loaded.raw, ProbaModel) and loaded.raw.factor == 3.0


def test_trust_pickle_environment_variable_allows_loading(
    svc: ModelService, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc.register("p", Doubler(2.0))
    monkeypatch.setenv("LOOPML_TRUST_PICKLE", "1")
    assert svc.load("p").predict([[1.0, 2.0]]).tolist() == [6.0]
    with pytest.raises(PermissionDenied):
        svc.load("p", trusted=False)  # an explicit refusal wins over the environment


def test_sklearn_model_can_be_stored_as_python_on_request(
    svc: ModelService, array_clf: Any, iris: Any
) -> None:
    x, _ = iris
    assert svc.register("m", array_clf, flavor="python").flavor == "python"
    np.testing.assert_array_equal(svc.load("m", trusted=True).predict(x), array_clf.predict(x))


def test_unpicklable_python_model_is_refused(svc: ModelService) -> None:
    import threading

    model = Doubler(1.0)
    model.lock = threading.Lock()  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput, match="cannot pickle"):
        svc.register("p", model)


def test_prediction_input_is_checked_against_the_signature(
    svc: ModelService, clf: Any, cancer: Any
) -> None:
    x, _ = cancer
    svc.register("m", clf, input_example=x.head(2))
    with pytest.raises(InvalidInput, match="lacks column"):
        svc.load("m").predict(x.drop(columns=["mean radius"]))
