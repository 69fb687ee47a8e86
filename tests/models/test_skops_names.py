"""A .skops file is judged on the type names in its schema before anything is imported: types
from modules that act when imported are refused, registering and loading, in a process that
such an import would end or disturb."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from loopml.core.errors import InvalidInput
from loopml.models import flavor_sklearn

# Each of these does something when imported: f2py's command line exits the process, `this`
# prints, `antigravity` opens a browser; the others do not exist or are not types.
HOSTILE = [
    "numpy.f2py.__main__.Anything",
    "numpy.f2py.f2py2e.main",
    "antigravity.Anything",
    "this.Anything",
    "no_such_module_for_loopml.Thing",
    "os.system",
    "sklearn.__main__.X",
    "numpy.testing.Tester",
    "sklearn.tests.test_base.T",
    "subprocess.Popen",
]
# Where in the file the name is planted: the estimator itself, and an array deep inside it.
PLACES = ["sklearn.linear_model._logistic.LogisticRegression", "numpy.ndarray"]


def _retype(data: bytes, old: str, new: str) -> bytes:
    """``data`` (a skops file) with every object of type ``old`` turned into type ``new``."""
    schema_text = zipfile.ZipFile(io.BytesIO(data)).read("schema.json")
    schema = json.loads(schema_text)
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if f"{node.get('__module__')}.{node.get('__class__')}" == old:
                node["__module__"], _, node["__class__"] = new.rpartition(".")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            content = (
                json.dumps(schema).encode() if item.filename == "schema.json" else src.read(item)
            )
            dst.writestr(item, content)
    return out.getvalue()


_PROBE = """
import json, sys
from pathlib import Path

from loopml.core.errors import LoopError
from loopml.core.settings import load_settings
from loopml.models import flavor_sklearn
from loopml.sdk import Client

folder = Path(sys.argv[1])
cases = json.loads((folder / "cases.json").read_text())
settings = load_settings(
    env={}, home=str(folder / "home"), db=f"sqlite:///{folder / 'home' / 'db'}",
    blobs=str(folder / "blobs"),
)
client = Client(settings)
import skops.io, sklearn.linear_model  # what any load imports anyway (numpy.f2py among it)
before = set(sys.modules)
results = []
for case in cases:
    path = folder / case["file"]
    outcome = {}
    try:
        client.models.register("m", str(path))
        outcome["register"] = "accepted"
    except LoopError as exc:
        outcome["register"] = type(exc).__name__ + ": " + str(exc)
    meta = {"file": "model.skops", "trusted_types": [case["type"]]}
    try:
        flavor_sklearn.load({"model.skops": path.read_bytes()}, meta)
        outcome["load"] = "accepted"
    except LoopError as exc:
        outcome["load"] = type(exc).__name__ + ": " + str(exc)
    results.append(outcome)
client.close()
watched = {c["type"].rpartition(".")[0] for c in cases} | {"numpy.f2py", "webbrowser"}
imported = sorted(m for m in watched if m in sys.modules and m not in before)
print("RESULTS " + json.dumps({"results": results, "imported": imported}))
"""


def test_types_from_modules_that_act_on_import_are_refused_before_any_import(
    array_clf: Any, tmp_path: Path
) -> None:
    import skops.io as sio

    good = sio.dumps(array_clf)
    cases = []
    for i, hostile in enumerate(HOSTILE):
        for j, place in enumerate(PLACES):
            name = f"m{i}_{j}.skops"
            data = _retype(good, place, hostile)
            assert data != good
            (tmp_path / name).write_bytes(data)
            cases.append({"file": name, "type": hostile})
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    env = {**os.environ, "BROWSER": "true", "DISPLAY": ""}
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULTS ")]
    assert lines, f"the process ended early (an import ran?): {proc.stdout!r} {proc.stderr!r}"
    assert "Beautiful is better" not in proc.stdout  # `this` was never imported
    report = json.loads(lines[0][len("RESULTS ") :])
    assert report["imported"] == []
    for case, outcome in zip(cases, report["results"], strict=True):
        assert outcome["register"].startswith("InvalidInput: "), (case, outcome)
        assert outcome["load"].startswith("PermissionDenied: "), (case, outcome)
        for text in outcome.values():
            assert case["type"] in text and "flavor='python'" in text


@pytest.mark.parametrize(
    "name",
    [
        "sklearn.linear_model._logistic.LogisticRegression",
        "numpy.ndarray",
        "numpy.random._generator.Generator",
        "builtins.dict",
        "functools.partial",
        "scipy.sparse._csr.csr_matrix",
        "sklearn.tree._tree.Tree",
    ],
)
def test_the_types_real_models_name_pass_the_screen(name: str) -> None:
    assert flavor_sklearn.importable(name)


@pytest.mark.parametrize(
    "name",
    [*HOSTILE, "numpy.distutils.x.Y", "builtins", ".x", "numpy..x", "numpy.x-y.Z", "1.2"],
)
def test_hostile_or_malformed_type_names_fail_the_screen(name: str) -> None:
    assert not flavor_sklearn.importable(name)


@pytest.mark.parametrize(
    "data",
    [b"", b"not a zip", b"PK\x05\x06" + b"\x00" * 18],
    ids=["empty", "text", "empty-zip"],
)
def test_a_file_that_is_not_a_skops_file_is_a_clear_error(data: bytes) -> None:
    with pytest.raises(InvalidInput, match="not a valid skops file"):
        flavor_sklearn.named_types(data, "the model")


def test_a_schema_nested_past_the_recursion_limit_is_a_clear_error() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("schema.json", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(InvalidInput, match="not a valid skops file"):
        flavor_sklearn.named_types(out.getvalue(), "the model")
