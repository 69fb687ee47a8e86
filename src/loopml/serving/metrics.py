"""Endpoint metrics on ``prometheus_client``, the same names with one worker or several.

With ``--workers N`` every worker writes its figures to memory-mapped files in one private
folder that the parent created (``ServeConfig.metrics_dir``); ``/metrics`` in any worker
aggregates the files of all of them, so totals do not depend on which worker answers.

With one process, the figures every request updates (requests, latency, rows per request and
per predict call) are plain additions on the event loop, which is the only code that writes
them: no lock per observation. A collector reads them when ``/metrics`` is asked for, with the
same names, labels and buckets as ``prometheus_client``'s own metrics.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from loopml.serving.predlog import LogTallies

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_REQUESTS_HELP = "Requests answered, by route and HTTP status."
_LATENCY_HELP = "Time from request to response, by route."
_BATCH_ROWS_HELP = "Rows per predict call (after micro-batching)."
_REQUEST_ROWS_HELP = "Rows per prediction request."


def use_multiprocess_dir(path: str) -> None:
    """Make this process write its metrics to ``path`` (before any metric is created).

    prometheus_client finds its files through ``PROMETHEUS_MULTIPROC_DIR`` only, and picks its
    value class when first imported; both are set here, in a worker process that serves
    nothing else."""
    from prometheus_client import values

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


class Metrics:
    """Request counts by route and status, latency, batch sizes, model version, logging."""

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        import prometheus_client as prom

        # the exposition stays what it was: no *_created series
        prom.disable_created_metrics()  # type: ignore[no-untyped-call]
        self.multiprocess_dir = multiprocess_dir
        self.registry = prom.CollectorRegistry()
        own: prom.CollectorRegistry | None = self.registry
        if multiprocess_dir:
            from prometheus_client import multiprocess

            use_multiprocess_dir(multiprocess_dir)
            multiprocess.MultiProcessCollector(self.registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]
            own = None  # the collector reads every worker's files, this one's included
        self._requests: Any
        self._latency: Any
        self.batch_rows: Any  # .observe(rows)
        self.request_rows: Any  # .observe(rows)
        if multiprocess_dir:
            self._requests = prom.Counter(
                "loopml_requests", _REQUESTS_HELP, ["route", "status"], registry=own
            )
            self._latency = prom.Histogram(
                "loopml_request_duration_seconds",
                _LATENCY_HELP,
                ["route"],
                buckets=LATENCY_BUCKETS,
                registry=own,
            )
            self.batch_rows = prom.Histogram(
                "loopml_batch_rows", _BATCH_ROWS_HELP, buckets=BATCH_BUCKETS, registry=own
            )
            self.request_rows = prom.Histogram(
                "loopml_request_rows", _REQUEST_ROWS_HELP, buckets=BATCH_BUCKETS, registry=own
            )
        else:
            loop = LoopFigures()
            self.registry.register(loop)
            self._requests, self._latency = loop.requests, loop.latency
            self.batch_rows, self.request_rows = loop.batch_rows, loop.request_rows
        self._version = prom.Gauge(
            "loopml_model_version",
            "The model version being served.",
            ["model"],
            multiprocess_mode="mostrecent",
            registry=own,
        )
        self._loaded_at = prom.Gauge(
            "loopml_model_loaded_timestamp_seconds",
            "When the served version was loaded.",
            ["model"],
            multiprocess_mode="mostrecent",
            registry=own,
        )
        self._swaps = prom.Counter(
            "loopml_model_swaps", "Hot swaps to a new version.", registry=own
        )
        self._swap_failures = prom.Counter(
            "loopml_model_swap_failures", "New versions that could not be loaded.", registry=own
        )
        self.log = LogTallies(
            dropped=prom.Counter(
                "loopml_prediction_log_dropped",
                "Log records dropped on a full queue.",
                registry=own,
            ),
            written=prom.Counter(
                "loopml_prediction_log_rows", "Rows written to the prediction log.", registry=own
            ),
            failed=prom.Counter(
                "loopml_prediction_log_failed_rows",
                "Rows the prediction log could not store (the server log says why).",
                registry=own,
            ),
            queued=prom.Gauge(
                "loopml_prediction_log_queued",
                "Records waiting to be written.",
                multiprocess_mode="livesum",
                registry=own,
            ),
        )
        started = prom.Gauge(
            "loopml_process_start_time_seconds",
            "When the endpoint started.",
            multiprocess_mode="livemin",
            registry=own,
        )
        started.set(time.time())
        self._swap_count = 0
        self._swap_failure_count = 0
        self._request_children: dict[tuple[str, int], Any] = {}
        self._latency_children: dict[str, Any] = {}

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        key = (route, status)
        counter = self._request_children.get(key)
        if counter is None:
            counter = self._request_children[key] = self._requests.labels(route, str(status))
        counter.inc()
        latency = self._latency_children.get(route)
        if latency is None:
            latency = self._latency_children[route] = self._latency.labels(route)
        latency.observe(seconds)

    def model_loaded(self, model: str, version: int, loaded_at: float) -> None:
        """Record the version this process now serves (or is about to, after a swap)."""
        self._version.labels(model).set(version)
        self._loaded_at.labels(model).set(loaded_at)

    # ``swaps += 1`` (the hot-swap watcher) increments the counter behind it
    @property
    def swaps(self) -> int:
        return self._swap_count

    @swaps.setter
    def swaps(self, value: int) -> None:
        self._swaps.inc(value - self._swap_count)
        self._swap_count = value

    @property
    def swap_failures(self) -> int:
        return self._swap_failure_count

    @swap_failures.setter
    def swap_failures(self, value: int) -> None:
        self._swap_failures.inc(value - self._swap_failure_count)
        self._swap_failure_count = value

    def render(self) -> bytes:
        """The text exposition (version 0.0.4) of every worker's metrics."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    def close(self) -> None:
        """At shutdown: this process's live gauges (queue length, start time) stop counting."""
        if self.multiprocess_dir:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid(), self.multiprocess_dir)  # type: ignore[no-untyped-call]


class _Count:
    """A counter that one thread (the event loop) increments."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class _Spread:
    """A histogram that one thread (the event loop) observes into: a count per bucket (the
    last one past the largest bound) and the sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # bucket ``le`` holds value <= le
        self.sum += value


class _Labelled:
    """Children by label values, made on first use like ``prometheus_client``'s ``labels``."""

    def __init__(self, make: Any) -> None:
        self.children: dict[tuple[str, ...], Any] = {}
        self._make = make

    def labels(self, *values: str) -> Any:
        child = self.children.get(values)
        if child is None:
            child = self.children[values] = self._make()
        return child


class LoopFigures:
    """The per-request figures of a one-process endpoint, and their collector."""

    def __init__(self) -> None:
        self.requests = _Labelled(_Count)
        self.latency = _Labelled(lambda: _Spread(LATENCY_BUCKETS))
        self.batch_rows = _Spread(BATCH_BUCKETS)
        self.request_rows = _Spread(BATCH_BUCKETS)

    def collect(self) -> Iterator[Any]:
        from prometheus_client.metrics_core import Metric

        requests = Metric("loopml_requests", _REQUESTS_HELP, "counter")
        for (route, status), count in list(self.requests.children.items()):
            requests.add_sample(
                "loopml_requests_total", {"route": route, "status": status}, count.value
            )
        yield requests
        latency = Metric("loopml_request_duration_seconds", _LATENCY_HELP, "histogram")
        for (route,), spread in list(self.latency.children.items()):
            _add_histogram(latency, spread, {"route": route})
        yield latency
        for name, help_text, spread in (
            ("loopml_batch_rows", _BATCH_ROWS_HELP, self.batch_rows),
            ("loopml_request_rows", _REQUEST_ROWS_HELP, self.request_rows),
        ):
            metric = Metric(name, help_text, "histogram")
            _add_histogram(metric, spread, {})
            yield metric


def _add_histogram(metric: Any, spread: _Spread, labels: dict[str, str]) -> None:
    from prometheus_client.utils import floatToGoString

    counts, total = list(spread.counts), spread.sum  # one reading, even if a request lands
    cumulative = 0
    for bound, count in zip((*spread.bounds, float("inf")), counts, strict=True):
        cumulative += count
        le = {"le": floatToGoString(bound), **labels}  # type: ignore[no-untyped-call]
        metric.add_sample(f"{metric.name}_bucket", le, float(cumulative))
    metric.add_sample(f"{metric.name}_count", labels, float(cumulative))
    metric.add_sample(f"{metric.name}_sum", labels, total)
