"""Running the endpoint under uvicorn: in the foreground (``loopml serve``), with several
worker processes, or on a background thread (tests, the demo, benchmarks)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from typing import Any

from loopml.core.errors import OperationalError
from loopml.serving.app import EmbeddedServices, ServingApp
from loopml.serving.config import CONFIG_ENV, ServeConfig

# ``--workers N`` starts N processes that import the app; they read the configuration here.


def _fast_loop() -> dict[str, str]:
    """uvloop and httptools when installed (they are dependencies; the fallback is for safety)."""
    opts = {"loop": "asyncio", "http": "h11"}
    try:
        import uvloop  # noqa: F401

        opts["loop"] = "uvloop"
    except ImportError:
        pass
    try:
        import httptools  # noqa: F401

        opts["http"] = "httptools"
    except ImportError:
        pass
    return opts


def uvicorn_options(config: ServeConfig) -> dict[str, Any]:
    return {
        "host": config.host,
        "port": config.port,
        "log_level": "warning",
        "access_log": config.access_log,
        "lifespan": "on",
        "timeout_graceful_shutdown": 10,
        **_fast_loop(),
    }


def serve(config: ServeConfig, services: EmbeddedServices, app: ServingApp | None = None) -> None:
    """Serve until interrupted. With one worker the app (already prepared, if given) runs in
    this process; with more, uvicorn starts worker processes that each load the model."""
    import uvicorn

    if config.workers == 1:
        uvicorn.run(app or ServingApp(config, services), **uvicorn_options(config))
        return
    # Worker processes are spawned by uvicorn and import the app by name; the configuration
    # reaches them through their environment, which this process passes down.
    os.environ[CONFIG_ENV] = config.to_json()
    uvicorn.run(
        "loopml.serving.app:create_app_from_env",
        factory=True,
        workers=config.workers,
        **uvicorn_options(config),
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class BackgroundServer:
    """An endpoint on a background thread: ``with BackgroundServer(app) as url: ...``."""

    def __init__(self, app: ServingApp, startup_timeout: float = 60.0) -> None:
        import uvicorn

        self.app = app
        config = app.config
        port = config.port or free_port(config.host)
        opts = {**uvicorn_options(config), "port": port, "loop": "asyncio"}
        self.url = f"http://{config.host}:{port}"
        self._server = uvicorn.Server(uvicorn.Config(app, **opts))
        self._thread = threading.Thread(target=self._run, name="loopml-serve", daemon=True)
        self._timeout = startup_timeout
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve())
        except BaseException as exc:  # reported by start()
            self._error = exc

    def start(self) -> str:
        self.app.prepare()
        self._thread.start()
        # uvicorn offers no event for "listening"; its ``started`` flag is checked briefly
        stop = threading.Event()
        deadline = self._timeout
        while not self._server.started and self._thread.is_alive() and deadline > 0:
            stop.wait(0.005)
            deadline -= 0.005
        if not self._server.started:
            raise OperationalError(f"the endpoint did not start: {self._error or 'unknown error'}")
        return self.url

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(30)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
