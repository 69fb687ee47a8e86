"""The production pipeline, runnable by a trigger or a schedule: pick a version of a model,
check the gate against the alias it goes to, move the alias, record the deployment.

It is a thin entry point over the deployments service, the one
place the rules live; the ``deploy`` and ``deploy_if`` pipeline steps call the same service.
Run it as ``loopml.pipelines.production:run_production``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopml.api.protocols import Backend


def run_production(
    name: str,
    select: str | None = "best:accuracy",
    gate: str | None = None,
    to: str = "production",
    version: int | None = None,
    alias: str | None = None,
    services: Backend | None = None,
) -> dict[str, Any]:
    """Deploy ``name`` (best by a metric, a version number or an alias's holder) to ``to`` if
    ``gate`` passes; returns the deployment record as a dict (``status`` says what happened).
    ``services`` default: ``loopml.connect()`` for the ``LOOPML_*`` environment."""
    if version is not None or alias is not None:
        select = None
    owned = services is None
    if services is None:
        # An entry point a trigger or a schedule runs on its own: the one place in a service
        # package that connects (listed in the import contract's ignore_imports).
        from loopml.connect import connect

        services = connect()
    try:
        record = services.deployments.deploy(
            name, select=select, version=version, alias=alias, gate=gate, to=to
        )
    finally:
        if owned:
            services.close()
    return record.to_dict()
