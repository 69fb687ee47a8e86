"""``Pipelines`` over HTTP: the read side (runs, one run with its steps).

Running, resuming and loading a step's output are not carried by the server yet: a pipeline
runs its steps in the caller's process and writes step rows, caches and outputs to the stores
directly. Those calls raise :class:`OperationalError` saying so."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from loopml.api.pipelines import PipelineRun
from loopml.api.protocols import StepProgress
from loopml.client.http import Http
from loopml.core.errors import InvalidInput, OperationalError

_NOT_REMOTE = (
    "{what} needs the stores: a pipeline runs its steps beside them (step records, caches and "
    "outputs), and the server does not carry that yet. Unset LOOPML_URI and point LOOPML_DB "
    "and LOOPML_BLOBS at the server's stores, or let the server's worker run it through a "
    "trigger (loopml trigger add NAME --on manual --run FILE.py:FUNC; loopml trigger fire NAME)"
)


class RemotePipelines:
    def __init__(self, http: Http) -> None:
        self.http = http

    def run(
        self,
        pipeline: Any,
        params: Mapping[str, Any] | None = None,
        *,
        executor: str = "local",
        workers: int | None = None,
        no_cache: bool = False,
        ray_address: str | None = None,
        progress: StepProgress | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> PipelineRun:
        raise OperationalError(_NOT_REMOTE.format(what="running a pipeline"))

    def resume(
        self,
        run_id: str,
        *,
        executor: str | None = None,
        workers: int | None = None,
        ray_address: str | None = None,
        progress: StepProgress | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> PipelineRun:
        raise OperationalError(_NOT_REMOTE.format(what="resuming a pipeline run"))

    def get_run(self, run_id: str) -> PipelineRun:
        return self.http.get(f"/pipelines/runs/{quote(run_id, safe='')}", PipelineRun)

    def list_runs(self, pipeline: str | None = None, limit: int = 50) -> builtins.list[PipelineRun]:
        if limit < 1:
            raise InvalidInput(f"limit must be at least 1, got {limit}")
        params = {} if pipeline is None else {"pipeline": pipeline}
        return builtins.list(self.http.pages("/pipelines/runs", PipelineRun, params, most=limit))

    def step_log(self, run_id: str, step: str) -> dict[str, str | None]:
        """The captured stdout, stderr and error of one step."""
        path = f"/pipelines/runs/{quote(run_id, safe='')}/steps/{quote(step, safe='')}/log"
        return self.http.get(path, dict[str, str | None])

    def load_output(self, run_id: str, step: str, output: str = "output") -> Any:
        raise OperationalError(_NOT_REMOTE.format(what="loading a step's output"))


def build(http: Http, _services: Any) -> RemotePipelines:
    return RemotePipelines(http)
