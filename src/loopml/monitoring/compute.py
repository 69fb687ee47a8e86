"""One run of a monitor: gather the window and the reference, then drift, quality and the
estimate. Reads through the service (log, models, datasets); stores nothing."""

from __future__ import annotations

import builtins
import dataclasses
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from loopml.api.monitoring import QualityEstimate, QualityMetrics, Task
from loopml.api.monitors import MonitorResult, MonitorSpec
from loopml.api.predlog import FEEDBACK, PREDICTIONS, PROBA_PREFIX, input_column
from loopml.core.errors import InvalidInput, LoopError
from loopml.core.times import iso
from loopml.monitoring.labels import Joined, canon, canon_all, join, proba_columns
from loopml.monitoring.periods import parse_period, parse_time

if TYPE_CHECKING:
    import pyarrow as pa

    from loopml.api.models import ModelVersion
    from loopml.api.protocols import Datasets, Models

log = logging.getLogger("loopml.monitoring")

TRAFFIC = "traffic:"
_META = ["prediction", "model_version", "timestamp"]  # request_id, row: only to join labels


class Source(Protocol):
    """What a run reads: the service's log reader, models and datasets."""

    models: Models
    datasets: Datasets

    def read_log(
        self,
        kind: str,
        model: str,
        start: float,
        end: float,
        columns: builtins.list[str] | None,
        prefixes: tuple[str, ...] = (),
    ) -> Any: ...

    def iter_log(
        self,
        kind: str,
        model: str,
        start: float,
        end: float,
        columns: builtins.list[str],
        prefixes: tuple[str, ...],
        tally: Any,
    ) -> Iterator[Any]: ...

    def inputs_of(self, version: ModelVersion) -> builtins.list[str]: ...


@dataclasses.dataclass
class _Reference:
    table: pa.Table  # input columns (+ prediction)
    label: list[Any] | None  # the target column, when known
    name: str
    frame: Any = None  # the inputs as a DataFrame (for the model), dataset references only
    notes: list[str] = dataclasses.field(default_factory=list)


def compute(
    src: Source, spec: MonitorSpec, version: ModelVersion, start: float, end: float, now: float
) -> MonitorResult:
    """The result of ``spec`` on ``[start, end)``, before its rules are judged.

    The window is streamed file by file: the input columns go through the drift summary in
    bounded memory, and only the prediction, its probabilities and (when labels were sent)
    the request ids are kept for the quality."""
    import itertools

    import pyarrow as pa

    from loopml.monitoring.drift import compare_batches
    from loopml.monitoring.read import LogWindow, concat

    inputs = src.inputs_of(version)
    feedback = src.read_log(FEEDBACK, version.name, start, max(now, end) + 1.0, None).table
    ids = ["request_id", "row"] if feedback.num_rows else []
    cols = [*(input_column(n) for n in inputs), *_META, *ids]
    tally = LogWindow(pa.table({}))
    files = src.iter_log(PREDICTIONS, version.name, start, end, cols, (PROBA_PREFIX,), tally)
    first = next(files, None)
    base = MonitorResult(
        monitor=spec.deployment,
        monitor_id=spec.id,
        start=start,
        end=end,
        model=version.name,
        served_version=version.version,
        versions=(),
        reference="",
        rows=0,
        reference_rows=0,
        skipped_files=0,
        status="ok",
        registered={k: float(v) for k, v in version.metrics.items()},
    )
    if first is None:
        return dataclasses.replace(
            base,
            status="no_traffic",
            skipped_files=len(tally.skipped),
            note=f"no predictions of {version.name} were logged between {iso(start)} and "
            f"{iso(end)}; nothing was compared{_skipped(tally)}",
        )
    ref = _reference(src, spec, version, inputs, start)
    missing = [n for n in inputs if n not in ref.table.column_names]
    if len(missing) == len(inputs):
        raise InvalidInput(
            f"the reference {ref.name} has none of the input columns of {version.ref} "
            f"({', '.join(inputs[:5])}…); it no longer matches the signature: give the monitor "
            "another one with: loopml monitor add DEPLOYMENT --reference DATASET@N"
        )
    kept: list[pa.Table] = []
    seen: set[str] = set()
    features = {*inputs, "prediction"}

    def batches() -> Any:
        for table in itertools.chain([first], files):
            table = _rename_inputs(table, inputs)
            seen.update(table.column_names)
            kept.append(table.select([c for c in table.column_names if c not in inputs]))
            yield table.select([c for c in table.column_names if c in features])

    drift = compare_batches(
        ref.table,
        batches(),
        columns=inputs,
        options=spec.columns or None,
        share_threshold=spec.share_threshold,
        prediction="prediction",
    )
    current = concat(kept)
    notes = list(ref.notes)
    if missing:
        notes.append(
            f"the reference {ref.name} lacks {', '.join(missing)} of the signature of "
            f"{version.ref}; those columns are not compared"
        )
    absent = [n for n in inputs if n not in seen]
    if absent:
        notes.append(f"the log lacks {', '.join(absent)}; those columns are not compared")
    quality, joined = _quality(src, version, current, feedback, start, end, now)
    estimate = _estimate(src, spec, version, ref, current, joined)
    status = "ok" if drift.dataset_drift is not None else "not_enough_data"
    if status != "ok":
        notes.insert(0, "no feature could be compared: not enough data (see each column)")
    return dataclasses.replace(
        base,
        versions=_versions(current),
        rows=current.num_rows,
        skipped_files=len(tally.skipped),
        reference=ref.name,
        reference_rows=ref.table.num_rows,
        status=status,
        note="; ".join(notes) + (_skipped(tally) if notes else _skipped(tally)[2:]),
        drift=drift,
        quality=quality,
        estimate=estimate,
    )


def _skipped(tally: Any) -> str:
    n = len(tally.skipped)
    return f"; {n} unreadable log file(s) skipped" if n else ""


def _rename_inputs(table: pa.Table, inputs: builtins.list[str]) -> pa.Table:
    renames = {input_column(n): n for n in inputs if input_column(n) != n}
    if not renames or table.num_columns == 0:
        return table
    return table.rename_columns([renames.get(c, c) for c in table.column_names])


def _versions(table: pa.Table) -> tuple[int, ...]:
    if "model_version" not in table.column_names or table.num_rows == 0:
        return ()
    return tuple(sorted({int(v) for v in table.column("model_version").to_pylist() if v}))


# ---------- the reference
def traffic_bounds(ref: str, window_start: float) -> tuple[float, float]:
    """``traffic:24h`` (the 24 h before the window) or ``traffic:START/END`` (ISO times)."""
    body = ref[len(TRAFFIC) :]
    if "/" in body:
        since, _, until = body.partition("/")
        start, end = parse_time(since, "reference start"), parse_time(until, "reference end")
        if end <= start:
            raise InvalidInput(f"reference {ref!r} ends before it starts")
        return start, end
    period = parse_period(body, "the reference traffic period")
    return window_start - period, window_start


def _reference(
    src: Source,
    spec: MonitorSpec,
    version: ModelVersion,
    inputs: builtins.list[str],
    window_start: float,
) -> _Reference:
    import pyarrow as pa

    if spec.reference is not None and spec.reference.startswith(TRAFFIC):
        lo, hi = traffic_bounds(spec.reference, window_start)
        cols = [*(input_column(n) for n in inputs), *_META]
        read = src.read_log(PREDICTIONS, version.name, lo, hi, cols, (PROBA_PREFIX,))
        table = _rename_inputs(read.table, inputs)
        notes = [f"{len(read.skipped)} unreadable file(s) of the reference traffic skipped"]
        name = f"traffic {iso(lo)}/{iso(hi)}"
        if table.num_rows == 0:
            raise InvalidInput(
                f"the reference traffic ({name}) holds no predictions of {version.name}; "
                "pick a stretch with traffic or a dataset version as --reference"
            )
        return _Reference(table, None, name, notes=notes if read.skipped else [])
    ref = spec.reference
    if ref is None:
        if not version.datasets:
            raise InvalidInput(
                f"{version.ref} has no training dataset in its lineage, so the monitor of "
                f"{spec.deployment} has nothing to compare with by default; give it a "
                f"reference: loopml monitor add {spec.deployment} --reference DATASET@N"
            )
        ref = version.datasets[0]
    data = src.datasets.load(ref)
    if not hasattr(data, "columns"):
        raise InvalidInput(
            f"the reference {ref} is not a table (CSV or Parquet); monitors compare with "
            "tabular dataset versions"
        )
    present = [n for n in inputs if n in data.columns]
    frame = data[present]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    target = _target(spec, version, data.columns, inputs)
    label = None if target is None else data[target].tolist()
    if len(present) == len(inputs):
        try:
            model = src.models.load(version.ref)
            predicted = model.predict(frame)
            table = table.append_column("prediction", pa.array(_plain(predicted)))
        except (LoopError, ValueError, TypeError) as exc:
            log.warning("reference predictions of %s not computed: %s", version.ref, exc)
    return _Reference(table, label, ref, frame=frame if len(present) == len(inputs) else None)


def _plain(values: Any) -> Any:
    import numpy as np

    arr = np.asarray(values)
    return arr if arr.ndim == 1 else list(arr)


def _target(
    spec: MonitorSpec, version: ModelVersion, columns: Any, inputs: builtins.list[str]
) -> str | None:
    """The label column of the reference: --target, else the version's ``target`` tag or
    param, else the one column of the dataset that is not an input."""
    named = spec.target or version.tags.get("target") or version.params.get("target")
    if named:
        if named not in columns:
            raise InvalidInput(
                f"the reference has no column {named!r} (the target); its columns: "
                f"{', '.join(map(str, columns))}"
            )
        return str(named)
    extra = [c for c in columns if c not in inputs]
    return str(extra[0]) if len(extra) == 1 else None


# ---------- quality
def _task(current: pa.Table) -> Task:
    import pyarrow as pa

    if proba_columns(current):
        return Task.CLASSIFICATION
    t = current.schema.field("prediction").type
    return Task.REGRESSION if pa.types.is_floating(t) else Task.CLASSIFICATION


def _quality(
    src: Source,
    version: ModelVersion,
    current: pa.Table,
    feedback: pa.Table,
    start: float,
    end: float,
    now: float,
) -> tuple[QualityMetrics, Joined]:
    """Realized quality from the labels sent from the window's start until now. A label is
    unknown when its request id matches no prediction logged from one window before the
    window's start until now (a label for the window before, sent late, is not unknown)."""
    known: set[str] = set()
    if feedback.num_rows:
        known = set(current.column("request_id").to_pylist())
        asked = set(feedback.column("request_id").to_pylist())
        spans = [(start - (end - start), start), (end, now + 1.0)]
        for lo, hi in spans:
            if asked <= known:
                break
            if hi <= lo:
                continue
            other = src.read_log(PREDICTIONS, version.name, lo, hi, ["request_id"]).table
            if other.num_rows:
                known |= set(other.column("request_id").to_pylist())
    joined = join(current, feedback, known)
    task = _task(current)
    from loopml.monitoring.quality import realized

    if task is Task.REGRESSION:
        quality = realized(
            _floats(joined.predictions),
            _floats(joined.labels),
            task=task,
            unknown_labels=joined.unknown,
        )
        return quality, joined
    preds, labels = canon_all(joined.predictions), canon_all(joined.labels)
    classes = list(joined.classes) or None
    strange = 0
    if classes is not None:  # a label the model cannot predict (a typo, "yes" for 0/1)
        known_classes = set(classes)
        for i, v in enumerate(labels):
            if v is not None and v not in known_classes:
                labels[i] = None
                strange += 1
    quality = realized(
        preds,
        labels,
        task=task,
        scores=joined.scores if classes else None,
        classes=classes,
        unknown_labels=joined.unknown,
    )
    if strange:
        note = f"{strange} label(s) not among the classes {classes} were left out"
        quality = dataclasses.replace(quality, note="; ".join(x for x in (quality.note, note) if x))
    return quality, joined


def _floats(values: builtins.list[Any]) -> Any:
    out = []
    for v in values:
        try:
            out.append(float(v))
        except (TypeError, ValueError):  # no label, or text where a number was expected
            out.append(float("nan"))
    return np.array(out)


def _estimate(
    src: Source,
    spec: MonitorSpec,
    version: ModelVersion,
    ref: _Reference,
    current: pa.Table,
    joined: Joined,
) -> QualityEstimate | None:
    """Quality estimated from the logged probabilities, calibrated on the reference rows."""
    probas = proba_columns(current)
    if not probas or ref.label is None or ref.frame is None:
        return None
    try:
        model = src.models.load(version.ref)
        ref_scores = model.predict_proba(ref.frame)
        model_classes = [canon(c) for c in getattr(model.raw, "classes_", [])]
    except (LoopError, AttributeError, ValueError, TypeError) as exc:
        log.warning("no quality estimate for %s: %s", version.ref, exc)
        return None
    classes = [canon(n[len(PROBA_PREFIX) :]) for n in probas]
    if model_classes and model_classes != classes:
        return None  # the served version's classes differ from the logged ones
    import numpy as np

    cur_scores = np.column_stack(
        [current.column(n).to_numpy(zero_copy_only=False) for n in probas]
    ).astype(np.float64)
    ok = ~np.isnan(cur_scores).any(axis=1)
    from loopml.monitoring.estimate import estimate

    found: QualityEstimate = estimate(
        np.asarray(ref_scores, dtype=np.float64),
        canon_all(ref.label),
        cur_scores[ok],
        classes,
    )
    return found
