"""Running one step where it is executed (a local worker process or a Ray task): load the
inputs from the blob store, call the function with its output captured, store the outputs,
and record the result — outputs and ``succeeded`` in one transaction, so a step that did not
finish never leaves outputs that a later run could take from the cache.

A step is held under its pipeline run's lease: the coordinator's tracked run (see
:mod:`loopml.meta.lease`). When that lease expires and the run is reaped, its running steps
fail with it; a worker that finishes such a step afterwards cannot complete it (the move out of
``running`` is conditional), so its outputs are not stored."""

from __future__ import annotations

import functools
import inspect
import os
import shutil
import socket
import tempfile
import time
import traceback
import types
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import blake3

from loopml.api.pipelines import Output, OutputFile, StepStatus
from loopml.core.errors import Conflict, InvalidInput, LoopError
from loopml.core.paths import safe_relpath
from loopml.pipelines import materializers as mats
from loopml.pipelines.capture import capture_output
from loopml.pipelines.context import Decision, StepContext, activate, deactivate
from loopml.pipelines.records import Records, as_records


@dataclass
class StepTask:
    """Everything a worker needs to run one step; arguments are encoded specs whose step
    references were replaced by ``("artifact", Output)``."""

    run_id: str
    step: str
    func: Callable[..., Any]
    outputs: tuple[str, ...]
    args: list[tuple[Any, ...]]
    kwargs: dict[str, tuple[Any, ...]]
    cache_key: str | None
    materializers: list[Any] = field(default_factory=list)
    resources: dict[str, float] = field(default_factory=dict)
    source_file: str | None = None  # the step's file, for tracebacks of by-value functions
    # Builds the services over the worker's records (``loopml.connect.over_records``, pickled
    # by reference): what ``current_step()`` offers a step.
    connect: Callable[..., Any] | None = None
    # Bytes of small input files the coordinator already has, by file digest (checked
    # against it before use): the step need not look them up in the blob store.
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass
class StepResult:
    step: str
    status: StepStatus
    outputs: list[Output] = field(default_factory=list)
    decision: dict[str, Any] | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)
    error: str | None = None
    start_time: float | None = None
    end_time: float | None = None
    # Bytes of the small output files it stored, by digest, for the steps that read them.
    files: dict[str, bytes] = field(default_factory=dict)


# Output files up to this size travel back to the coordinator and on to the steps that read
# them. A chain of small values then costs no blob-store lookup per step.
INLINE_MAX = 64 * 1024


def output_digest(materializer: str, files: list[OutputFile]) -> str:
    h = blake3.blake3(f"{materializer}\n".encode())
    for f in sorted(files, key=lambda f: f.path):
        h.update(f"{f.path}\0{f.digest}\n".encode())
    return h.hexdigest()


class StoredFiles:
    """The files of one stored output, read from the blob store on demand."""

    def __init__(
        self,
        records: Records,
        output: Output,
        scratch: Callable[[], Path],
        known: Mapping[str, bytes] | None = None,
    ) -> None:
        self.records = records
        self.output = output
        self._known = known or {}
        self.names = [f.path for f in output.files]
        self._by_path = {f.path: f for f in output.files}
        self._scratch = scratch

    def read_bytes(self, path: str) -> bytes:
        f = self._by_path.get(path)
        if f is None:
            raise InvalidInput(f"output {self.output.name!r} has no file {path!r}")
        data = self._known.get(f.digest)
        # Checked like a read from the blob store; a mismatch is read from the store.
        if data is not None and blake3.blake3(data).hexdigest() == f.digest:
            return data
        return self.records.read_bytes(f.digest)

    def folder(self) -> Path:
        root = self._scratch() / uuid.uuid4().hex[:12]
        for f in self.output.files:
            dest = root / safe_relpath(f.path)
            dest.parent.mkdir(parents=True, exist_ok=True)
            self.records.write_file(f.digest, dest)
        root.mkdir(parents=True, exist_ok=True)
        return root


def load_output(
    records: Any,
    output: Output,
    scratch: Callable[[], Path],
    known: Mapping[str, bytes] | None = None,
) -> Any:
    """The value of a stored output (``records``: :class:`Records`, or opened stores);
    ``known``: bytes of some of its files, by digest."""
    files = StoredFiles(as_records(records), output, scratch, known)
    return mats.by_name(output.materializer).load(files)


def decode(
    records: Records,
    spec: tuple[Any, ...],
    scratch: Callable[[], Path],
    known: Mapping[str, bytes] | None = None,
) -> Any:
    kind = spec[0]
    if kind == "artifact":
        return load_output(records, spec[1], scratch, known)
    if kind == "list":
        items = [decode(records, s, scratch, known) for s in spec[1]]
        return tuple(items) if spec[2] else items
    if kind == "dict":
        return {k: decode(records, s, scratch, known) for k, s in spec[1].items()}
    return spec[1]


def store_outputs(
    records: Records, task: StepTask, values: list[Any], small: dict[str, bytes] | None = None
) -> tuple[Any, list[Output]]:
    """Materialize and publish ``values`` (phase one); returns the ingest to commit. Files of
    at most INLINE_MAX bytes are also put in ``small``."""
    ingest = records.stage()
    try:
        outputs = []
        for name, value in zip(task.outputs, values, strict=True):
            m = mats.for_value(
                value, functools.partial(str, f"step {task.step!r} (output {name!r})")
            )
            files = []
            for rel, content in sorted(m.save(value).items()):
                rel = safe_relpath(rel)
                if isinstance(content, Path):
                    stored = ingest.add_path(content)
                else:
                    stored = ingest.add_bytes(content)
                    if small is not None and len(content) <= INLINE_MAX:
                        small[stored.digest] = bytes(content)
                files.append(OutputFile(rel, stored.digest, stored.size))
            outputs.append(
                Output(
                    name, m.name, mats.type_name(value), output_digest(m.name, files), tuple(files)
                )
            )
        ingest.finish()
    except BaseException:
        ingest.abort()
        raise
    return ingest, outputs


def _split(task: StepTask, value: Any) -> list[Any]:
    if len(task.outputs) == 1:
        return [value]
    if not isinstance(value, tuple | list) or len(value) != len(task.outputs):
        raise InvalidInput(
            f"step {task.step!r} declares {len(task.outputs)} outputs {task.outputs} but "
            f"returned {type(value).__name__}; return a tuple of {len(task.outputs)} values"
        )
    return list(value)


def _format(exc: BaseException, skip_frames: int = 0) -> str:
    tb = exc.__traceback__
    for _ in range(skip_frames):
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb)).rstrip()


def _with_filename(code: types.CodeType, path: str) -> types.CodeType:
    consts = tuple(
        _with_filename(c, path) if isinstance(c, types.CodeType) else c for c in code.co_consts
    )
    return code.replace(co_filename=path, co_consts=consts)


def restore_filenames(task: StepTask) -> None:
    """cloudpickle names the file of functions it ships by value ``<dynamic-code>``; put the
    step's file back so tracebacks show its path and lines."""
    func, path = task.func, task.source_file
    if not path or not inspect.isfunction(func):
        return
    seen = [func, *func.__globals__.values()]
    for v in seen:
        f = getattr(v, "func", v)
        if (
            inspect.isfunction(f)
            and f.__module__ == func.__module__
            and f.__code__.co_filename == "<dynamic-code>"
        ):
            f.__code__ = _with_filename(f.__code__, path)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _lease_lost(task: StepTask, start: float, exc: Conflict) -> StepResult:
    """The result of a step that was ended elsewhere (its pipeline run was reaped)."""
    return StepResult(
        step=task.step,
        status=StepStatus.FAILED,
        error=f"step {task.step!r} was ended elsewhere and its result is dropped "
        f"(its pipeline run's coordinator was reaped as dead): {exc}",
        start_time=start,
        end_time=time.time(),
    )


def execute(records: Records, task: StepTask) -> StepResult:
    """Run one step and record its outcome; never raises for a failure of the step itself."""
    if task.materializers:
        mats.install_registrations(task.materializers)
    restore_filenames(task)
    start = time.time()
    try:
        records.move_step(
            task.run_id,
            task.step,
            StepStatus.RUNNING,
            start_time=start,
            worker=worker_id(),
            cache_key=task.cache_key,
        )
    except Conflict as exc:
        return _lease_lost(task, start, exc)
    scratch_dir: list[Path] = []

    def scratch() -> Path:
        if not scratch_dir:
            base = records.settings.home / "tmp"
            base.mkdir(parents=True, exist_ok=True)
            scratch_dir.append(Path(tempfile.mkdtemp(prefix="step-", dir=base)))
        return scratch_dir[0]

    ctx = StepContext(task.run_id, task.step, records, task.connect)
    stdout = stderr = ""
    error: str | None = None
    decision: dict[str, Any] | None = None
    outputs: list[Output] = []
    small: dict[str, bytes] = {}
    ingest = None
    try:
        try:
            args = [decode(records, s, scratch, task.files) for s in task.args]
            kwargs = {k: decode(records, s, scratch, task.files) for k, s in task.kwargs.items()}
        except LoopError as exc:
            raise InvalidInput(f"cannot load the inputs of step {task.step!r}: {exc}") from exc
        token = activate(ctx)
        failure: BaseException | None = None
        value: Any = None
        try:
            with capture_output() as cap:
                try:
                    value = task.func(*args, **kwargs)
                except BaseException as exc:  # the user's code may raise anything
                    failure = exc
            stdout, stderr = cap.stdout, cap.stderr
        finally:
            deactivate(token)
        if failure is not None:
            error = _format(failure, skip_frames=1)
        else:
            if isinstance(value, Decision):
                decision = {"go": bool(value.go), "reason": str(value.reason)}
                value = value.value
            if decision is None or decision["go"]:
                ingest, outputs = store_outputs(records, task, _split(task, value), small)
    except Exception as exc:  # loading inputs or storing outputs failed
        error = str(exc) if isinstance(exc, LoopError) else _format(exc)
        outputs = []
    finally:
        if scratch_dir:
            shutil.rmtree(scratch_dir[0], ignore_errors=True)
    end = time.time()
    common = {
        "end_time": end,
        "stdout": stdout or None,
        "stderr": stderr or None,
        "metrics": ctx.metrics or None,
        "datasets": ctx.datasets or None,
    }
    if error is None:
        try:
            records.complete_step(
                task.run_id, task.step, ingest, outputs, decision=decision, **common
            )
        except Conflict as exc:
            if ingest is not None:
                ingest.abort()
            return _lease_lost(task, start, exc)
        except LoopError as exc:
            error = f"storing the outputs of step {task.step!r} failed: {exc}"
            if ingest is not None:
                ingest.abort()
            outputs, ingest = [], None
        except BaseException:
            if ingest is not None:
                ingest.abort()
            raise
    if error is not None:
        try:
            records.move_step(task.run_id, task.step, StepStatus.FAILED, error=error, **common)
        except Conflict as exc:
            return _lease_lost(task, start, exc)
    if ingest is not None and error is None:
        ingest.remember_hashes()
    return StepResult(
        step=task.step,
        status=StepStatus.SUCCEEDED if error is None else StepStatus.FAILED,
        outputs=outputs,
        decision=decision,
        metrics=ctx.metrics,
        datasets=ctx.datasets,
        error=error,
        start_time=start,
        end_time=end,
        files=small if error is None else {},
    )
