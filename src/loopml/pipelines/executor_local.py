"""The local executor: a pool of worker processes, started on demand from a fork server that
has loopml and the frame libraries preloaded (a few ms each; see ``preload_modules``), each
opening its own records from the settings: the stores, or the server a remote run records
through (its URI and token are in the settings). Steps are sent one at a time to idle workers;
a worker that dies is noticed through its process sentinel, its step reported failed, and the
worker replaced.

The pipeline service keeps its pool between runs (a new worker, its stores and their compiled
statements cost more than a dozen steps): a worker given the first step of another run first
forgets the user's modules it imported, so edited helper modules are imported afresh, and
workers started with another environment are replaced."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import re
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from loopml.api.pipelines import StepStatus
from loopml.core.errors import InvalidInput
from loopml.core.settings import Settings
from loopml.pipelines.records import Records, open_records
from loopml.pipelines.worker import StepResult, StepTask, execute, worker_id

# What the fork server imports once, before it forks any worker, so that workers start with it.
# The frame libraries are the ones nearly every step exchanges (and the materializers read);
# LOOPML_WORKER_PRELOAD replaces them with the modules a project's steps import (sklearn, …).
PRELOAD_VARIABLE = "LOOPML_WORKER_PRELOAD"
DEFAULT_PRELOAD = ("numpy", "pandas", "pyarrow.parquet")
_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
# The fork server imports these by name and dies of any error but ImportError: the user's
# modules go through loopml.pipelines.preload, which imports them one by one and skips failures.
_PRELOAD = ["loopml.pipelines.executor_local", "loopml.pipelines.preload"]


def preload_modules() -> list[str]:
    """The modules of ``LOOPML_WORKER_PRELOAD`` (comma-separated module names; empty for none)
    or the default; a name that is no module name is refused. The fork server imports them
    through :mod:`loopml.pipelines.preload`, which skips one that fails to import."""
    text = os.environ.get(PRELOAD_VARIABLE)
    names = DEFAULT_PRELOAD if text is None else [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if not _MODULE_NAME.fullmatch(name):
            raise InvalidInput(
                f"{PRELOAD_VARIABLE} lists {name!r}, which is not a module name; give module "
                "names separated by commas (e.g. numpy,pandas,sklearn.linear_model), or leave "
                "it empty to preload nothing"
            )
    return list(names)


def _worker_main(
    conn: Connection,
    settings: Settings,
    env: dict[str, str],
    opener: Callable[[Settings], Records] = open_records,
) -> None:
    """Worker loop: receive ``(run_id, step, pickled task)``, execute it, send the result."""
    # The fork server was started with the first run's environment; use the current one.
    os.environ.clear()
    os.environ.update(env)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator decides about Ctrl-C
    stores: Records | None = None
    baseline = set(sys.modules)
    last_run: str | None = None
    try:
        while True:
            try:
                message = conn.recv_bytes()
            except EOFError:
                return
            if not message:
                return
            run_id, step, payload = pickle.loads(message)
            if last_run is not None and run_id != last_run:
                _forget_user_modules(baseline)
            last_run = run_id
            if stores is None:
                stores = opener(settings)
            try:
                task: StepTask = pickle.loads(payload)
            except Exception as exc:  # the user's module may fail to import here
                result = fail_unstarted(
                    stores,
                    run_id,
                    step,
                    f"cannot load step {step!r} in "
                    f"worker {worker_id()}: {type(exc).__name__}: {exc}",
                )
            else:
                result = execute(stores, task)
            conn.send_bytes(pickle.dumps(result))
    finally:
        if stores is not None:
            stores.close()


def _forget_user_modules(baseline: set[str]) -> None:
    """Drop the user's modules imported since the worker started, as a new worker would not
    have them: the next run imports them as they are now."""
    from loopml.pipelines.cache import is_user_module

    for name in set(sys.modules) - baseline:
        if name not in ("__main__", "__mp_main__") and is_user_module(sys.modules.get(name)):
            del sys.modules[name]


def fail_unstarted(records: Records, run_id: str, step: str, error: str) -> StepResult:
    records.fail_step(run_id, step, error)
    return StepResult(step, StepStatus.FAILED, error=error)


@contextlib.contextmanager
def _main_hidden() -> Iterator[None]:
    """Start a worker without multiprocessing re-running the caller's main script in it:
    steps travel by value, so a worker never needs ``__main__``."""
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved: dict[str, Any] = {
        k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__
    }
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


@dataclass
class _Worker:
    process: Any
    conn: Connection
    env: dict[str, str]
    step: str | None = None


@dataclass
class Died:
    """A worker that ended while it held ``step``."""

    step: str
    reason: str


class LocalExecutor:
    name = "local"

    def __init__(
        self,
        settings: Settings,
        workers: int | None = None,
        opener: Callable[[Settings], Records] = open_records,
    ) -> None:
        self.settings = settings
        self.opener = opener  # how a worker opens the records (by reference: picklable)
        self.max_workers = max(1, workers or os.cpu_count() or 1)
        self._ctx = multiprocessing.get_context("forkserver")
        # The list is checked here; the fork server, started with the first worker, reads it
        # from its environment (then the process's) through the preload module.
        preload_modules()
        self._ctx.set_forkserver_preload(_PRELOAD)
        self._workers: list[_Worker] = []

    def free_slots(self) -> int:
        busy = sum(1 for w in self._workers if w.step is not None)
        return self.max_workers - busy

    def reuse(self, workers: int | None) -> None:
        """Prepare a pool kept from an earlier run for the next one: ``workers`` at most, and
        none started with an environment other than the current one."""
        self.max_workers = max(1, workers or os.cpu_count() or 1)
        env = dict(os.environ)
        keep = [w for w in self._workers if w.step is None and w.env == env]
        for w in self._workers:
            if w not in keep[: self.max_workers]:
                self._stop(w)
        self._workers = keep[: self.max_workers]

    def idle(self) -> bool:
        """True when no worker holds a step."""
        return all(w.step is None for w in self._workers)

    def _stop(self, w: _Worker) -> None:
        with contextlib.suppress(OSError):
            w.conn.send_bytes(b"")
        w.process.join(timeout=5)
        if w.process.is_alive():
            w.process.kill()
            w.process.join(timeout=5)
        w.conn.close()

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        env = dict(os.environ)
        proc = self._ctx.Process(
            target=_worker_main,
            args=(child, self.settings, env, self.opener),
            name="loopml-step-worker",
            daemon=True,
        )
        with _main_hidden():
            proc.start()
        child.close()
        w = _Worker(proc, parent, env)
        self._workers.append(w)
        return w

    def submit(self, task: StepTask) -> None:
        """Send ``task`` to an idle worker, starting one if needed."""
        import cloudpickle

        try:
            payload = cloudpickle.dumps(task)
        except Exception as exc:  # an argument or a global of the step that cannot travel
            raise InvalidInput(
                f"step {task.step!r} cannot be sent to a worker process: {type(exc).__name__}: "
                f"{exc}; pass JSON values, arrays, frames or step outputs as arguments"
            ) from None
        idle = next((w for w in self._workers if w.step is None), None)
        if idle is None:
            idle = self._spawn()
        idle.step = task.step
        with contextlib.suppress(OSError):  # a dead worker is reported by wait()
            idle.conn.send_bytes(pickle.dumps((task.run_id, task.step, payload)))

    def wait(self, timeout: float | None = None) -> list[StepResult | Died]:
        """Results (or deaths) of the steps that finished, blocking up to ``timeout``."""
        busy = [w for w in self._workers if w.step is not None]
        if not busy:
            return []
        handles: list[Any] = []
        for w in busy:
            handles += [w.conn, w.process.sentinel]
        ready = set(wait(handles, timeout))
        out: list[StepResult | Died] = []
        for w in busy:
            if w.conn in ready:
                try:
                    out.append(pickle.loads(w.conn.recv_bytes()))
                    w.step = None
                    continue
                except (EOFError, OSError):
                    pass
            if w.conn in ready or w.process.sentinel in ready:
                w.process.join(timeout=5)
                code = w.process.exitcode
                reason = (
                    f"worker died (signal {-code})"
                    if code is not None and code < 0
                    else f"worker exited with code {code}"
                )
                out.append(Died(w.step or "?", f"{reason} while running the step"))
                w.conn.close()
                self._workers.remove(w)
        return out

    def close(self, kill: bool = False) -> None:
        for w in self._workers:
            with contextlib.suppress(OSError):
                if not kill:
                    w.conn.send_bytes(b"")
        for w in self._workers:
            w.process.join(timeout=0 if kill else 5)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(timeout=5)
            w.conn.close()
        self._workers.clear()
