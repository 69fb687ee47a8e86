"""The contract suite: behaviour tests of the public API (``loopml.connect()`` services, the
``Client``, the ``loopml.*`` functions), run unchanged against every backend that applies.

A test joins the suite by asking for ``client``, ``services`` or ``settings`` (they all rest on
the ``backend`` fixture). ``pytest_generate_tests`` below generates its backends; a combination
that does not apply is not generated at all, so no test ever skips itself.

Generation rule
---------------
- **Database**: every test runs on ``sqlite`` and ``postgres`` (a fresh schema per test).
- **Blob store**: a local folder. A test marked ``@pytest.mark.blobs`` (it writes and reads
  blobs: dataset, model and artifact bytes, pipeline outputs) also runs on S3 (a fresh bucket on
  a moto server), on both databases: ids ``sqlite``, ``postgres`` (local folder),
  ``sqlite-s3``, ``postgres-s3``. Tests that only write metadata run on the local folder.
- **Remote**: one more backend, ``remote``: a live ``loopml server`` process (no controller)
  over a SQLite store and a local folder, reached by the client with ``uri=`` (so
  ``loopml.connect()`` returns :class:`loopml.client.services.RemoteServices`). It is
  generated only for a test marked ``@pytest.mark.services(...)`` (markers of the module and
  the test add up) when every service it names has a remote implementation: a module
  ``loopml.client.<service>`` whose ``build()`` returns a class with every method of that
  service's Protocol (:mod:`loopml.api.protocols`), none of them a stub whose body only
  raises OperationalError (how a remote client says "not carried over the wire yet"). A name
  may narrow the need to some methods: ``"runs.create_experiment"`` asks only for that one. A test without the marker
  never runs remotely. The client-side tracker (``client.tracking``, ``loopml.start_run``)
  stands on ``runs``, ``search`` and ``maintenance``: a test using it names all three.
  ``@pytest.mark.local_only("reason")`` keeps a test off the remote backend, saying why in the
  code (a parametrized case whose wire is already covered, or a known difference to fix).

So the remote coverage grows by itself as ``loopml.client.<service>`` modules land.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import inspect
import os
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from loopml.core.settings import Settings, load_settings
from loopml.sdk import Client
from tests.plugins.server import ServerProcess, start_server, store_env

# service name -> (module, Protocol class) of its interface
PROTOCOLS = {
    "datasets": ("loopml.api.protocols", "Datasets"),
    "runs": ("loopml.api.protocols", "Runs"),
    "search": ("loopml.api.protocols", "Search"),
    "models": ("loopml.api.protocols", "Models"),
    "pipelines": ("loopml.api.protocols", "Pipelines"),
    "deployments": ("loopml.api.protocols", "Deployments"),
    "maintenance": ("loopml.api.protocols", "Maintenance"),
    "monitoring": ("loopml.api.protocols", "Monitoring"),
    "triggers": ("loopml.api.protocols", "Triggers"),
    "events": ("loopml.api.events", "EventReader"),
}

DATABASES = ("sqlite", "postgres")
BLOB_STORES = ("local", "s3")


@dataclass(frozen=True)
class BackendParam:
    db: str
    blobs: str = "local"
    remote: bool = False

    @property
    def id(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        if self.remote:
            return "remote"
        return self.db if self.blobs == "local" else f"{self.db}-{self.blobs}"


def _methods(cls: type) -> set[str]:
    return {
        name for name, value in vars(cls).items() if not name.startswith("_") and callable(value)
    }


def _refuses(function: Any) -> bool:
    """Whether ``function``'s body only raises OperationalError: the remote clients' way of
    saying a call is not carried over the wire yet (so it does not count as served)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return False
    first = tree.body[0] if tree.body else None
    body = list(first.body) if isinstance(first, (ast.FunctionDef, ast.AsyncFunctionDef)) else []
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return (
        len(body) == 1
        and isinstance(body[0], ast.Raise)
        and isinstance(body[0].exc, ast.Call)
        and getattr(body[0].exc.func, "id", None) == "OperationalError"
    )


def _served(cls: type) -> set[str]:
    """The public methods of a remote class that do something other than refuse."""
    return {
        name for name in dir(cls) if not name.startswith("_") and not _refuses(getattr(cls, name))
    }


def _remote_class(service: str) -> type | None:
    """The class ``loopml.client.<service>.build`` returns, or None when there is no module."""
    if importlib.util.find_spec(f"loopml.client.{service}") is None:
        return None
    module = importlib.import_module(f"loopml.client.{service}")
    returned = inspect.signature(module.build).return_annotation
    if isinstance(returned, str):
        returned = getattr(module, returned, None)
    return returned if isinstance(returned, type) else None


@functools.cache
def remote_covers(need: str) -> bool:
    """Whether the remote backend implements ``need``: ``"runs"`` (every method of the Runs
    Protocol) or ``"runs.create_experiment"`` (that method)."""
    service, _, method = need.partition(".")
    if service not in PROTOCOLS:
        raise pytest.UsageError(
            f"@pytest.mark.services({need!r}): unknown service {service!r}; "
            f"use one of {', '.join(PROTOCOLS)}"
        )
    cls = _remote_class(service)
    if cls is None:
        return False
    module, name = PROTOCOLS[service]
    wanted = {method} if method else _methods(getattr(importlib.import_module(module), name))
    return wanted <= _served(cls)


def backend_params(definition: Any) -> list[BackendParam]:
    """The backends one test function is generated for (the rule of the module docstring)."""
    blobs = definition.get_closest_marker("blobs") is not None
    params = [
        BackendParam(db, store)
        for store in (BLOB_STORES if blobs else ("local",))
        for db in DATABASES
    ]
    needs = [need for m in definition.iter_markers("services") for need in m.args]
    covered = [remote_covers(need) for need in needs]  # every name checked, typos included
    local = definition.get_closest_marker("local_only")
    if local is not None and not (local.args and str(local.args[0]).strip()):
        raise pytest.UsageError(
            f"{definition.nodeid}: @pytest.mark.local_only needs the reason as its argument"
        )
    if needs and all(covered) and local is None:
        params.append(BackendParam("sqlite", "local", remote=True))
    return params


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    params = backend_params(metafunc.definition)
    metafunc.parametrize("backend", params, ids=[p.id for p in params], indirect=True)


@dataclass
class Backend:
    """One backend of a contract test: the settings a client uses, and (remote) the server."""

    name: str
    settings: Settings
    store_settings: Settings
    server: ServerProcess | None = None

    @property
    def remote(self) -> bool:
        return self.server is not None


@pytest.fixture
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    param: BackendParam = request.param
    if param.db == "sqlite":
        db = f"sqlite:///{tmp_path / 'meta' / 'loopml.db'}"
    else:
        db = request.getfixturevalue("pg_schema_url")
    blobs = str(tmp_path / "blobs")
    if param.blobs == "s3":
        blobs = request.getfixturevalue("s3_blobs_url")
    store = load_settings(env={}, home=str(tmp_path / "home"), db=db, blobs=blobs)
    if not param.remote:
        yield Backend(param.name, store, store)
        return
    server = start_server(
        store_env(store),
        tmp_path / "server.log",
        "--no-controller",
        launcher=request.getfixturevalue("launcher"),
    )
    try:
        client_settings = load_settings(env={}, home=str(tmp_path / "client-home"), uri=server.url)
        yield Backend(param.name, client_settings, store, server)
    finally:
        server.stop()


@pytest.fixture
def settings(backend: Backend) -> Settings:
    """The settings a client of this backend uses (``uri=`` for the remote one)."""
    return backend.settings


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    c = Client(settings)
    yield c
    c.close()


@pytest.fixture
def services(client: Client) -> Any:
    """``loopml.connect(settings)`` of this backend (the client's own services)."""
    return client.services


@pytest.fixture
def sdk_env(client: Client, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the module-level ``loopml.*`` functions (the default client) at ``client``'s
    backend through the ``LOOPML_*`` environment, as a user would."""
    from loopml.sdk import close_default_clients

    for name in [
        n
        for n in os.environ
        if n.startswith("LOOPML_") and n not in ("LOOPML_S3_ENDPOINT_URL", "LOOPML_WORKER_PRELOAD")
    ]:
        monkeypatch.delenv(name)
    s = client.settings
    if s.uri:
        monkeypatch.setenv("LOOPML_URI", s.uri)
    monkeypatch.setenv("LOOPML_HOME", str(s.home))
    monkeypatch.setenv("LOOPML_DB", s.db_url)
    monkeypatch.setenv("LOOPML_BLOBS", s.blobs_url)
    close_default_clients()
    yield
    close_default_clients()


@pytest.fixture(autouse=True)
def empty_run_stack() -> Iterator[None]:
    """Every test starts with no active run and leaves none behind."""
    from loopml.tracker import active

    token = active._stack.set(())
    yield
    active._stack.reset(token)


# Fixtures of the blocks' own folders that contract tests share (a trained model and its log
# for the monitors, a cheap pipeline file for the triggers).
from tests.monitoring.conftest import clock, trained  # noqa: E402, F401
from tests.triggers.conftest import pipeline_file  # noqa: E402, F401
