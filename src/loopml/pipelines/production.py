"""The production pipeline, runnable by a trigger or a schedule: pick a version of a model,
check the gate against the alias it goes to, move the alias, record the deployment.

It is a thin entry point over :class:`loopml.deployments.DeploymentService`, the one
place the rules live; the ``deploy`` and ``deploy_if`` pipeline steps call the same service.
Run it as ``loopml.pipelines.production:run_production``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopml.stores import Stores


def run_production(
    name: str,
    select: str | None = "best:accuracy",
    gate: str | None = None,
    to: str = "production",
    version: int | None = None,
    alias: str | None = None,
    stores: Stores | None = None,
) -> dict[str, Any]:
    """Deploy ``name`` (best by a metric, a version number or an alias's holder) to ``to`` if
    ``gate`` passes; returns the deployment record as a dict (``status`` says what happened)."""
    from loopml.deployments import DeploymentService

    if version is not None or alias is not None:
        select = None
    if stores is None:
        from loopml.core.settings import load_settings
        from loopml.stores import open_stores

        stores = open_stores(load_settings())
    record = DeploymentService(stores).deploy(
        name, select=select, version=version, alias=alias, gate=gate, to=to
    )
    return record.to_dict()
