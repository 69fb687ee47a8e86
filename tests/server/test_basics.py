"""The server's shared behaviour over a real process: routing, errors, request checks, and
the remote client behind ``loopml.connect()``."""

from __future__ import annotations

import httpx
import pytest

from loopml.connect import connect
from loopml.core.errors import Conflict, NotFound, OperationalError
from loopml.core.settings import load_settings
from tests.conftest import run_cli
from tests.plugins.server import ServerProcess

pytestmark = pytest.mark.timeout(120)


def test_health_and_openapi(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/api/v1/health").json()["status"] == "ok"
        doc = http.get("/api/v1/openapi.json").json()
        assert "/api/v1/experiments" in doc["paths"]
        assert "NewExperiment" in doc["components"]["schemas"]
        assert http.get("/docs").status_code == 200


def test_errors_are_json_4xx(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url + "/api/v1") as http:
        missing = http.get("/experiments/nope")
        assert missing.status_code == 404
        assert "nope" in missing.json()["error"]
        assert http.get("/no/such/route").status_code == 404
        wrong_type = http.post("/experiments", json={"name": 5})
        assert wrong_type.status_code == 422 and "name" in wrong_type.json()["error"]
        not_json = http.post(
            "/experiments", content=b"{", headers={"content-type": "application/json"}
        )
        assert not_json.status_code in (400, 422) and "error" in not_json.json()
        deep = http.post(
            "/experiments",
            content=b"[" * 10_000 + b"]" * 10_000,
            headers={"content-type": "application/json"},
        )
        assert deep.status_code == 422 and "NewExperiment" in deep.json()["error"]
        bad_token = http.get("/experiments", params={"page_token": "zz"})
        assert bad_token.status_code == 422 and bad_token.json()["field"] == "page_token"
        assert http.get("/experiments").json() == {"items": [], "next_page_token": None}


def test_cross_site_text_plain_and_foreign_host_refused(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url + "/api/v1") as http:
        plain = http.post(
            "/experiments", content=b'{"name": "x"}', headers={"content-type": "text/plain"}
        )
        assert plain.status_code == 415
        rebound = http.get("/experiments", headers={"host": "attacker.example"})
        assert rebound.status_code == 421 and rebound.json()["field"] == "host"
        assert http.get("/experiments").json()["items"] == []  # nothing was written


def test_remote_client_behind_connect(server: ServerProcess, tmp_path) -> None:
    services = connect(load_settings(env={}, home=str(tmp_path / "c"), uri=server.url))
    try:
        made = services.runs.create_experiment("e1")
        assert services.runs.get_experiment("e1") == made
        assert [e.name for e in services.runs.list_experiments()] == ["e1"]
        with pytest.raises(NotFound):
            services.runs.get_experiment("nope")
        with pytest.raises(Conflict):
            services.runs.create_experiment("e1")
    finally:
        services.close()


def test_unreachable_server_is_a_clear_error(tmp_path) -> None:
    from tests.plugins.server import free_port

    services = connect(
        load_settings(env={}, home=str(tmp_path), uri=f"http://127.0.0.1:{free_port()}")
    )
    with pytest.raises(OperationalError, match="cannot reach the loopml server"):
        services.runs.list_experiments()
    services.close()


def test_non_loopback_without_auth_refused(env: dict[str, str]) -> None:
    done = run_cli(env, "server", "--host", "0.0.0.0", "--port", "5999")
    assert done.returncode == 1
    assert "--auth" in done.stderr and "Traceback" not in done.stderr
