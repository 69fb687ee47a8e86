"""The model registry over a real server process: register, load, alias and pull a
scikit-learn model through ``LOOPML_URI``, the files sent as chunks the server lacks, and
uploads naming paths outside the version refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import blake3
import httpx
import numpy as np
import pytest

from loopml.api.datasets import ManifestFile
from loopml.api.models import ModelUpload
from loopml.client.datasets import RemoteDatasets
from loopml.connect import Services, connect
from loopml.core.errors import Conflict, InvalidInput, NotFound
from loopml.core.settings import load_settings
from tests.conftest import run_cli
from tests.plugins.server import ServerProcess

pytestmark = pytest.mark.timeout(120)

API = "/api/v1"
X = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.2, 0.9]])


@pytest.fixture
def remote(server: ServerProcess, tmp_path: Path) -> Iterator[Services]:
    services = connect(load_settings(env={}, home=str(tmp_path / "client"), uri=server.url))
    try:
        yield services
    finally:
        services.close()


@pytest.fixture(scope="module")
def model() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(X, [0, 1, 1, 0])


def test_register_load_and_alias_a_sklearn_model(
    remote: Services, model: Any, settings: Any
) -> None:
    models = remote.models
    first = models.register("churn", model, metrics={"auc": 0.7}, input_example=X[:2])
    assert first.ref == "churn@1" and first.flavor == "sklearn"
    assert {f.path for f in first.files} >= {"model.skops", "loopml-model.json"}
    datasets = remote.datasets
    assert isinstance(datasets, RemoteDatasets)
    sent = datasets.bytes_uploaded
    assert sent > 0
    second = models.register("churn", model, metrics={"auc": 0.9}, tags={"team": "risk"})
    assert second.version == 2 and second.tags == {"team": "risk"}
    # the same model bytes again: no chunk of the model file is sent a second time
    assert datasets.bytes_uploaded - sent < first.total_bytes
    loaded = models.load("churn@1")
    assert list(loaded.predict(X)) == list(model.predict(X))
    assert models.show("churn").version == 2
    assert [v.version for v in models.versions("churn")] == [1, 2]
    assert models.best_version("churn", "auc").version == 2
    assert models.best_version("churn", "auc", "min").version == 1
    change = models.set_alias("churn", "production", 1)
    assert change.version == 1 and change.changed
    assert models.show("churn@production").version == 1
    [summary] = models.list()
    assert summary.aliases == {"production": 1}
    moved = models.set_alias("churn", "production", 2)
    assert moved.previous_version == 1
    assert models.delete_alias("churn", "production").version is None
    with pytest.raises(NotFound):
        models.show("churn@production")
    with pytest.raises(NotFound):
        models.set_alias("churn", "production", 9)
    with pytest.raises(NotFound, match="auc"):
        models.best_version("churn", "f1")
    # the server's own registry sees the same thing (one store, two doors)
    embedded = connect(settings)
    try:
        assert embedded.models.show("churn@2").metrics == {"auc": 0.9}
        assert list(embedded.models.load("churn@1").predict(X)) == list(model.predict(X))
    finally:
        embedded.close()


def test_pull_writes_the_files_verified(remote: Services, model: Any, tmp_path: Path) -> None:
    version = remote.models.register("pulled", model)
    out = remote.models.pull("pulled", tmp_path / "out")
    files = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(files) == {f.path for f in version.files}
    for f in version.files:
        assert blake3.blake3(files[f.path]).hexdigest() == f.digest
    manifest = json.loads(files["loopml-model.json"])
    assert manifest["flavor"] == "sklearn"


def test_register_with_a_run_takes_its_lineage_on_the_server(
    remote: Services, model: Any, settings: Any
) -> None:
    # the run is written straight into the store; the server reads its lineage there
    embedded = connect(settings)
    try:
        with embedded.tracker.start_run("exp", params={"C": 1.0}) as run:
            run.log_metric("auc", 0.83)
            run_id = run.id
    finally:
        embedded.close()
    version = remote.models.register("linked", model, run=run_id)
    assert version.run_id == run_id
    assert version.metrics == {"auc": 0.83} and version.params == {"C": "1.0"}
    given = remote.models.register("linked", model, run=run_id, metrics={"auc": 0.5})
    assert given.metrics == {"auc": 0.5}
    with pytest.raises(NotFound):
        remote.models.register("linked", model, run="f" * 32)
    assert [v.version for v in remote.models.versions("linked")] == [1, 2]


def test_uploads_naming_paths_outside_the_version_are_refused(
    server: ServerProcess, remote: Services
) -> None:
    data = b'{"format": 1}'
    digest = blake3.blake3(data).hexdigest()
    remote.datasets.put_chunks([(digest, data)])
    good = ManifestFile("loopml-model.json", len(data), digest, (digest,))
    for path in (
        "../evil.json",
        "/etc/passwd",
        "a/../../b",
        "a\\b",
        "x\x00y",
        "./loopml-model.json",
    ):
        upload = ModelUpload("sklearn", (good, ManifestFile(path, len(data), digest, (digest,))))
        with pytest.raises(InvalidInput):
            remote.models.commit_version("evil", upload)
    with pytest.raises(InvalidInput, match=r"loopml-model\.json"):
        remote.models.commit_version(
            "evil", ModelUpload("sklearn", (ManifestFile("x.json", len(data), digest, (digest,)),))
        )
    ghost = blake3.blake3(b"never sent").hexdigest()
    with pytest.raises(Conflict, match="not stored"):
        remote.models.commit_version(
            "evil",
            ModelUpload("sklearn", (ManifestFile("loopml-model.json", 10, ghost, (ghost,)),)),
        )
    with pytest.raises(InvalidInput):
        remote.models.commit_version("evil", ModelUpload("no-such-flavor", (good,)))
    lying = ManifestFile(
        "loopml-model.json", len(data), blake3.blake3(b"other").hexdigest(), (digest,)
    )
    with pytest.raises(InvalidInput, match="reassemble"):
        remote.models.commit_version("evil", ModelUpload("sklearn", (lying,)))
    with pytest.raises(NotFound):
        remote.models.show("evil")  # nothing was written
    with httpx.Client(base_url=server.url + API) as http:
        for raw in (
            "/models/evil/versions/1/files/..%2f..%2fetc%2fpasswd",
            "/models/evil/versions/1/files/%252e%252e%252fx",
            "/models/%2e%2e/versions",
            "/models/" + "m" * 300 + "/versions",
            "/models/evil/versions/0",
            "/models/evil/versions/abc",
        ):
            answer = http.send(httpx.Request("GET", httpx.URL(server.url + API + raw)))
            assert 400 <= answer.status_code < 500, raw
            assert "error" in answer.json(), raw
        bad = http.post(
            "/models/evil/versions",
            json={"flavor": "sklearn", "files": [{"path": "../x", "size": 1}]},
        )
        assert bad.status_code == 422 and "error" in bad.json()


def test_model_files_are_attachments(server: ServerProcess, remote: Services, model: Any) -> None:
    version = remote.models.register("att", model)
    with httpx.Client(base_url=server.url + API) as http:
        answer = http.get("/models/att/versions/1/files/model.skops")
        assert answer.status_code == 200
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["content-disposition"].startswith("attachment;")
        skops = next(f for f in version.files if f.path == "model.skops")
        assert blake3.blake3(answer.content).hexdigest() == skops.digest
        shown = http.get("/models/att/versions/1")
        assert (
            http.get(
                "/models/att/versions/1", headers={"if-none-match": shown.headers["etag"]}
            ).status_code
            == 304
        )


def test_models_cli_through_the_server(
    remote: Services, model: Any, remote_env: dict[str, str], tmp_path: Path
) -> None:
    remote.models.register("cli-m", model, metrics={"auc": 0.8})
    remote.models.register("cli-m", model, metrics={"auc": 0.6})
    listed = run_cli(remote_env, "models", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)[0]["name"] == "cli-m"
    shown = run_cli(remote_env, "models", "show", "cli-m", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["ref"] == "cli-m@2"
    best = run_cli(remote_env, "models", "best", "cli-m", "--metric", "auc", "--json")
    assert best.returncode == 0 and json.loads(best.stdout)["version"] == 1
    alias = run_cli(remote_env, "models", "alias", "cli-m", "1", "production")
    assert alias.returncode == 0, alias.stderr
    assert remote.models.show("cli-m@production").version == 1
    pulled = run_cli(remote_env, "models", "pull", "cli-m@production", str(tmp_path / "m"))
    assert pulled.returncode == 0, pulled.stderr
    assert (tmp_path / "m" / "loopml-model.json").is_file()
    missing = run_cli(remote_env, "models", "show", "nope")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
