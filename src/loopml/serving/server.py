"""Running the endpoint under uvicorn: in the foreground (``loopml serve``), with several
worker processes, or on a background thread (tests, the demo, benchmarks)."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import os
import shutil
import socket
import tempfile
import threading
from typing import Any

from loopml.core.errors import OperationalError
from loopml.serving.app import EmbeddedServices, ServingApp
from loopml.serving.config import CONFIG_ENV, ServeConfig
from loopml.serving.errors import PortUnavailable

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


def check_listen(host: str, port: int) -> None:
    """Refuse, with what to do, an address and port the endpoint could not listen on (port in
    use, no such address, a privileged port), before anything is loaded."""
    if port == 0:
        return
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortUnavailable(
            f"cannot listen on {host!r}: {exc.strerror}; give an address of this machine "
            "with --host (127.0.0.1 for this machine only, 0.0.0.0 for every interface)"
        ) from None
    for family, kind, proto, _name, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            # the options uvicorn (asyncio) listens with, so the test fails exactly when it would
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise _listen_error(host, port, exc) from None


def _listen_error(host: str, port: int, exc: OSError) -> PortUnavailable:
    if exc.errno == errno.EADDRINUSE:
        return PortUnavailable(f"port {port} on {host} is already in use; pick another with --port")
    if exc.errno == errno.EACCES:
        return PortUnavailable(
            f"port {port} on {host} needs administrator rights; pick one above 1023 with --port"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return PortUnavailable(
            f"{host} is not an address of this machine; pick one with --host "
            "(127.0.0.1 for this machine only, 0.0.0.0 for every interface)"
        )
    return PortUnavailable(f"cannot listen on port {port} on {host}: {exc.strerror}")


def serve(config: ServeConfig, services: EmbeddedServices, app: ServingApp | None = None) -> None:
    """Serve until interrupted. With one worker the app (already prepared, if given) runs in
    this process; with more, uvicorn starts worker processes that each load the model."""
    import uvicorn

    check_listen(config.host, config.port)
    if config.workers == 1:
        uvicorn.run(app or ServingApp(config, services), **uvicorn_options(config))
        return
    # The workers write their metrics into one private folder that /metrics in any of them
    # reads whole; it lives as long as this process serves.
    metrics_dir = tempfile.mkdtemp(prefix="loopml-metrics-")
    try:
        worker_config = dataclasses.replace(config, metrics_dir=metrics_dir)
        # Worker processes are spawned by uvicorn and import the app by name; the
        # configuration reaches them through their environment, which this process passes down.
        os.environ[CONFIG_ENV] = worker_config.to_json()
        uvicorn.run(
            "loopml.serving.app:create_app_from_env",
            factory=True,
            workers=config.workers,
            **uvicorn_options(config),
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


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
