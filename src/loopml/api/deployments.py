"""Value objects of deployments and the lifecycle of one deployment record."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from loopml.core.times import iso


class Action(StrEnum):
    DEPLOY = "deploy"
    ROLLBACK = "rollback"


class DeploymentStatus(StrEnum):
    PENDING = "pending"  # recorded, alias not moved yet
    DEPLOYED = "deployed"  # the alias points at the version
    REFUSED = "refused"  # the gate said no; the alias did not move
    UNCHANGED = "unchanged"  # the alias already pointed at the version
    FAILED = "failed"  # moving the alias failed
    ROLLED_BACK = "rolled_back"  # a later rollback undid this deployment


@dataclass(frozen=True)
class GateCheck:
    """One clause of a gate, e.g. ``accuracy >= production``, with the values compared."""

    text: str
    metric: str
    candidate: float | None
    threshold: float | None
    passed: bool
    reason: str


@dataclass(frozen=True)
class GateResult:
    expression: str | None
    passed: bool
    reason: str
    checks: tuple[GateCheck, ...] = ()


@dataclass(frozen=True)
class Deployment:
    id: int
    model: str
    alias: str
    action: Action
    version: int
    previous_version: int | None
    selector: str
    gate: str | None
    gate_result: GateResult | None
    status: DeploymentStatus
    reason: str | None
    created_at: float
    created_by: str
    updated_at: float = field(compare=False, default=0.0)

    @property
    def deployed(self) -> bool:
        """Whether this attempt moved the alias (or found it already there)."""
        return self.status in (DeploymentStatus.DEPLOYED, DeploymentStatus.UNCHANGED)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.gate_result is not None:
            d["gate_result"]["checks"] = [asdict(c) for c in self.gate_result.checks]
        d["action"] = self.action.value
        d["status"] = self.status.value
        d["created_at"] = iso(self.created_at)
        d["updated_at"] = iso(self.updated_at)
        d["target"] = f"{self.model}@{self.alias}"
        return d
