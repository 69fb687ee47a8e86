"""The legal moves of a deployment record, checked in one place."""

from __future__ import annotations

from loopml.api.deployments import DeploymentStatus
from loopml.core.errors import Conflict

# The one table of legal moves.
_MOVES: dict[DeploymentStatus, frozenset[DeploymentStatus]] = {
    DeploymentStatus.PENDING: frozenset(
        {
            DeploymentStatus.DEPLOYED,
            DeploymentStatus.REFUSED,
            DeploymentStatus.UNCHANGED,
            DeploymentStatus.FAILED,
        }
    ),
    DeploymentStatus.DEPLOYED: frozenset({DeploymentStatus.ROLLED_BACK}),
}


def check_transition(deployment_id: int, old: DeploymentStatus, new: DeploymentStatus) -> None:
    """Raise Conflict unless ``old → new`` is a legal move of a deployment."""
    if new not in _MOVES.get(old, frozenset()):
        raise Conflict(f"deployment {deployment_id} cannot go from {old.value} to {new.value}")
