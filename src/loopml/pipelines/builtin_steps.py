"""Built-in steps of the standard training pipeline: load a dataset version, register a
model, decide whether to deploy it (a condition that records its verdict), and deploy it.
``deploy_if`` and ``deploy`` go through the deployments service (``current_step().services``),
so a pipeline follows the same gate rules as ``loopml deploy`` and its deployments are recorded
and can be rolled back like any other. Both are steps with effects (``effects=True``): they run
in every run, never from the step cache, so a rerun after a rollback judges and moves the alias
as it is now. ``register_model`` is cached like a pure step: the same model from the same inputs
returns the version registered the first time instead of a duplicate."""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidInput, NotFound
from loopml.pipelines.context import Decision, current_step
from loopml.pipelines.step import step

if TYPE_CHECKING:
    from loopml.api.protocols import Backend


def _dataset_version(backend: Backend | None, ref: Any) -> str:
    """What ``ref`` means right now: a new latest version is a new cache key."""
    if not isinstance(ref, str):
        raise InvalidInput(f"load_dataset takes a dataset reference such as 'churn@3', not {ref!r}")
    if backend is None:
        raise InvalidInput("load_dataset runs inside a pipeline run by loopml.run_pipeline")
    v = backend.datasets.show(ref)
    return f"{v.ref}:{v.content_digest}"


@step(name="load_dataset", cache_extra=_dataset_version)
def load_dataset(ref: str) -> Any:
    """A dataset version: a DataFrame for a table, else a local copy's path. The version read
    is recorded as an input of the pipeline's tracked run."""
    ctx = current_step()
    version = ctx.datasets_service.show(ref)
    ctx.log_input(version.ref)
    return ctx.datasets_service.load(version.ref)


# Cached on purpose: a hit returns the version registered by the run it came from (the same
# model, from the same code and inputs), rather than registering a duplicate version.
@step(name="register_model")
def register_model(
    model: Any,
    name: str,
    metrics: dict[str, float] | None = None,
    params: dict[str, Any] | None = None,
    input_example: Any = None,
    flavor: str | None = None,
    tags: dict[str, str] | None = None,
    description: str | None = None,
) -> str:
    """Register ``model`` as the next version of ``name``, with the pipeline run as its
    source run (params, metrics and datasets come from it unless given); returns ``name@N``."""
    ctx = current_step()
    kwargs: dict[str, Any] = {
        "metrics": metrics,
        "params": params,
        "input_example": input_example,
        "flavor": flavor,
        "tags": tags,
        "description": description,
    }
    try:
        mv = ctx.models.register(name, model, run=ctx.run_id, **kwargs)
    except NotFound:  # the run is not tracked (a service without tracking)
        mv = ctx.models.register(name, model, **kwargs)
    return mv.ref


def _gate(metric: str, threshold: float | None, better_than: str | None, mode: str) -> str:
    """The deployment gate ``deploy_if`` asks the deployment service to evaluate."""
    from loopml.deployments.gate import parse_gate

    if (threshold is None) == (better_than is None):
        raise InvalidInput("deploy_if needs exactly one of threshold=NUMBER or better_than=ALIAS")
    if mode not in ("max", "min"):
        raise InvalidInput(f"mode must be 'max' or 'min', got {mode!r}")
    if threshold is not None:
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, numbers.Real)
            or not math.isfinite(threshold)
        ):
            raise InvalidInput(f"threshold must be a finite number, got {threshold!r}")
        op, reference = (">=" if mode == "max" else "<="), repr(float(threshold))
    else:
        op, reference = (">" if mode == "max" else "<"), str(better_than)
    gate = f"{metric} {op} {reference}"
    try:
        (clause,) = parse_gate(gate)
    except (InvalidInput, ValueError):
        clause = None
    if clause is None or clause.metric != metric:
        raise InvalidInput(
            f"deploy_if cannot gate on metric {metric!r}: deployment gates name metrics with "
            "letters, digits, '_', '.', '-' or '/', starting with a letter or '_'"
        )
    if better_than is not None and clause.alias != better_than:
        raise InvalidInput(
            f"better_than={better_than!r} is not an alias name a deployment gate can compare "
            "with; give an alias such as 'production' or 'staging'"
        )
    return gate


# Effects: its verdict depends on who holds the alias right now, so it is never replayed.
@step(name="deploy_if", effects=True)
def deploy_if(
    version: str,
    metric: str,
    threshold: float | None = None,
    better_than: str | None = None,
    mode: str = "max",
) -> Decision:
    """Go on (to ``deploy``) only if ``version`` passes the deployment gate built from the
    arguments; the decision and the gate's reason are recorded on the step.

    The gate is the one ``loopml deploy --gate`` evaluates, through
    :meth:`DeploymentService.check` (nothing is recorded here; ``deploy`` records the
    deployment). ``threshold=T`` is ``METRIC >= T`` (``<=`` with ``mode="min"``);
    ``better_than=ALIAS`` is ``METRIC > ALIAS`` (``<`` with ``mode="min"``), compared with the
    version that holds the alias. Following the service, the answer is no (with the gate's
    reason) when ``version`` or the alias holder records no ``metric``: nothing to compare is
    not a reason to replace a model. It is yes when no version holds the alias yet, and when
    ``version`` already holds it (``deploy`` then records an unchanged deployment).
    """
    gate = _gate(metric, threshold, better_than, mode)
    ctx = current_step()
    mv = ctx.models.show(version)
    target = better_than if better_than is not None else "production"
    _, result = ctx.services.deployments.check(mv.name, version=mv.version, gate=gate, to=target)
    return Decision(result.passed, result.reason, version)


@step(name="deploy", effects=True)
def deploy(version: str, alias: str = "production") -> dict[str, Any]:
    """Deploy ``version`` to ``alias`` through the deployment service (serving follows the
    alias): the deployment is recorded in ``loopml deploy history``, appends its event, and
    ``loopml rollback`` undoes it. Returns the deployment record as a dict."""
    ctx = current_step()
    mv = ctx.models.show(version)
    record = ctx.services.deployments.deploy(mv.name, version=mv.version, to=alias)
    was = "nothing" if record.previous_version is None else f"version {record.previous_version}"
    print(f"{mv.name}@{alias} → version {mv.version}: {record.status.value} (was {was})")
    return record.to_dict()
