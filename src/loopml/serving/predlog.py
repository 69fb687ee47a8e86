"""Asynchronous prediction and feedback logging to Parquet, off the request path.

Requests put a reference to their inputs and outputs on a bounded queue (no copy, no I/O); a
background thread drains it and writes one Parquet file per (kind, hour, model version) every
``flush_s`` seconds or ``flush_rows`` rows. A full queue drops the record and counts it: logging
never slows or fails a request. A record the Parquet writer cannot encode is counted, logged
with the reason, and left out alone: the rest of its batch is written.

Files go to a blob backend (:mod:`loopml.blobs.backend`): a local folder (temporary file, fsync,
rename) or an S3 prefix (one PUT of the whole object), so a file is visible whole or not at
all, and several replicas can write to one S3 prefix. The layout and columns are those of
:mod:`loopml.api.predlog`. For a classifier, the class probabilities of a flush are computed
here, in one ``predict_proba`` call over the rows of the flush, not on the request path.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from loopml.api.predlog import (
    FEEDBACK,
    HOUR_S,
    PREDICTIONS,
    PROBA_PREFIX,
    hour_of,
    input_column,
    partition,
)
from loopml.serving.errors import ModelOutputError
from loopml.serving.schema import Batch

if TYPE_CHECKING:
    from loopml.blobs.backend import Backend

log = logging.getLogger("loopml.serving")

_POLL_S = 0.05  # how often the writer thread takes what requests appended


class Scorer(Protocol):
    """What gives class probabilities for logged rows (a served classifier)."""

    classes: tuple[Any, ...] | None

    def proba(self, batch: Batch) -> np.ndarray: ...


class Counter(Protocol):
    """A counter kept elsewhere (the endpoint's metrics)."""

    def inc(self, amount: float = 1) -> None: ...


class Level(Protocol):
    """A gauge kept elsewhere (the endpoint's metrics)."""

    def set(self, value: float) -> None: ...


class _Nowhere:
    def inc(self, amount: float = 1) -> None:
        pass

    def set(self, value: float) -> None:
        pass


@dataclass(frozen=True)
class LogTallies:
    """Where the logger reports records dropped, rows written, rows it could not store, and
    records waiting in its queue."""

    dropped: Counter = field(default_factory=_Nowhere)
    written: Counter = field(default_factory=_Nowhere)
    failed: Counter = field(default_factory=_Nowhere)
    queued: Level = field(default_factory=_Nowhere)


@dataclass(slots=True)  # not frozen: a frozen dataclass pays a setattr call per field
class _Prediction:
    request_id: str
    ts: float
    version: int
    names: tuple[str, ...]
    batch: Batch
    outputs: np.ndarray
    scorer: Scorer | None = None


@dataclass(slots=True)
class _Feedback:
    request_id: str
    label: Any
    ts: float
    row: int = 0


class PredictionLogger:
    """A bounded queue drained into Parquet files by one background thread.

    The request path only appends to a deque (atomic, no lock, no thread woken); the thread
    moves what arrived into its pending list every ``_POLL_S`` and writes files every
    ``flush_s`` or ``flush_rows`` rows. ``queue_size`` bounds what waits between two polls."""

    def __init__(
        self,
        root: Path | str | Backend,
        model: str,
        queue_size: int = 10_000,
        sample_rate: float = 1.0,
        flush_s: float = 0.5,
        flush_rows: int = 50_000,
        tallies: LogTallies | None = None,
    ) -> None:
        self.root = root
        self._backend: Backend | None = None  # opened on the first write (a failure is counted)
        self.model = model
        self.sample_rate = sample_rate
        self.flush_s = flush_s
        self.flush_rows = flush_rows
        self.tallies = tallies or LogTallies()
        self.dropped = 0  # requests not logged because the queue was full
        self.written_rows = 0
        self.failed_rows = 0  # rows that could not be stored (logged with the reason)
        self.files_written = 0
        self.queue_size = queue_size
        self._queue: deque[_Prediction | _Feedback] = deque()
        self._stop = threading.Event()
        self._seq = 0
        self._thread = threading.Thread(target=self._drain, name="loopml-predlog", daemon=True)
        self._started = False

    def start(self) -> None:
        self._thread.start()
        self._started = True

    def log_prediction(
        self,
        request_id: str,
        version: int,
        names: tuple[str, ...],
        batch: Batch,
        outputs: np.ndarray,
        scorer: Scorer | None = None,
    ) -> None:
        """Queue one request's inputs and outputs (sampled); drop it when the queue is full.
        With ``scorer`` (a classifier), the class probabilities are logged too."""
        if self.sample_rate < 1.0 and random.random() >= self.sample_rate:
            return
        if len(self._queue) >= self.queue_size:
            self.dropped += 1
            self.tallies.dropped.inc()
            return
        self._queue.append(
            _Prediction(request_id, time.time(), version, names, batch, outputs, scorer)
        )

    def log_feedback(self, items: Iterable[tuple[str, Any, int]]) -> int:
        """Queue ground-truth labels as (request id, label, row); returns how many were
        queued (the rest are dropped)."""
        now, queued = time.time(), 0
        for request_id, label, row in items:
            if len(self._queue) >= self.queue_size:
                self.dropped += 1
                self.tallies.dropped.inc()
                continue
            self._queue.append(_Feedback(request_id, label, now, row))
            queued += 1
        return queued

    @property
    def queued(self) -> int:
        return len(self._queue)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread."""
        if not self._started:
            return
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("the prediction log did not finish writing within %.0f s", timeout)

    def _drain(self) -> None:
        pending: list[_Prediction | _Feedback] = []
        rows = 0
        deadline = time.monotonic() + self.flush_s
        take = self._queue.popleft
        while True:
            stopping = self._stop.wait(min(_POLL_S, max(0.0, deadline - time.monotonic())))
            while self._queue:
                item = take()
                pending.append(item)
                rows += _rows(item)
            if stopping:
                self._write(pending)
                return
            if rows >= self.flush_rows or time.monotonic() >= deadline:
                self._write(pending)
                pending, rows = [], 0
                deadline = time.monotonic() + self.flush_s
                self.tallies.queued.set(len(self._queue))

    def _write(self, items: list[_Prediction | _Feedback]) -> None:
        if not items:
            return
        groups: dict[tuple[str, str, int], list[Any]] = {}
        hours: dict[int, str] = {}  # epoch hour → its partition name, computed once per flush
        for item in items:
            epoch_hour = int(item.ts // HOUR_S)
            hour = hours.get(epoch_hour) or hours.setdefault(epoch_hour, hour_of(item.ts))
            if isinstance(item, _Prediction):
                groups.setdefault((PREDICTIONS, hour, item.version), []).append(item)
            else:
                groups.setdefault((FEEDBACK, hour, 0), []).append(item)
        for (kind, hour, _version), group in groups.items():
            build = self._prediction_table if kind == PREDICTIONS else _feedback_table
            for table in self._tables(kind, group, build):
                try:
                    self._write_file(kind, hour, table)
                except Exception as exc:  # a full or read-only disk: count the rows, go on
                    self._failed(kind, table.num_rows, exc)
                    continue
                self.written_rows += table.num_rows
                self.tallies.written.inc(table.num_rows)

    def _prediction_table(self, group: list[Any]) -> Any:
        table = _prediction_table(self.model, group)
        scorer = group[0].scorer
        if scorer is None or not scorer.classes:
            return table
        try:
            scores = _scores(scorer, group)
        except Exception as exc:  # the predictions are still worth keeping
            log.warning(
                "class probabilities of %d row(s) not logged: %s: %s",
                table.num_rows,
                type(exc).__name__,
                exc,
            )
            return table
        import pyarrow as pa

        at = table.schema.get_field_index("request_id")
        for j, cls in enumerate(scorer.classes):
            table = table.add_column(
                at + j, f"{PROBA_PREFIX}{cls}", pa.array(scores[:, j], type=pa.float64())
            )
        return table

    def _tables(self, kind: str, group: list[Any], build: Callable[[list[Any]], Any]) -> list[Any]:
        """The group as one table; when a record cannot be encoded, the records that can, and
        the others counted and logged with the reason."""
        try:
            return [build(group)]
        except Exception:  # some record cannot be encoded: find it, keep the others
            pass
        good: list[Any] = []
        for item in group:
            try:
                build([item])
            except Exception as exc:
                self._failed(kind, _rows(item), exc)
            else:
                good.append(item)
        if not good:
            return []
        try:
            return [build(good)]
        except Exception:  # each record encodes alone but not together (mixed types)
            return [build([item]) for item in good]

    def _failed(self, kind: str, rows: int, exc: Exception) -> None:
        self.failed_rows += rows
        self.tallies.failed.inc(rows)
        log.error(
            "the %s log could not store %d row(s): %s: %s", kind, rows, type(exc).__name__, exc
        )

    def _write_file(self, kind: str, hour: str, table: Any) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._seq += 1
        name = f"part-{int(time.time() * 1000)}-{os.getpid()}-{self._seq:06d}.parquet"
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        if self._backend is None:
            self._backend = _backend(self.root)
        self._backend.put_bytes(
            f"{partition(kind, self.model, hour)}/{name}", sink.getvalue().to_pybytes()
        )
        self.files_written += 1


def _backend(root: Path | str | Backend) -> Backend:
    from loopml.blobs.backend import open_backend

    if isinstance(root, Path | str):
        return open_backend(str(root))
    return root


def _scores(scorer: Scorer, group: list[_Prediction]) -> np.ndarray:
    """The class probabilities of every row of ``group``, in one call."""
    first = group[0].batch
    n = sum(p.batch.n for p in group)
    if first.tensor is not None:
        tensors = [p.batch.tensor for p in group if p.batch.tensor is not None]
        batch = Batch(n, tensor=np.concatenate(tensors))
    else:
        matrix = _matrix(group)
        if matrix is not None:
            batch = Batch(n, matrix=matrix)
        else:
            width = len(first.columns or [])
            batch = Batch(
                n,
                [np.concatenate([(p.batch.columns or [])[j] for p in group]) for j in range(width)],
            )
    scores = np.asarray(scorer.proba(batch), dtype=np.float64)
    if scores.shape != (n, len(scorer.classes or ())):
        raise ModelOutputError(f"predict_proba returned shape {list(scores.shape)} for {n} row(s)")
    return scores


def _matrix(items: list[_Prediction]) -> np.ndarray | None:
    """The rows of ``items`` as one matrix, when every batch holds one (float64 columns)."""
    matrices = [p.batch.matrix for p in items]
    if any(m is None for m in matrices):
        return None
    return np.concatenate(matrices)  # type: ignore[arg-type]


def _rows(item: _Prediction | _Feedback) -> int:
    return item.batch.n if isinstance(item, _Prediction) else 1


def _prediction_table(model: str, items: list[_Prediction]) -> Any:
    import pyarrow as pa

    counts = [p.batch.n for p in items]
    columns: dict[str, Any] = {}
    first = items[0]
    if first.batch.tensor is not None:
        values = np.concatenate(
            [p.batch.tensor.reshape(p.batch.n, -1) for p in items if p.batch.tensor is not None]
        )
        columns["input"] = pa.array(list(values))
    elif (matrix := _matrix(items)) is not None:
        # one concatenation, then each column contiguous, rather than one per column
        for name, values in zip(first.names, np.ascontiguousarray(matrix.T), strict=True):
            columns[input_column(name)] = pa.array(values)
    else:
        for j, name in enumerate(first.names):
            columns[input_column(name)] = pa.array(
                np.concatenate([(p.batch.columns or [])[j] for p in items])
            )
    outputs = np.concatenate([p.outputs for p in items])
    columns["prediction"] = pa.array(outputs if outputs.ndim == 1 else list(outputs))
    columns["request_id"] = pa.array(np.repeat([p.request_id for p in items], counts))
    columns["row"] = pa.array(np.concatenate([np.arange(n, dtype=np.int32) for n in counts]))
    micros = np.repeat([int(p.ts * 1_000_000) for p in items], counts)
    columns["timestamp"] = pa.array(micros, type=pa.timestamp("us", tz="UTC"))
    columns["model"] = pa.array([model] * len(micros), type=pa.string())
    columns["model_version"] = pa.array(np.full(len(micros), first.version, dtype=np.int32))
    return pa.table(columns)


def _feedback_table(items: list[_Feedback]) -> Any:
    import pyarrow as pa

    labels = [f.label for f in items]
    try:
        label_array = pa.array(labels)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed kinds of label: keep them as text
        label_array = pa.array([str(v) for v in labels])
    return pa.table(
        {
            "request_id": pa.array([f.request_id for f in items], type=pa.string()),
            "row": pa.array([f.row for f in items], type=pa.int32()),
            "label": label_array,
            "timestamp": pa.array(
                [int(f.ts * 1_000_000) for f in items], type=pa.timestamp("us", tz="UTC")
            ),
        }
    )


def read_log(root: Path | str, kind: str = PREDICTIONS, model: str | None = None) -> Any:
    """Every logged row of ``kind`` (``predictions`` or ``feedback``) as one pyarrow Table
    (a whole-log read for tests and the demo; monitors read windows, see
    :mod:`loopml.monitoring.logread`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    backend = _backend(root)
    prefix = kind if model is None else f"{kind}/model={model}"
    keys = sorted(k for k, _ in backend.iter(prefix) if k.endswith(".parquet"))
    if not keys:
        return pa.table({})
    return pa.concat_tables(
        [pq.read_table(pa.BufferReader(backend.get(k)), partitioning=None) for k in keys],
        promote_options="default",
    )
