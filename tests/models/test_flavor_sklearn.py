"""The sklearn flavor refuses stored files tampered to hold types not recorded at registration."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest

from loopml.core.errors import PermissionDenied
from loopml.models import flavor_sklearn


def _retype(data: bytes, old: str, new: str) -> bytes:
    """``data`` (a skops file) with every object of type ``old`` turned into type ``new``."""

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if f"{node.get('__module__')}.{node.get('__class__')}" == old:
                node["__module__"], _, node["__class__"] = new.rpartition(".")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            content = src.read(item)
            if item.filename == "schema.json":
                schema = json.loads(content)
                walk(schema)
                content = json.dumps(schema).encode()
            dst.writestr(item, content)
    return out.getvalue()


@pytest.mark.parametrize(
    "new_type",
    [
        "os.system",  # outside scikit-learn/numpy/scipy
        "sklearn.tree._tree.Tree",  # a scikit-learn class, but not one recorded for this model
    ],
)
def test_loading_a_file_tampered_to_hold_another_type_is_refused(
    array_clf: Any, new_type: str
) -> None:
    saved = flavor_sklearn.save(array_clf)
    assert saved.meta["trusted_types"] == []
    data = saved.files["model.skops"]
    assert isinstance(data, bytes)
    tampered = _retype(data, "sklearn.linear_model._logistic.LogisticRegression", new_type)
    assert tampered != data
    with pytest.raises(PermissionDenied, match=rf"(not recorded|will not import).*{new_type}"):
        flavor_sklearn.load({"model.skops": tampered}, saved.meta)


_FRESH_PROCESS = """
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris

from loopml.models import flavor_sklearn

folder = Path(sys.argv[1])
meta = {"file": "model.skops", "trusted_types": []}
model = flavor_sklearn.load({"model.skops": (folder / "model.skops").read_bytes()}, meta)
x, _ = load_iris(return_X_y=True)
np.testing.assert_array_equal(model.predict(x), np.load(folder / "expected.npy"))
# skops' scan of all of scikit-learn did not run (it imports these, pytest among them).
scanned = {"sklearn.utils._testing", "sklearn.gaussian_process", "pytest"}
assert not scanned & set(sys.modules), scanned & set(sys.modules)

# Registration in this process records what it records in any other.
from sklearn.tree import DecisionTreeClassifier

saved = flavor_sklearn.save(DecisionTreeClassifier(random_state=0).fit(x, _))
print(saved.meta["trusted_types"])
"""


def test_without_an_example_the_signature_comes_from_the_fitted_feature_names() -> None:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1, 0, 1, 0]})
    fitted = LogisticRegression().fit(frame, [0, 1, 0, 1])
    signature = flavor_sklearn.default_signature(fitted)
    assert signature is not None and signature.columns == ["a", "b"]
    on_array = LogisticRegression().fit(np.zeros((4, 3)) + np.arange(4)[:, None], [0, 1, 0, 1])
    tensor = flavor_sklearn.default_signature(on_array)
    assert tensor is not None and tensor.columns is None and tensor.to_dict()["inputs"]
    assert flavor_sklearn.default_signature(LogisticRegression()) is None  # not fitted


def test_loading_skops_bytes_with_unrecorded_types_is_refused(iris: Any) -> None:
    from sklearn.tree import DecisionTreeClassifier

    x, y = iris
    saved = flavor_sklearn.save(DecisionTreeClassifier().fit(x, y))
    assert saved.meta["trusted_types"] == ["sklearn.tree._tree.Tree"]
    files = {"model.skops": saved.files["model.skops"]}
    assert isinstance(files["model.skops"], bytes)
    with pytest.raises(PermissionDenied, match=r"not recorded.*sklearn.tree._tree.Tree"):
        flavor_sklearn.load(files, {**saved.meta, "trusted_types": []})  # type: ignore[arg-type]


def test_only_real_classes_of_sklearn_numpy_scipy_are_allowed() -> None:
    assert flavor_sklearn.allowed("sklearn.tree._tree.Tree")
    assert flavor_sklearn.allowed("numpy.float64")
    assert flavor_sklearn.allowed("numpy.log1p")  # a ufunc
    assert not flavor_sklearn.allowed("numpy.load")  # a function, not a type
    assert not flavor_sklearn.allowed("os.system")
    assert not flavor_sklearn.allowed("sklearn.no_such_module.Thing")
    assert not flavor_sklearn.allowed("builtins.eval")
