"""The endpoint: an ASGI app. The prediction routes (``POST /predict``, ``POST /v2/models/NAME
/infer``, ``POST /feedback``) are handled on raw ASGI messages, with orjson and no request
objects; the other routes are a small Starlette app behind them.

Every response carries an ``x-request-id`` header (the client's, when it sends a valid one), and
the JSON bodies of the POST routes carry ``request_id``. Errors, unknown routes and wrong methods
included, are ``{"error", "field", "request_id"}`` with a 4xx status for anything wrong with the
request. The POST routes take JSON bodies only (``Content-Type: application/json`` or
``application/*+json``), so a web page on another site cannot post to them with a plain form;
bound to loopback, the endpoint answers only loopback ``Host`` names (see ``hosts.py``).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from loopml.core.errors import LoopError, NotFound
from loopml.core.refs import parse_ref
from loopml.core.settings import Settings
from loopml.serving import codec
from loopml.serving.batching import MicroBatcher
from loopml.serving.config import ServeConfig
from loopml.serving.errors import (
    BodyTooLarge,
    ClientGone,
    MisdirectedRequest,
    QueueFull,
    RequestError,
    UnsupportedMediaType,
    http_status,
)
from loopml.serving.feedback import decode_feedback
from loopml.serving.hosts import HostCheck
from loopml.serving.metrics import CONTENT_TYPE, Metrics
from loopml.serving.model import ServedModel, quiet_feature_name_warnings
from loopml.serving.predlog import PredictionLogger
from loopml.serving.swap import AliasWatcher, ModelHolder

if TYPE_CHECKING:
    from loopml.api.events import EventReader
    from loopml.api.protocols import Models

log = logging.getLogger("loopml.serving")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_REQUEST_ID_RE = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_JSON = (b"content-type", b"application/json")
_JSON_TYPE = b"application/json"
_V2_INFER_RE = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/infer")
_ROUTES_TEXT = (
    "POST /predict, POST /feedback, POST /v2/models/NAME/infer, GET /health, /ready, "
    "/metadata, /metrics, /v2/..."
)


REMOTE_WAIT_S = 2.0
"""How long one long-poll of a server's events waits: a move is seen as soon as it is
appended, and stopping the endpoint waits at most this long for the poll in flight."""


class EmbeddedServices(Protocol):
    """What the endpoint takes from ``loopml.connect()`` (embedded or remote): the models
    service, the events its hot swap follows, and the settings (where the prediction log
    goes by default; ``uri`` set: the events are long-polled from the server)."""

    @property
    def models(self) -> Models: ...

    @property
    def events(self) -> EventReader: ...

    @property
    def settings(self) -> Settings: ...


class ServingApp:
    """One served reference (``churn@production``) with batching, logging and hot swap."""

    def __init__(self, config: ServeConfig, services: EmbeddedServices) -> None:
        self.config = config
        self.settings = services.settings
        self.ref = parse_ref(config.ref, "model reference")
        self.models = services.models
        self.events = services.events
        self.metrics = Metrics(config.metrics_dir)
        self.hosts = HostCheck(config.host, config.allowed_hosts)
        self.holder: ModelHolder | None = None
        self.batcher: MicroBatcher | None = None
        self.logger: PredictionLogger | None = None
        self.watcher: AliasWatcher | None = None
        self._after_id = 0
        self._ids = itertools.count(1)
        self._id_prefix = uuid.uuid4().hex[:12] + "-"
        self.router = Starlette(
            routes=self._routes(),
            lifespan=self._lifespan,
            exception_handlers={
                HTTPException: self._http_error,
                LoopError: self._loop_error,
                Exception: self._internal_error,
            },
        )
        # a redirect to the path with(out) its trailing slash would name the request's own
        # Host header; such paths are not served (404) instead
        self.router.router.redirect_slashes = False

    # ---------- lifecycle
    def prepare(self) -> ServedModel:
        """Load and warm up the version the reference points at (idempotent)."""
        if self.holder is None:
            self._after_id = self.events.latest_cursor()
            quiet_feature_name_warnings()
            self.holder = ModelHolder(self.load_version(self.resolve()))
        return self.holder.current

    def resolve(self) -> int:
        return int(self.models.show(str(self.ref)).version)

    def load_version(self, version: int) -> ServedModel:
        loaded = self.models.load(f"{self.ref.name}@{version}", trusted=self.config.trusted)
        served = ServedModel(loaded, allow_nan=self.config.allow_nan)
        served.warm_up()
        # set when loaded: a hot swap makes it current right after (one assignment)
        self.metrics.model_loaded(served.name, served.version, served.loaded_at)
        return served

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        served = self.prepare()
        settle_memory()
        assert self.holder is not None
        self.batcher = MicroBatcher(
            self.config.max_batch_size, self.config.max_latency_ms, self.metrics.batch_rows.observe
        )
        self.logger = PredictionLogger(
            self.config.log_path(self.settings),
            served.name,
            queue_size=self.config.log_queue_size,
            sample_rate=self.config.log_sample_rate,
            flush_s=self.config.log_flush_s,
            tallies=self.metrics.log,
        )
        self.watcher = AliasWatcher(
            self.events,
            self.ref,
            self.holder,
            self.resolve,
            self.load_version,
            self.metrics,
            self._after_id,
            self.config.poll_interval_s,
            wait_s=REMOTE_WAIT_S if self.settings.uri else 0.0,
        )
        self.batcher.start()
        self.logger.start()
        self.watcher.start()
        try:
            yield
        finally:
            await self.watcher.stop()
            await self.batcher.stop()
            self.logger.close()
            self.metrics.close()

    # ---------- ASGI entry
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.router(scope, receive, send)
            return
        rid = host = ctype = None
        for key, value in scope["headers"]:  # one pass over the headers, on every request
            if key == b"host":
                host = value
            elif key == b"content-type":
                ctype = value
            elif key == b"x-request-id" and _REQUEST_ID_RE.fullmatch(value):
                rid = value.decode()
        if rid is None:
            rid = f"{self._id_prefix}{next(self._ids)}"
        if not self.hosts.allows(host):
            await self._refuse_host(send, rid, host)
            return
        path, method = scope["path"], scope["method"]
        if method == "POST":
            if path == "/predict":
                await self._handle(scope, receive, send, rid, ctype, "/predict", self._predict)
                return
            if path == "/feedback":
                await self._handle(scope, receive, send, rid, ctype, "/feedback", self._feedback)
                return
            if path.startswith("/v2/models/") and path.endswith("/infer"):
                await self._handle(scope, receive, send, rid, ctype, "/v2/infer", self._infer)
                return
        await self._other(scope, receive, send, rid)

    async def _refuse_host(self, send: Send, rid: str, host: bytes | None) -> None:
        named = f"host {host.decode('latin-1')!r}" if host else "a request without a Host header"
        exc = MisdirectedRequest(
            f"{named} is not served here: this endpoint answers only requests for "
            f"{self.hosts.describe()}; start it with --allowed-host NAME to add the name "
            "clients use",
            "host",
        )
        await _send_json(send, http_status(exc), _error(str(exc), exc.field, rid), rid)

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        rid: str,
        ctype: bytes | None,
        route: str,
        handler: Callable[[Scope, bytes, str], Awaitable[dict[str, Any]]],
    ) -> None:
        start = time.perf_counter()
        status = 200
        try:
            if ctype != _JSON_TYPE and not _is_json(ctype):
                raise _unsupported(ctype)
            body = await self._read_body(scope, receive)
            out = await handler(scope, body, rid)
            payload = _dumps(out)
        except ClientGone:
            self.metrics.observe_request(route, 499, time.perf_counter() - start)
            return
        except LoopError as exc:
            status = http_status(exc)
            payload = _error(str(exc), getattr(exc, "field", None), rid)
        except (ValueError, TypeError) as exc:  # the model refused rows that fit the signature
            status = 422
            payload = _error(f"the model could not predict on this input: {exc}", None, rid)
        except Exception as exc:
            log.exception("request %s failed", rid)
            status = 500
            payload = _error(
                f"internal error ({type(exc).__name__}); see the server log", None, rid
            )
        # counted before the answer leaves: a client that reads /metrics next sees it
        self.metrics.observe_request(route, status, time.perf_counter() - start)
        await _send_json(send, status, payload, rid)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.config.max_body_bytes
        for key, value in scope["headers"]:
            if key == b"content-length" and value.isdigit() and int(value) > limit:
                raise BodyTooLarge(
                    f"the body is {int(value)} bytes; this endpoint takes at most {limit}", "body"
                )
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone("the client disconnected before sending its whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(
                    f"the body exceeds {limit} bytes, the most this endpoint takes", "body"
                )
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    # ---------- prediction routes
    async def _predict(self, _scope: Scope, body: bytes, rid: str) -> dict[str, Any]:
        served = self.holder.current if self.holder is not None else None
        batch = served.records.decode(body) if served and served.records else None
        if batch is None or served is None:  # any other body: the general path judges it
            data = codec.parse_json(body)
            served = self._current()
            batch = codec.decode_predict(served.schema, data)
        out = await self._run(served, batch, rid)
        return {
            "request_id": rid,
            "model": served.name,
            "version": served.version,
            "predictions": out,
        }

    async def _infer(self, scope: Scope, body: bytes, rid: str) -> dict[str, Any]:
        data = codec.parse_json(body)
        served = self._current()
        match = _V2_INFER_RE.fullmatch(scope["path"])
        name, version = (match.group(1), match.group(2)) if match else ("", None)
        self._check_v2_target(served, name, version)
        batch = codec.decode_v2(served.schema, data)
        out = await self._run(served, batch, rid)
        request_id = data.get("id")
        return {
            "model_name": served.name,
            "model_version": str(served.version),
            "id": request_id if isinstance(request_id, str) else rid,
            "request_id": rid,
            "parameters": {"request_id": rid},
            "outputs": [
                {
                    "name": "predict",
                    "shape": list(out.shape),
                    "datatype": codec.v2_datatype(out),
                    "data": out.ravel(),
                }
            ],
        }

    async def _run(self, served: ServedModel, batch: Any, rid: str) -> Any:
        assert self.batcher is not None and self.logger is not None
        self.metrics.request_rows.observe(batch.n)
        out = await self.batcher.predict(served, batch)
        self.logger.log_prediction(
            rid, served.version, tuple(served.schema.names), batch, out, served.scorer
        )
        return out

    async def _feedback(self, _scope: Scope, body: bytes, rid: str) -> dict[str, Any]:
        assert self.logger is not None
        items = decode_feedback(codec.parse_json(body, allow_list=True))
        queued = self.logger.log_feedback(items)
        if queued < len(items):
            raise QueueFull(
                f"the log queue is full; {queued} of {len(items)} label(s) were kept; "
                "send the rest again shortly"
            )
        return {"request_id": rid, "accepted": queued}

    def _current(self) -> ServedModel:
        if self.holder is None:
            raise NotFound("the endpoint is still loading its model; retry shortly")
        return self.holder.current

    def _check_v2_target(self, served: ServedModel, name: str, version: str | None) -> None:
        if name != served.name:
            raise NotFound(
                f"model {name!r} is not served here; this endpoint serves {served.name!r}"
            )
        if version is not None and version != str(served.version):
            raise NotFound(
                f"version {version} of {served.name!r} is not served here; "
                f"the endpoint serves version {served.version}"
            )

    # ---------- the other routes (Starlette)
    async def _other(self, scope: Scope, receive: Receive, send: Send, rid: str) -> None:
        header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        scope.setdefault("state", {})["request_id"] = rid
        await self.router(scope, receive, send_with_id)

    # ---------- errors of the Starlette routes: JSON like the prediction routes
    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            message = f"there is no route {request.url.path!r}; this endpoint serves {_ROUTES_TEXT}"
        elif exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            message = f"{request.method} is not allowed on {request.url.path!r}; use {allowed}"
        else:
            message = str(exc.detail)
        return _error_response(request, exc.status_code, message, None, exc.headers)

    async def _loop_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoopError)
        field = getattr(exc, "field", None)
        return _error_response(request, http_status(exc), str(exc), field)

    async def _internal_error(self, request: Request, exc: Exception) -> Response:
        log.error("request %s failed", request.url.path, exc_info=exc)
        message = f"internal error ({type(exc).__name__}); see the server log"
        return _error_response(request, 500, message, None)

    def _routes(self) -> list[Route]:
        return [
            Route("/health", self._health),
            Route("/ready", self._ready),
            Route("/metadata", self._metadata),
            Route("/metrics", self._metrics),
            Route("/v2", self._v2_server),
            Route("/v2/health/live", self._health),
            Route("/v2/health/ready", self._ready),
            Route("/v2/models/{name}", self._v2_model),
            Route("/v2/models/{name}/ready", self._v2_model_ready),
            Route("/v2/models/{name}/versions/{version}", self._v2_model),
            Route("/v2/models/{name}/versions/{version}/ready", self._v2_model_ready),
            # POST on these is answered before the router; listing them makes other methods 405
            Route("/predict", self._health, methods=["POST"]),
            Route("/feedback", self._health, methods=["POST"]),
            Route("/v2/models/{name}/infer", self._health, methods=["POST"]),
            Route("/v2/models/{name}/versions/{version}/infer", self._health, methods=["POST"]),
        ]

    async def _health(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok", "live": True})

    async def _ready(self, _request: Request) -> Response:
        ready = self.holder is not None and self.batcher is not None
        body: dict[str, Any] = {"ready": ready}
        if self.holder is not None:
            body.update(model=self.holder.current.name, version=self.holder.current.version)
        return JSONResponse(body, status_code=200 if ready else 503)

    async def _metadata(self, _request: Request) -> Response:
        served = self._current()
        return _json(
            {
                **served.metadata(),
                "reference": str(self.ref),
                "batching": {
                    "max_batch_size": self.config.max_batch_size,
                    "max_latency_ms": self.config.max_latency_ms,
                },
                "log_sample_rate": self.config.log_sample_rate,
            }
        )

    async def _metrics(self, _request: Request) -> Response:
        if self.logger is not None:
            self.metrics.log.queued.set(self.logger.queued)
        return Response(self.metrics.render(), media_type=CONTENT_TYPE)

    async def _v2_server(self, _request: Request) -> Response:
        from loopml.core.version import __version__

        return JSONResponse({"name": "loopml", "version": __version__, "extensions": []})

    async def _v2_model(self, request: Request) -> Response:
        served = self._current()  # NotFound and the rest answer through _loop_error
        self._check_v2_target(
            served, request.path_params["name"], request.path_params.get("version")
        )
        return _json(served.v2_metadata())

    async def _v2_model_ready(self, request: Request) -> Response:
        served = self._current()
        self._check_v2_target(
            served, request.path_params["name"], request.path_params.get("version")
        )
        return JSONResponse({"name": served.name, "ready": True})


def settle_memory() -> None:
    """After start-up: free import-time garbage, return it to the OS, and move the surviving
    objects (modules, the model) out of the collector's reach. Full collections then scan only
    what requests allocate, instead of pausing every request for tens of milliseconds."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    gc.freeze()
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
            ctypes.CDLL(libc_name).malloc_trim(0)


def _dumps(data: dict[str, Any]) -> bytes:
    try:
        return codec.dumps(data)
    except TypeError:  # object arrays (text predictions) that orjson's numpy path cannot take
        return codec.dumps(_plain(data))


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _json(data: dict[str, Any]) -> Response:
    return Response(_dumps(data), media_type="application/json")


def _error(message: str, field: str | None, rid: str) -> bytes:
    return orjson.dumps({"error": message, "field": field, "request_id": rid})


def _error_response(
    request: Request,
    status: int,
    message: str,
    field: str | None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    rid = str(getattr(request.state, "request_id", ""))
    return Response(
        _error(message, field, rid), status, headers=headers, media_type="application/json"
    )


async def _send_json(send: Send, status: int, payload: bytes, rid: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                _JSON,
                (b"content-length", str(len(payload)).encode()),
                (b"x-request-id", rid.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _is_json(ctype: bytes | None) -> bool:
    """``application/json`` or ``application/*+json``, any case, with any parameters."""
    if not ctype:
        return False
    media = ctype.split(b";", 1)[0].strip().lower()
    return media == _JSON_TYPE or (media.startswith(b"application/") and media.endswith(b"+json"))


def _unsupported(ctype: bytes | None) -> UnsupportedMediaType:
    found = f"found {ctype.decode('latin-1')!r}" if ctype else "found no Content-Type"
    return UnsupportedMediaType(
        f"this route takes a JSON body sent with Content-Type: application/json ({found})",
        "content-type",
    )


def create_app_from_env() -> ServingApp:
    """The app of one ``--workers`` process: configuration comes from the parent's env."""
    import os

    from loopml.serving.config import CONFIG_ENV

    config = ServeConfig.from_json(os.environ[CONFIG_ENV])
    return ServingApp(config, _connect())


def _connect() -> Any:
    # A uvicorn worker process builds its app by name; it connects like any other process.
    from loopml.connect import connect

    return connect()


__all__ = ["RequestError", "ServingApp", "create_app_from_env"]
