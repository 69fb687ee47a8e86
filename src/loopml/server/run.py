"""``loopml server``: check the address, build the app over the store, and serve it with
uvicorn; unless told otherwise, one trigger controller and one worker run beside it as
threads of this process."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from loopml.connect import Services, connect
from loopml.core.errors import UserError
from loopml.core.settings import Settings
from loopml.server.app import ServerConfig, create_app
from loopml.serving.hosts import is_loopback

CONFIG_ENV = "LOOPML_SERVER_CONFIG"


@dataclass(frozen=True)
class ServerOptions:
    """Everything ``loopml server`` was asked for besides the store."""

    host: str = "127.0.0.1"
    port: int = 5000
    auth: bool = False
    insecure: bool = False
    workers: int = 1
    controller: bool = True
    max_body_bytes: int = 64 * 1024 * 1024
    allowed_hosts: tuple[str, ...] = ()
    access_log: bool = False

    def app_config(self) -> ServerConfig:
        return ServerConfig(
            auth=self.auth, max_body_bytes=self.max_body_bytes, allowed_hosts=self.allowed_hosts
        )


class UnsafeListen(UserError):
    """A non-loopback address without ``--auth`` (and without ``--insecure``)."""


def check_options(options: ServerOptions) -> None:
    """Refuse, with the fix, an address anyone on the network could reach without a token."""
    if options.auth or options.insecure or is_loopback(options.host):
        return
    raise UnsafeListen(
        f"refusing to listen on {options.host} without --auth: anyone who can reach this "
        "address could read and change every dataset, run and model. Start it with --auth "
        "(create a token first: loopml token create --role admin), or bind --host 127.0.0.1, "
        "or pass --insecure if a proxy in front of it checks who calls"
    )


class Background:
    """The in-process trigger controller and worker: two daemon threads over ``services``."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self._controller, name="loopml-controller", daemon=True),
            threading.Thread(target=self._worker, name="loopml-worker", daemon=True),
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def _controller(self) -> None:
        triggers = self.services.triggers
        while not self.stopping.is_set():
            try:
                triggers.poll(wait=1.0)
            except Exception as exc:  # a failed pass is logged and retried; the server stays up
                _log(f"controller pass failed: {type(exc).__name__}: {exc}")
                self.stopping.wait(1.0)

    def _worker(self) -> None:
        triggers = self.services.triggers
        pause = 0.01
        while not self.stopping.is_set():
            try:
                job = triggers.work()
            except Exception as exc:
                _log(f"worker pass failed: {type(exc).__name__}: {exc}")
                job = None
            if job is not None:
                pause = 0.01
                continue
            self.stopping.wait(pause)
            pause = min(pause * 2, 0.5)


def _log(message: str) -> None:
    import sys

    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} loopml server: {message}", file=sys.stderr)


def serve(
    settings: Settings, options: ServerOptions, on_ready: Callable[[], None] | None = None
) -> None:
    """Serve until interrupted; ``on_ready`` is called (on another thread) once the server
    listens."""
    import uvicorn

    from loopml.serving.server import check_listen

    settings = dataclasses.replace(settings, uri=None, token=None)  # the server opens the store
    check_options(options)
    check_listen(options.host, options.port)
    uv: dict[str, Any] = {
        "host": options.host,
        "port": options.port,
        "access_log": options.access_log,
        "log_level": "warning",
        "timeout_graceful_shutdown": 5,
    }
    services = connect(settings)
    background = Background(services) if options.controller else None
    try:
        if background is not None:
            background.start()
        if options.workers == 1:
            server = uvicorn.Server(
                uvicorn.Config(create_app(services, options.app_config()), **uv)
            )
            if on_ready is not None:
                threading.Thread(
                    target=_when_started, args=(server, on_ready), name="loopml-ready", daemon=True
                ).start()
            server.run()
            return
        # Worker processes import the app by name; this process passes the options down
        # through their environment (the store settings travel as LOOPML_* already).
        os.environ[CONFIG_ENV] = json.dumps(asdict(options))
        os.environ.update(
            LOOPML_HOME=str(settings.home),
            LOOPML_DB=settings.db_url,
            LOOPML_BLOBS=settings.blobs_url,
        )
        os.environ.pop("LOOPML_URI", None)  # the server opens the store itself
        uvicorn.run("loopml.server.run:app_from_env", factory=True, workers=options.workers, **uv)
    finally:
        if background is not None:
            background.stop()
        services.close()


def _when_started(server: Any, on_ready: Callable[[], None]) -> None:
    """Call ``on_ready`` once uvicorn says it listens (or never, if it stops first)."""
    waiting = threading.Event()
    deadline = time.monotonic() + 60
    while not server.started:
        if server.should_exit or time.monotonic() > deadline:
            return
        waiting.wait(0.05)
    on_ready()


def app_from_env() -> Any:
    """The app of one ``--workers`` process."""
    data = json.loads(os.environ[CONFIG_ENV])
    data["allowed_hosts"] = tuple(data.get("allowed_hosts", ()))
    options = ServerOptions(**data)
    return create_app(connect(), options.app_config())
