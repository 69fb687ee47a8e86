"""Built-in steps of the standard training pipeline: load a dataset version, register a
model, decide whether to deploy it (a condition that records its verdict), and deploy it."""

from __future__ import annotations

from typing import Any

from loopml.core.errors import InvalidInput, NotFound
from loopml.pipelines.context import Decision, current_step
from loopml.pipelines.step import step
from loopml.stores import Stores


def _dataset_version(stores: Stores, ref: Any) -> str:
    """What ``ref`` means right now: a new latest version is a new cache key."""
    from loopml.datasets import DatasetService

    if not isinstance(ref, str):
        raise InvalidInput(f"load_dataset takes a dataset reference such as 'churn@3', not {ref!r}")
    v = DatasetService(stores).show(ref)
    return f"{v.ref}:{v.content_digest}"


@step(name="load_dataset", cache_extra=_dataset_version)
def load_dataset(ref: str) -> Any:
    """A dataset version: a DataFrame for a table, else a local copy's path. The version read
    is recorded as an input of the pipeline's tracked run."""
    ctx = current_step()
    version = ctx.datasets_service.show(ref)
    ctx.log_input(version.ref)
    return ctx.datasets_service.load(version.ref)


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


def _compare(value: float, other: float, mode: str) -> bool:
    return value > other if mode == "max" else value < other


@step(name="deploy_if")
def deploy_if(
    version: str,
    metric: str,
    threshold: float | None = None,
    better_than: str | None = None,
    mode: str = "max",
) -> Decision:
    """Go on (to ``deploy``) only if ``version``'s ``metric`` reaches ``threshold`` or beats
    the version that holds alias ``better_than``; the decision and its reason are recorded."""
    if (threshold is None) == (better_than is None):
        raise InvalidInput("deploy_if needs exactly one of threshold=NUMBER or better_than=ALIAS")
    if mode not in ("max", "min"):
        raise InvalidInput(f"mode must be 'max' or 'min', got {mode!r}")
    models = current_step().models
    mv = models.show(version)
    if metric not in mv.metrics:
        known = ", ".join(sorted(mv.metrics)) or "none"
        raise InvalidInput(f"{mv.ref} records no metric {metric!r} (it records: {known})")
    value = mv.metrics[metric]
    word = ">=" if mode == "max" else "<="
    if threshold is not None:
        go = value >= threshold if mode == "max" else value <= threshold
        verdict = "meets" if go else "misses"
        return Decision(
            go, f"{mv.ref} {metric}={value:.6g} {verdict} {word} {threshold:g}", version
        )
    try:
        holder = models.show(f"{mv.name}@{better_than}")
    except NotFound:
        return Decision(True, f"no version of {mv.name} holds {better_than!r} yet", version)
    if holder.version == mv.version:
        return Decision(False, f"{mv.ref} already holds {better_than!r}", version)
    if metric not in holder.metrics:
        return Decision(
            True,
            f"{better_than} ({holder.ref}) records no {metric!r}; {mv.ref} replaces it",
            version,
        )
    other = holder.metrics[metric]
    go = _compare(value, other, mode)
    verdict = "beats" if go else "does not beat"
    return Decision(
        go,
        f"{mv.ref} {metric}={value:.6g} {verdict} {better_than} ({holder.ref}) {metric}={other:.6g}",
        version,
    )


@step(name="deploy")
def deploy(version: str, alias: str = "production") -> dict[str, Any]:
    """Point ``alias`` of the model at ``version`` (serving follows the alias)."""
    models = current_step().models
    mv = models.show(version)
    change = models.set_alias(mv.name, alias, mv.version)
    print(f"{mv.name}@{alias} → version {mv.version} (was {change.previous_version})")
    return change.to_dict()
