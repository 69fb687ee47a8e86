"""What a trigger watches (its ``on``), which events match it, the fields an event offers to
parameter templates, and filling those templates. Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loopml.api.events import (
    DatasetVersionCreated,
    Event,
    EventKind,
    ModelAliasChanged,
    ModelVersionCreated,
    MonitorAlert,
)
from loopml.core.errors import InvalidInput

KINDS = ("dataset", "model", "schedule", "code", "alert", "webhook", "manual")

# The fields each kind of trigger offers to ``{event.FIELD}`` templates.
FIELDS: dict[str, frozenset[str]] = {
    "dataset": frozenset({"ref", "dataset", "version", "content_digest", "event_id"}),
    "model": frozenset({"ref", "model", "version", "event_id"}),
    "model_alias": frozenset({"ref", "model", "alias", "version", "event_id"}),
    "schedule": frozenset({"tick", "time"}),
    "code": frozenset({"path", "branch", "commit"}),
    "alert": frozenset(
        {"deployment", "model", "rule", "evidence", "monitor_id", "result_id", "event_id"}
    ),
    "webhook": frozenset({"key"}),  # plus whatever the payload holds
    "manual": frozenset({"key"}),
}
WATCHED = (
    EventKind.DATASET_VERSION_CREATED,
    EventKind.MODEL_VERSION_CREATED,
    EventKind.MODEL_ALIAS_CHANGED,
    EventKind.MONITOR_ALERT,
)
_TEMPLATE = re.compile(r"\{event\.([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Source:
    """A parsed ``on``: its kind and argument (``alias`` for ``model:NAME@ALIAS``, ``branch``
    for ``code:PATH@BRANCH``)."""

    kind: str
    arg: str = ""
    alias: str | None = None
    branch: str | None = None

    @property
    def fields(self) -> frozenset[str]:
        return FIELDS["model_alias" if self.kind == "model" and self.alias else self.kind]


def parse_on(on: str) -> Source:
    """``on`` as a Source; InvalidInput says what is accepted."""
    kind, _sep, arg = on.strip().partition(":")
    if kind not in KINDS:
        raise InvalidInput(
            f"trigger source {on!r} is not one of dataset:NAME, model:NAME, model:NAME@ALIAS, "
            "schedule:CRON, code:PATH[@BRANCH], alert:DEPLOYMENT, webhook, manual"
        )
    if kind in ("webhook", "manual"):
        if arg:
            raise InvalidInput(f"trigger source {kind!r} takes no argument, got {on!r}")
        return Source(kind)
    if not arg.strip():
        raise InvalidInput(f"trigger source {on!r} needs an argument after '{kind}:'")
    arg = arg.strip()
    if kind == "model" and "@" in arg:
        name, _, alias = arg.partition("@")
        return Source(kind, name, alias=alias)
    if kind == "code":
        path, at, branch = arg.rpartition("@")
        if at and path and "/" not in branch:
            return Source(kind, path, branch=branch)
        return Source(kind, arg)
    return Source(kind, arg)


def template_fields(params: Mapping[str, str]) -> set[str]:
    """Every ``{event.FIELD}`` the parameter values name."""
    return {m for v in params.values() for m in _TEMPLATE.findall(str(v))}


def check_templates(source: Source, params: Mapping[str, str]) -> None:
    """Refuse a template naming a field this kind of event does not have."""
    if source.kind == "webhook":
        return  # its fields are the payload's, known only when it fires
    missing = sorted(template_fields(params) - source.fields)
    if missing:
        raise InvalidInput(
            f"parameter template names event field(s) {', '.join(missing)} that a "
            f"{source.kind} event does not have; available: {', '.join(sorted(source.fields))}"
        )


def fill(params: Mapping[str, str], event: Mapping[str, Any]) -> dict[str, str]:
    """The parameters with every ``{event.FIELD}`` replaced by the event's value."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in event:
            raise InvalidInput(f"event has no field {name!r} (it has {', '.join(sorted(event))})")
        return str(event[name])

    out = {}
    for key, value in params.items():
        filled = _TEMPLATE.sub(one, str(value))
        # Braces that are not templates are kept as written (no str.format surprises).
        out[key] = filled
    return out


def match(source: Source, event: Event) -> dict[str, Any] | None:
    """The event's template fields if it fires a trigger watching ``source``, else None."""
    p = event.payload
    if source.kind == "dataset" and isinstance(p, DatasetVersionCreated):
        if p.dataset == source.arg:
            return {
                "ref": f"{p.dataset}@{p.version}",
                "dataset": p.dataset,
                "version": p.version,
                "content_digest": p.content_digest,
                "event_id": event.id,
            }
    elif source.kind == "model" and source.alias is None and isinstance(p, ModelVersionCreated):
        if p.model == source.arg:
            ref = f"{p.model}@{p.version}"
            return {"ref": ref, "model": p.model, "version": p.version, "event_id": event.id}
    elif source.kind == "model" and source.alias and isinstance(p, ModelAliasChanged):
        if p.model == source.arg and p.alias == source.alias:
            return {
                "ref": f"{p.model}@{p.alias}",
                "model": p.model,
                "alias": p.alias,
                "version": p.version,
                "event_id": event.id,
            }
    elif source.kind == "alert" and isinstance(p, MonitorAlert) and p.deployment == source.arg:
        return {
            "deployment": p.deployment,
            "model": p.model,
            "rule": p.rule,
            "evidence": p.evidence,
            "monitor_id": p.monitor_id,
            "result_id": p.result_id,
            "event_id": event.id,
        }
    return None
