"""Block 6a: the production pipeline: deploy a chosen version behind a gate, roll back, history."""

from loopml.api.deployments import (
    Action,
    Deployment,
    DeploymentStatus,
    GateCheck,
    GateResult,
)
from loopml.deployments.service import DeploymentService

__all__ = [
    "Action",
    "Deployment",
    "DeploymentService",
    "DeploymentStatus",
    "GateCheck",
    "GateResult",
]
