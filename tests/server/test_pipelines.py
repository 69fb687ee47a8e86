"""Pipelines through a ``loopml server``: a run executes on the client and is recorded through
the server; bad input on that path (unknown run, step or output, a missing pipeline file, a
malformed or illegal recording call, a reader's token) is a clear 4xx or CLI exit 1."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loopml.connect import Services, connect
from loopml.core.errors import InvalidInput, NotFound, PermissionDenied
from loopml.core.settings import Settings, load_settings
from tests.conftest import run_cli
from tests.plugins.server import ServerProcess, start_server, store_env
from tests.server.test_ops import CHEAP

pytestmark = pytest.mark.timeout(120)

NO_SUCH_DIGEST = "0" * 64


@pytest.fixture
def remote(server: ServerProcess, tmp_path: Path) -> Iterator[Services]:
    services = connect(load_settings(env={}, home=str(tmp_path / "c"), uri=server.url))
    yield services
    services.close()


def _refused(answer: httpx.Response, status: int, words: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert words in body["error"], body


def test_bad_pipeline_input_through_a_server_is_a_clear_4xx(
    server: ServerProcess,
    remote: Services,
    remote_env: dict[str, str],
    settings: Settings,
    tmp_path: Path,
) -> None:
    source = tmp_path / "cheap.py"
    source.write_text(CHEAP)
    run = remote.pipelines.run(f"{source}:training", {"dataset": "d1"}, workers=1)
    assert run.status.value == "succeeded", run.error
    assert remote.pipelines.load_output(run.id, "echo") == "d1"

    # the SDK: unknown run, step and output; a pipeline file that does not exist
    with pytest.raises(NotFound, match="no pipeline run"):
        remote.pipelines.resume("abcdef")
    with pytest.raises(NotFound, match="no step 'nope'"):
        remote.pipelines.load_output(run.id, "nope")
    with pytest.raises(InvalidInput, match="no stored output 'nope'"):
        remote.pipelines.load_output(run.id, "echo", "nope")
    with pytest.raises(InvalidInput, match="does not exist"):
        remote.pipelines.run(f"{tmp_path / 'missing.py'}:training")
    with pytest.raises(InvalidInput, match="nothing to resume"):
        remote.pipelines.resume(run.id)

    # the recording routes: each refusal is JSON naming what was wrong, and writes nothing
    with httpx.Client(base_url=server.url + "/api/v1") as http:
        steps = f"/pipelines/runs/{run.id}/steps"
        _refused(
            http.post("/pipelines/runs/abc123/steps/echo/move", json={"status": "running"}),
            404,
            "no step",
        )
        _refused(
            http.post(f"{steps}/echo/move", json={"status": "failed"}),
            409,
            "cannot go from succeeded to failed",
        )
        _refused(
            http.post(f"{steps}/echo/move", json={"status": "failed", "fields": {"status": 1}}),
            422,
            "cannot set status",
        )
        _refused(http.post(f"{steps}/echo/move", json={"status": "done"}), 422, "StepMove")
        _refused(
            http.post(f"/pipelines/runs/{run.id}/end", json={"status": "failed"}),
            409,
            "already ended",
        )
        started = {
            "run": {"id": run.id, "pipeline": "training"},
            "steps": [{"name": "echo"}],
        }
        _refused(http.post("/pipelines/runs", json=started), 409, "exists already")
        bad_name = {"run": {"id": "f" * 32, "pipeline": "../x"}, "steps": []}
        _refused(http.post("/pipelines/runs", json=bad_name), 400, "pipeline name")
        _refused(http.post("/pipelines/files", json={"digests": ["../etc"]}), 422, "not a BLAKE3")
        assert http.post("/pipelines/files", json={"digests": [NO_SUCH_DIGEST]}).json() == {
            "files": {},
            "missing": [NO_SUCH_DIGEST],
        }
    # a completion naming chunks the server does not hold is refused (409), and the step
    # stays as it was
    fresh = remote.pipelines.run(f"{source}:training", {"dataset": "d2"}, no_cache=True)
    with httpx.Client(base_url=server.url + "/api/v1") as http:
        output = fresh.step("echo").outputs[0]
        done = {
            "outputs": [
                {
                    "name": "output",
                    "materializer": "json",
                    "type_name": "builtins.str",
                    "digest": output.digest,
                    "files": [{"path": "value.json", "digest": NO_SUCH_DIGEST, "size": 3}],
                }
            ],
            "files": {NO_SUCH_DIGEST: {"size": 3, "chunks": ["1" * 64]}},
        }
        answer = http.post(f"/pipelines/runs/{fresh.id}/steps/echo/complete", json=done)
        assert answer.status_code == 409, answer.text
    assert remote.pipelines.get_run(fresh.id).step("echo").outputs == (output,)

    # the CLI through the server: a run, and a file that does not exist (exit 1, no traceback)
    ran = run_cli(
        remote_env, "pipeline", "run", f"{source}:training", "-p", "dataset=cli", "--json"
    )
    assert ran.returncode == 0, ran.stderr
    made = json.loads(ran.stdout)
    assert made["status"] == "succeeded"
    local = connect(settings)
    try:
        assert local.pipelines.load_output(made["id"], "echo") == "cli"
    finally:
        local.close()
    missing = run_cli(remote_env, "pipeline", "run", f"{tmp_path / 'nope.py'}:training")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "does not exist" in missing.stderr


def test_a_reader_token_cannot_run_a_pipeline_through_the_server(
    settings: Settings, tmp_path: Path
) -> None:
    local = connect(settings)
    reader = local.access.create("reader", "viewer").token
    running = start_server(
        store_env(settings), tmp_path / "server.log", "--auth", "--no-controller"
    )
    try:
        source = tmp_path / "cheap.py"
        source.write_text(CHEAP)
        client_settings = load_settings(
            env={}, home=str(tmp_path / "c"), uri=running.url, token=reader
        )
        remote = connect(client_settings)
        try:
            with pytest.raises(PermissionDenied, match="needs writer"):
                remote.pipelines.run(f"{source}:training")
        finally:
            remote.close()
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
        env.update(LOOPML_URI=running.url, LOOPML_TOKEN=reader, LOOPML_HOME=str(tmp_path / "cli"))
        refused = run_cli(env, "pipeline", "run", f"{source}:training")
        assert refused.returncode == 1 and "Traceback" not in refused.stderr
        assert "needs writer" in refused.stderr
        assert local.pipelines.list_runs() == []
    finally:
        running.stop()
        local.close()
