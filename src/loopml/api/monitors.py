"""Value objects of monitors: what a monitor watches (:class:`MonitorSpec`) and what one run
of it found (:class:`MonitorResult`, one per window). The statistics inside come from
:mod:`loopml.api.monitoring`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loopml.api.monitoring import ColumnOptions, DriftReport, QualityEstimate, QualityMetrics
from loopml.core.times import iso


@dataclass(frozen=True)
class MonitorSpec:
    """One monitor: the deployment it watches (a model reference as ``serve`` takes it,
    ``churn@production``) and how.

    ``reference`` None compares with the dataset version the served version was trained on
    (registry lineage), restricted to its signature's input columns; ``churn-data@3`` with that
    dataset version; ``traffic:24h`` with the logged traffic of the 24 hours before the window;
    ``traffic:START/END`` with a fixed stretch of logged traffic (ISO 8601 times)."""

    deployment: str
    id: int = 0
    reference: str | None = None
    window_s: float = 3600.0
    every_s: float | None = None  # run on a schedule by the triggers controller (later)
    rules: tuple[str, ...] = ()
    columns: dict[str, ColumnOptions] = field(default_factory=dict)
    share_threshold: float = 0.5
    target: str | None = None  # the label column of the reference dataset
    created_at: float = 0.0
    created_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        from loopml.api import codec

        d: dict[str, Any] = codec.to_builtins(self)
        d["created_at"] = iso(self.created_at)
        return d


@dataclass(frozen=True)
class RuleOutcome:
    """One alert rule judged on one result. ``fired`` None: it could not be decided (the
    data needed was missing; ``evidence`` says what)."""

    rule: str
    fired: bool | None
    evidence: str


@dataclass(frozen=True)
class MonitorResult:
    """What one run of a monitor found for one window ``[start, end)`` (epoch seconds)."""

    monitor: str  # the deployment
    monitor_id: int
    start: float
    end: float
    model: str
    served_version: int | None  # the version the reference resolved to at run time
    versions: tuple[int, ...]  # model versions seen in the window's log
    reference: str  # what was compared with: "churn-data@3", "traffic:…"
    rows: int  # predictions in the window
    reference_rows: int
    skipped_files: int  # unreadable log files (left by a killed endpoint), not counted in rows
    status: str  # ok | no_traffic | not_enough_data | error
    note: str = ""
    drift: DriftReport | None = None
    quality: QualityMetrics | None = None
    estimate: QualityEstimate | None = None
    registered: dict[str, float] = field(default_factory=dict)
    rules: tuple[RuleOutcome, ...] = ()
    id: int = 0
    created_at: float = 0.0

    @property
    def alerts(self) -> tuple[RuleOutcome, ...]:
        """The rules that fired."""
        return tuple(r for r in self.rules if r.fired)

    def to_dict(self) -> dict[str, Any]:
        from loopml.api import codec

        d: dict[str, Any] = codec.to_builtins(self)
        d["start_iso"] = iso(self.start)
        d["end_iso"] = iso(self.end)
        d["created_at"] = iso(self.created_at)
        d["alerts"] = [r.rule for r in self.alerts]
        return d
