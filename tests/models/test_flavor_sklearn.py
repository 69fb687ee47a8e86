"""The sklearn flavor refuses stored files tampered to hold types not recorded at registration."""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from loopml.core.errors import InvalidInput, PermissionDenied
from loopml.models import flavor_sklearn, skops_reader


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
meta = {"file": "model.skops", "trusted_types": [], "named_types": sys.argv[2].split(",")}
model = flavor_sklearn.load({"model.skops": (folder / "model.skops").read_bytes()}, meta)
x, _ = load_iris(return_X_y=True)
np.testing.assert_array_equal(model.predict(x), np.load(folder / "expected.npy"))
# skops (whose import scans all of scikit-learn, pytest among what that imports) was not used.
print(sorted(m for m in ("skops.io", "sklearn.utils._testing", "pytest") if m in sys.modules))
"""


def test_a_plain_model_loads_without_importing_skops(tmp_path: Path) -> None:
    """Loading needs no skops for estimators made of plain objects and arrays: a fresh process
    loads one and predicts the same, with skops (and what its import drags in) never imported."""
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_iris(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    saved = flavor_sklearn.save(model)
    (tmp_path / "model.skops").write_bytes(saved.files["model.skops"])  # type: ignore[arg-type]
    np.save(tmp_path / "expected.npy", model.predict(x))
    names = ",".join(saved.meta["named_types"])
    done = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS, str(tmp_path), names],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _estimators() -> dict[str, Any]:
    from sklearn import (
        cluster,
        decomposition,
        linear_model,
        naive_bayes,
        neighbors,
        pipeline,
        preprocessing,
        svm,
    )

    scaled = preprocessing.StandardScaler
    return {
        "scaled-logistic": pipeline.make_pipeline(scaled(), linear_model.LogisticRegression()),
        "scaled-svc": pipeline.make_pipeline(scaled(), svm.SVC()),
        "pca-bayes": pipeline.make_pipeline(decomposition.PCA(2), naive_bayes.GaussianNB()),
        "kmeans": cluster.KMeans(3, n_init=2, random_state=0),
        "knn": neighbors.KNeighborsClassifier(),
        "ridge": linear_model.Ridge(),
        "one-hot": preprocessing.OneHotEncoder(handle_unknown="ignore"),
    }


@pytest.mark.parametrize(
    "name", ["scaled-logistic", "scaled-svc", "pca-bayes", "kmeans", "knn", "ridge", "one-hot"]
)
def test_the_short_reader_builds_what_skops_builds(name: str) -> None:
    """Byte for byte: the object's pickled state is the same as skops' own load."""
    import skops.io as sio
    from sklearn.datasets import load_wine

    x, y = load_wine(return_X_y=True, as_frame=True)
    model = _estimators()[name].fit(x.round(0) if name == "one-hot" else x, y)
    data = flavor_sklearn.save(model).files["model.skops"]
    assert isinstance(data, bytes)
    ours = skops_reader.read(data, flavor_sklearn.allowed)
    theirs = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    assert type(ours) is type(theirs)
    assert pickle.dumps(ours, protocol=5) == pickle.dumps(theirs, protocol=5)


def test_the_short_reader_leaves_trees_and_other_nodes_to_skops(iris: Any) -> None:
    from sklearn.ensemble import RandomForestClassifier

    x, y = iris
    saved = flavor_sklearn.save(RandomForestClassifier(n_estimators=2, random_state=0).fit(x, y))
    data = saved.files["model.skops"]
    assert isinstance(data, bytes)
    with pytest.raises(skops_reader.Unsupported, match="TreeNode"):
        skops_reader.read(data, flavor_sklearn.allowed)
    loaded = flavor_sklearn.load({"model.skops": data}, saved.meta)  # through skops
    assert (loaded.predict(x) == saved_predictions(x, data)).all()


def saved_predictions(x: Any, data: bytes) -> Any:
    import skops.io as sio

    return sio.loads(data, trusted=sio.get_untrusted_types(data=data)).predict(x)


def test_the_short_reader_imports_nothing_it_was_not_allowed_to(array_clf: Any) -> None:
    """Every name goes to ``admit`` before its module is imported; a refused name stops the
    read (and ``load`` then hands the file to skops and its checks)."""
    data = flavor_sklearn.save(array_clf).files["model.skops"]
    assert isinstance(data, bytes)
    asked: list[str] = []

    def refuse_all(name: str) -> bool:
        asked.append(name)
        return False

    with pytest.raises(skops_reader.Unsupported, match="LogisticRegression"):
        skops_reader.read(data, refuse_all)
    assert asked == ["sklearn.linear_model._logistic.LogisticRegression"]
    tampered = _retype(data, "sklearn.linear_model._logistic.LogisticRegression", "os.system")
    with pytest.raises(skops_reader.Unsupported, match=r"os\.system"):
        skops_reader.read(tampered, flavor_sklearn.allowed)


@pytest.mark.parametrize("protocol", [1, 3, "2", None])
def test_the_short_reader_reads_only_the_protocol_it_knows(array_clf: Any, protocol: Any) -> None:
    data = flavor_sklearn.save(array_clf).files["model.skops"]
    assert isinstance(data, bytes)
    with pytest.raises(skops_reader.Unsupported, match="protocol"):
        skops_reader.read(_with_schema(data, protocol=protocol), flavor_sklearn.allowed)


def _with_schema(data: bytes, **changes: Any) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            content = src.read(item)
            if item.filename == "schema.json":
                content = json.dumps({**json.loads(content), **changes}).encode()
            dst.writestr(item, content)
    return out.getvalue()


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


@pytest.mark.parametrize("depth", [380, 420])
def test_a_model_nested_deeper_than_python_recurses_is_a_clear_error(depth: int) -> None:
    """Lists in lists as deep as JSON still parses: a clear refusal, not a RecursionError."""
    leaf = '{"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode", '
    leaf += '"content": "\\"x\\"", "is_json": true}'
    opening = (
        '{"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "content": ['
    )
    schema = '{"protocol": 2, ' + opening[1:] + opening * (depth - 1) + leaf + "]}" * depth
    json.loads(schema)  # JSON itself still parses it
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("schema.json", schema)
    meta = {
        "file": "model.skops",
        "trusted_types": [],
        "named_types": ["builtins.list", "builtins.str"],
    }
    with pytest.raises(InvalidInput, match="nested"):
        flavor_sklearn.load({"model.skops": out.getvalue()}, meta)


def test_a_stored_file_whose_parts_do_not_fit_is_a_clear_error() -> None:
    """A file both readers parse but cannot build (a dict whose key "abc" is typed int): a
    clear refusal naming what went wrong, not the reader's own ValueError."""
    int_type = {"__class__": "int", "__module__": "builtins", "__loader__": "TypeNode"}
    one = {"__class__": "int", "__module__": "builtins", "__loader__": "JsonNode", "content": "1"}
    node = {
        "__class__": "dict",
        "__module__": "builtins",
        "__loader__": "DictNode",
        "key_types": {
            "__class__": "list",
            "__module__": "builtins",
            "__loader__": "ListNode",
            "content": [int_type],
        },
        "content": {"abc": {**one, "is_json": True}},
        "protocol": 2,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("schema.json", json.dumps(node))
    named = ["builtins.dict", "builtins.int", "builtins.list"]
    meta = {"file": "model.skops", "trusted_types": [], "named_types": named}
    with pytest.raises(InvalidInput, match=r"cannot be rebuilt.*ValueError"):
        flavor_sklearn.load({"model.skops": out.getvalue()}, meta)
