"""Monitors: add, list, get, remove, run now, and read their results.

A run reads the prediction log of a window (only its hour partitions and the columns the
signature names), compares it with the reference (the dataset version the served version was
trained on, another dataset version, or logged traffic) with :func:`loopml.monitoring.drift.
compare`, joins the feedback labels for realized quality, estimates quality from the logged
class probabilities where labels are missing, judges the alert rules, and stores the result
with one ``monitor.alert`` event per fired rule in one transaction."""

from __future__ import annotations

import builtins
import dataclasses
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from loopml.api.events import MonitorAlert
from loopml.api.monitoring import ColumnOptions
from loopml.api.monitors import MonitorResult, MonitorSpec
from loopml.api.protocols import Datasets, Models
from loopml.core.errors import Conflict, InvalidInput, NotFound
from loopml.core.identity import whoami
from loopml.core.refs import parse_ref
from loopml.meta.events import append_event
from loopml.monitoring import repository as repo
from loopml.monitoring.compute import TRAFFIC, compute, traffic_bounds
from loopml.monitoring.periods import parse_period, parse_time
from loopml.monitoring.rules import check_rules, judge
from loopml.stores import Stores

if TYPE_CHECKING:
    from loopml.api.models import ModelVersion
    from loopml.blobs.backend import Backend


def check_reference(reference: str | None) -> str | None:
    """A reference as stored: None (training data), a dataset ref, or ``traffic:…``."""
    if reference is None or not reference.strip():
        return None
    ref = reference.strip()
    if ref.startswith(TRAFFIC):
        traffic_bounds(ref, 0.0)
        return ref
    return str(parse_ref(ref, "reference dataset").without_alias("dataset"))


class MonitoringService:
    """Monitors over the prediction log at ``Settings.monitoring_url``."""

    def __init__(self, stores: Stores, models: Models, datasets: Datasets) -> None:
        self.stores = stores
        self.models = models
        self.datasets = datasets
        self._log: Backend | None = None

    @property
    def log(self) -> Backend:
        if self._log is None:
            from loopml.blobs.backend import open_backend

            self._log = open_backend(
                self.stores.settings.monitoring_url, staging=self.stores.settings.home / "tmp"
            )
        return self._log

    # ---------- monitors
    def add(
        self,
        deployment: str,
        *,
        reference: str | None = None,
        window: str | float = "1h",
        every: str | float | None = None,
        rules: builtins.list[str] | tuple[str, ...] = (),
        columns: Mapping[str, ColumnOptions] | None = None,
        share_threshold: float = 0.5,
        target: str | None = None,
    ) -> MonitorSpec:
        """Watch ``deployment`` (``churn@production``); Conflict if it is watched already."""
        ref = str(parse_ref(deployment, "deployment"))
        if not 0.0 < share_threshold <= 1.0:
            raise InvalidInput(f"the share threshold is in (0, 1], got {share_threshold!r}")
        spec = MonitorSpec(
            deployment=ref,
            reference=check_reference(reference),
            window_s=parse_period(window, "--window"),
            every_s=None if every is None else parse_period(every, "--every"),
            rules=check_rules(tuple(rules)),
            columns=dict(columns or {}),
            share_threshold=share_threshold,
            target=target,
            created_at=time.time(),
            created_by=whoami(),
        )
        served = self.models.show(ref)  # NotFound: nothing is served under that name
        if spec.reference is None and not served.datasets:
            raise InvalidInput(
                f"{served.ref} has no training dataset in its lineage, so there is nothing to "
                f"compare with by default; give the monitor a reference: loopml monitor add "
                f"{ref} --reference DATASET@N (or traffic:24h)"
            )
        if spec.reference is not None and not spec.reference.startswith(TRAFFIC):
            self.datasets.show(spec.reference)  # NotFound names what exists
        with self.stores.meta.write() as conn:
            if repo.get_monitor(conn, ref) is not None:
                raise Conflict(
                    f"{ref} has a monitor already; see it with: loopml monitor show {ref} "
                    f"(remove it first with: loopml monitor remove {ref})"
                )
            return repo.insert_monitor(conn, spec)

    def list(self) -> builtins.list[MonitorSpec]:
        with self.stores.meta.read() as conn:
            return repo.list_monitors(conn)

    def get(self, deployment: str) -> MonitorSpec:
        ref = str(parse_ref(deployment, "deployment"))
        with self.stores.meta.read() as conn:
            spec = repo.get_monitor(conn, ref)
        if spec is None:
            raise NotFound(f"{ref} has no monitor; add one with: loopml monitor add {ref}")
        return spec

    def remove(self, deployment: str) -> int:
        """Stop watching ``deployment``; its results go too (how many is returned)."""
        spec = self.get(deployment)
        with self.stores.meta.write() as conn:
            return repo.delete_monitor(conn, spec.id)

    def results(self, deployment: str, limit: int = 100) -> builtins.list[MonitorResult]:
        """Stored results of a monitor, newest first."""
        spec = self.get(deployment)
        if limit < 1:
            raise InvalidInput(f"limit must be at least 1, got {limit}")
        with self.stores.meta.read() as conn:
            return repo.list_results(conn, spec.id, limit)

    # ---------- running
    def run(
        self,
        deployment: str,
        *,
        window: str | float | None = None,
        since: str | float | None = None,
        until: str | float | None = None,
    ) -> MonitorResult:
        """Compute one window now (default: the monitor's window ending now), store it with
        the alerts it fires, and return it."""
        if window is not None and since is not None:
            raise InvalidInput(
                "give the window as --window PERIOD (ending at --until or now) or as "
                "--since/--until, not both"
            )
        spec = self.get(deployment)
        now = time.time()
        end = now if until is None else _when(until, "--until")
        if since is not None:
            start = _when(since, "--since")
        else:
            start = end - (spec.window_s if window is None else parse_period(window, "--window"))
        if end <= start:
            raise InvalidInput("the window ends before it starts; check --since and --until")
        version = self.models.show(spec.deployment)  # NotFound: the deployment is gone
        result = compute(self, spec, version, start, end, now)
        outcomes = judge(spec.rules, result)
        result = dataclasses.replace(result, rules=outcomes, created_at=time.time())
        with self.stores.meta.write() as conn:
            rid = repo.insert_result(conn, result)
            for outcome in result.alerts:
                append_event(
                    conn,
                    MonitorAlert(
                        deployment=spec.deployment,
                        model=version.name,
                        monitor_id=spec.id,
                        result_id=rid,
                        rule=outcome.rule,
                        evidence=outcome.evidence,
                        window_start=start,
                        window_end=end,
                    ),
                )
        return dataclasses.replace(result, id=rid)

    # ---------- what compute() reads through the service
    def read_log(
        self,
        kind: str,
        model: str,
        start: float,
        end: float,
        columns: builtins.list[str] | None,
        prefixes: tuple[str, ...] = (),
    ) -> Any:
        from loopml.monitoring.read import read_window

        return read_window(self.log, kind, model, start, end, columns, prefixes)

    def iter_log(
        self,
        kind: str,
        model: str,
        start: float,
        end: float,
        columns: builtins.list[str],
        prefixes: tuple[str, ...],
        tally: Any,
    ) -> Iterator[Any]:
        from loopml.monitoring.read import iter_window

        return iter_window(self.log, kind, model, start, end, columns, prefixes, tally)

    def inputs_of(self, version: ModelVersion) -> builtins.list[str]:
        """The signature's input column names; InvalidInput when there are none to compare."""
        sig = version.signature or {}
        inputs = sig.get("inputs") or {}
        if inputs.get("type") != "columns":
            raise InvalidInput(
                f"{version.ref} has no column signature (monitors compare named input columns); "
                "register it with an input_example DataFrame"
            )
        return [str(c["name"]) for c in inputs.get("columns", [])]


def _when(value: str | float, what: str) -> float:
    return float(value) if isinstance(value, int | float) else parse_time(value, what)


__all__ = ["MonitoringService", "check_reference"]
