"""Endpoint metrics in the Prometheus text format (version 0.0.4), kept in plain counters: the
request path pays a dictionary update and a bisect, no locks (one event loop updates them)."""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Sequence
from typing import Any

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Histogram:
    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.n += 1

    def lines(self, name: str, labels: str = "") -> list[str]:
        sep = "," if labels else ""
        out, cumulative = [], 0
        for bound, count in zip(self.buckets, self.counts, strict=False):
            cumulative += count
            out.append(f'{name}_bucket{{{labels}{sep}le="{bound:g}"}} {cumulative}')
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.n}')
        brace = f"{{{labels}}}" if labels else ""
        out.append(f"{name}_sum{brace} {self.total:.6f}")
        out.append(f"{name}_count{brace} {self.n}")
        return out


class Metrics:
    """Request counts by route and status, latency, batch sizes, model version, logging."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = {}
        self.latency: dict[str, Histogram] = {}
        self.batch_rows = Histogram(BATCH_BUCKETS)
        self.request_rows = Histogram(BATCH_BUCKETS)
        self.swaps = 0
        self.swap_failures = 0
        self.started_at = time.time()

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        key = (route, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        hist = self.latency.get(route)
        if hist is None:
            hist = self.latency[route] = Histogram(LATENCY_BUCKETS)
        hist.observe(seconds)

    def render(self, gauges: Callable[[], dict[str, Any]]) -> str:
        """The text exposition; ``gauges`` supplies the current model and log figures."""
        g = gauges()
        model = _escape(str(g["model"]))
        lines = [
            "# HELP loopml_requests_total Requests answered, by route and HTTP status.",
            "# TYPE loopml_requests_total counter",
        ]
        for (route, status), n in sorted(self.requests.items()):
            lines.append(f'loopml_requests_total{{route="{route}",status="{status}"}} {n}')
        lines += [
            "# HELP loopml_request_duration_seconds Time from request to response, by route.",
            "# TYPE loopml_request_duration_seconds histogram",
        ]
        for route, hist in sorted(self.latency.items()):
            lines += hist.lines("loopml_request_duration_seconds", f'route="{route}"')
        lines += [
            "# HELP loopml_batch_rows Rows per predict call (after micro-batching).",
            "# TYPE loopml_batch_rows histogram",
            *self.batch_rows.lines("loopml_batch_rows"),
            "# HELP loopml_request_rows Rows per prediction request.",
            "# TYPE loopml_request_rows histogram",
            *self.request_rows.lines("loopml_request_rows"),
            "# HELP loopml_model_version The model version being served.",
            "# TYPE loopml_model_version gauge",
            f'loopml_model_version{{model="{model}"}} {g["version"]}',
            "# HELP loopml_model_loaded_timestamp_seconds When the served version was loaded.",
            "# TYPE loopml_model_loaded_timestamp_seconds gauge",
            f'loopml_model_loaded_timestamp_seconds{{model="{model}"}} {g["loaded_at"]:.3f}',
            "# HELP loopml_model_swaps_total Hot swaps to a new version.",
            "# TYPE loopml_model_swaps_total counter",
            f"loopml_model_swaps_total {self.swaps}",
            "# HELP loopml_model_swap_failures_total New versions that could not be loaded.",
            "# TYPE loopml_model_swap_failures_total counter",
            f"loopml_model_swap_failures_total {self.swap_failures}",
            "# HELP loopml_prediction_log_dropped_total Log records dropped on a full queue.",
            "# TYPE loopml_prediction_log_dropped_total counter",
            f"loopml_prediction_log_dropped_total {g['log_dropped']}",
            "# HELP loopml_prediction_log_rows_total Rows written to the prediction log.",
            "# TYPE loopml_prediction_log_rows_total counter",
            f"loopml_prediction_log_rows_total {g['log_rows']}",
            "# HELP loopml_prediction_log_queued Records waiting to be written.",
            "# TYPE loopml_prediction_log_queued gauge",
            f"loopml_prediction_log_queued {g['log_queued']}",
            "# HELP loopml_process_start_time_seconds When the endpoint started.",
            "# TYPE loopml_process_start_time_seconds gauge",
            f"loopml_process_start_time_seconds {self.started_at:.3f}",
        ]
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
