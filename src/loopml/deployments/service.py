"""Deploy, roll back and list deployments: the production pipeline's rules, in one place.

A deploy picks a version (best by a metric, a number, or another alias's holder), checks the
gate against the current holder of the target alias, moves the alias through the model
registry's public API and records the attempt. Deploys and rollbacks of one ``model@alias`` run
one at a time, across processes (:func:`~loopml.deployments.lock.alias_lock`), from
reading the holder to settling the record: the gate judges the version the alias really
leaves, and the history of an alias is one chain. The record is written first as ``pending``
and settled after the move, so a crash in between leaves a visible pending record, never a
silent move; the next deploy, rollback or history of that alias settles it from where the
alias points. ``model.alias_changed`` (appended by the registry) is what endpoints and
triggers follow.
"""

from __future__ import annotations

import time
from typing import Any

from loopml.api import codec
from loopml.api.deployments import Action, Deployment, DeploymentStatus, GateResult
from loopml.api.events import DeploymentRecorded
from loopml.api.models import ModelVersion
from loopml.api.protocols import Models
from loopml.core.errors import Conflict, InvalidInput, LoopError, NotFound
from loopml.core.identity import whoami
from loopml.core.names import validate_alias, validate_name
from loopml.deployments import repository as repo
from loopml.deployments.gate import evaluate_gate, parse_gate
from loopml.deployments.lock import alias_lock
from loopml.meta.events import append_event
from loopml.stores import Stores


def parse_selector(select: str | None, version: int | None, alias: str | None) -> tuple[str, Any]:
    """Exactly one of ``best:METRIC[:min|max]``, a version number or an alias."""
    given = [s for s in (select, version, alias) if s is not None]
    if len(given) != 1:
        raise InvalidInput(
            "choose the version with exactly one of --select best:METRIC[:min|max], "
            "--version N or --alias A"
        )
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise InvalidInput(f"version must be a positive whole number, got {version!r}")
        return f"version:{version}", version
    if alias is not None:
        return f"alias:{alias}", alias
    assert select is not None
    parts = select.split(":")
    if parts[0] != "best" or len(parts) not in (2, 3) or not parts[1]:
        raise InvalidInput(f"cannot read selector {select!r}: use best:METRIC or best:METRIC:min")
    mode = parts[2] if len(parts) == 3 else "max"
    if mode not in ("max", "min"):
        raise InvalidInput(f"selector {select!r}: the mode is 'max' or 'min', not {mode!r}")
    return f"best:{parts[1]}:{mode}", (parts[1], mode)


class DeploymentService:
    """Deployments of model versions to aliases (``production`` by default)."""

    def __init__(self, stores: Stores, models: Models) -> None:
        self.stores = stores
        self.models = models

    def deploy(
        self,
        name: str,
        *,
        select: str | None = None,
        version: int | None = None,
        alias: str | None = None,
        gate: str | None = None,
        to: str = "production",
    ) -> Deployment:
        """Deploy the chosen version of ``name`` to ``name@to`` if ``gate`` passes. A refused
        gate is recorded and returned with status ``refused`` (not raised)."""
        selector, arg = self._arguments(name, select, version, alias, gate, to)
        with alias_lock(self.stores.meta, name, to):
            self._settle_abandoned(name, to)
            incumbent = self._holder(name, to)
            candidate, result = self._judge(name, selector, arg, gate, to, incumbent)
            now = time.time()
            base = {
                "model": name,
                "alias": to,
                "action": Action.DEPLOY.value,
                "version": candidate.version,
                "previous_version": None if incumbent is None else incumbent.version,
                "selector": selector,
                "gate": gate,
                "gate_result": codec.to_builtins(result),
                "reason": result.reason,
            }
            if incumbent is not None and incumbent.version == candidate.version:
                why = f"{name}@{to} already is version {candidate.version}"
                return self._record(base, DeploymentStatus.UNCHANGED, why, now)
            if not result.passed:
                return self._record(
                    base, DeploymentStatus.REFUSED, f"gate refused: {result.reason}", now
                )
            return self._move(base, now)

    def check(
        self,
        name: str,
        *,
        select: str | None = None,
        version: int | None = None,
        alias: str | None = None,
        gate: str | None = None,
        to: str = "production",
    ) -> tuple[ModelVersion, GateResult]:
        """The version a deploy would pick and its gate verdict, recording nothing (what a
        ``deploy_if`` pipeline step asks)."""
        selector, arg = self._arguments(name, select, version, alias, gate, to)
        return self._judge(name, selector, arg, gate, to, self._holder(name, to))

    def _arguments(
        self,
        name: str,
        select: str | None,
        version: int | None,
        alias: str | None,
        gate: str | None,
        to: str,
    ) -> tuple[str, Any]:
        """Check the arguments before any lookup or record; the selector and its argument."""
        validate_name(name, "model name")
        validate_alias(to)
        selector, arg = parse_selector(select, version, alias)
        if gate is not None:
            parse_gate(gate)  # a typo fails before any lookup or record
        return selector, arg

    def _judge(
        self,
        name: str,
        selector: str,
        arg: Any,
        gate: str | None,
        to: str,
        incumbent: ModelVersion | None,
    ) -> tuple[ModelVersion, GateResult]:
        """Pick the candidate and evaluate the gate against ``incumbent``, the holder of
        ``name@to`` the caller read (under the alias lock when deploying)."""
        candidate = self._pick(name, selector, arg)
        result = evaluate_gate(
            gate, candidate, lambda a: incumbent if a == to else self._holder(name, a), to
        )
        return candidate, result

    def rollback(self, name: str, to: str = "production") -> Deployment:
        """Point ``name@to`` back at the version it held before the last deployment."""
        validate_name(name, "model name")
        validate_alias(to)
        with alias_lock(self.stores.meta, name, to):
            self._settle_abandoned(name, to)
            return self._rollback(name, to)

    def _rollback(self, name: str, to: str) -> Deployment:
        with self.stores.meta.read() as conn:
            last = repo.last_deployed(conn, name, to)
        if last is None:
            raise NotFound(
                f"{name}@{to} has no deployment to roll back; see: loopml deployments history {name}"
            )
        if last.previous_version is None:
            raise Conflict(
                f"deployment {last.id} put version {last.version} on {name}@{to} first; there is "
                "no earlier version to go back to"
            )
        holder = self._holder(name, to)
        if holder is None or holder.version != last.version:
            shown = "nothing" if holder is None else f"version {holder.version}"
            raise Conflict(
                f"{name}@{to} points at {shown}, not at version {last.version} that deployment "
                f"{last.id} put there (it was moved outside loopml deploy); deploy the version "
                f"you want with: loopml deploy {name} --version N --to {to}"
            )
        now = time.time()
        base = {
            "model": name,
            "alias": to,
            "action": Action.ROLLBACK.value,
            "version": last.previous_version,
            "previous_version": last.version,
            "selector": f"rollback:{last.id}",
            "gate": None,
            "gate_result": None,
            "reason": f"rolled back deployment {last.id}",
        }
        return self._move(base, now)

    def history(self, name: str, to: str | None = None, limit: int = 100) -> list[Deployment]:
        """Deployments of ``name`` (to alias ``to`` when given), newest first. Pending records
        of an alias nobody is deploying to are settled first; those of a deploy in flight are
        shown as they are."""
        validate_name(name, "model name")
        with self.stores.meta.read() as conn:
            unsettled = repo.pending_aliases(conn, name, to)
        for alias in unsettled:
            with alias_lock(self.stores.meta, name, alias, wait=False) as held:
                if held:
                    self._settle_abandoned(name, alias)
        with self.stores.meta.read() as conn:
            return repo.history(conn, name, to, limit)

    # ---------- internals
    def _pick(self, name: str, selector: str, arg: Any) -> ModelVersion:
        if selector.startswith("best:"):
            metric, mode = arg
            return self.models.best_version(name, metric, mode)
        if selector.startswith("version:"):
            return self.models.show(f"{name}@{arg}")
        return self.models.show(f"{name}@{arg}")

    def _holder(self, name: str, alias: str) -> ModelVersion | None:
        try:
            return self.models.show(f"{name}@{alias}")
        except NotFound:
            return None

    def _record(
        self, base: dict[str, Any], status: DeploymentStatus, reason: str, now: float
    ) -> Deployment:
        with self.stores.meta.write() as conn:
            did = repo.insert(
                conn,
                {
                    **base,
                    "status": DeploymentStatus.PENDING.value,
                    "created_at": now,
                    "created_by": whoami(),
                    "updated_at": now,
                },
            )
            record = repo.move(conn, did, status, now, reason=reason)
            _announce(conn, record)
        return record

    def _move(self, base: dict[str, Any], now: float) -> Deployment:
        with self.stores.meta.write() as conn:
            did = repo.insert(
                conn,
                {
                    **base,
                    "status": DeploymentStatus.PENDING.value,
                    "created_at": now,
                    "created_by": whoami(),
                    "updated_at": now,
                },
            )
        try:
            change = self.models.set_alias(base["model"], base["alias"], base["version"])
        except LoopError as exc:
            with self.stores.meta.write() as conn:
                failed = repo.move(conn, did, DeploymentStatus.FAILED, time.time(), reason=str(exc))
                _announce(conn, failed)
            raise
        with self.stores.meta.write() as conn:
            now = time.time()
            record = repo.move(
                conn, did, DeploymentStatus.DEPLOYED, now, previous_version=change.previous_version
            )
            _undo_rolled_back(conn, record, now)
            _announce(conn, record)
        return record

    def _settle_abandoned(self, name: str, alias: str) -> None:
        """Settle the ``pending`` records of ``name@alias``; call it holding the alias lock.

        Deploys of one alias run one at a time, so a pending record seen under the lock was
        left by a process that stopped between recording and settling (killed, host lost).
        Where the alias points tells what happened: at the record's version, the move was
        made (``deployed``, with the version the alias left, read from the registry's
        ``model.alias_changed`` event when found); elsewhere, it was not (``failed``). Of
        several pending records only the newest at the alias's version counts as moved."""
        with self.stores.meta.read() as conn:
            abandoned = repo.pending(conn, name, alias)
        if not abandoned:
            return
        holder = self._holder(name, alias)
        points_at = None if holder is None else holder.version
        moved = next((r for r in reversed(abandoned) if r.version == points_at), None)
        shown = "nothing" if points_at is None else f"version {points_at}"
        with self.stores.meta.write() as conn:
            now = time.time()
            for record in abandoned:
                if record is moved:
                    event = repo.alias_move(conn, name, alias, record.version, record.created_at)
                    previous = (
                        record.previous_version if event is None else event["previous_version"]
                    )
                    settled = repo.move(
                        conn,
                        record.id,
                        DeploymentStatus.DEPLOYED,
                        now,
                        previous_version=previous,
                        reason=f"{record.reason or record.action.value}; settled after it was "
                        f"interrupted: {name}@{alias} points at version {record.version}",
                    )
                    _undo_rolled_back(conn, settled, now)
                else:
                    settled = repo.move(
                        conn,
                        record.id,
                        DeploymentStatus.FAILED,
                        now,
                        reason=f"interrupted: the {record.action.value} stopped after recording "
                        f"and before moving {name}@{alias} to version {record.version} "
                        f"(it points at {shown}); run it again",
                    )
                _announce(conn, settled)


def _undo_rolled_back(conn: Any, record: Deployment, now: float) -> None:
    """Once a rollback is deployed, mark the deployment it undid ``rolled_back``."""
    if record.action is not Action.ROLLBACK or record.status is not DeploymentStatus.DEPLOYED:
        return
    undone = repo.get(conn, int(record.selector.removeprefix("rollback:")))
    if undone.status is DeploymentStatus.DEPLOYED:
        repo.move(conn, undone.id, DeploymentStatus.ROLLED_BACK, now)


def _announce(conn: Any, record: Deployment) -> None:
    append_event(
        conn,
        DeploymentRecorded(
            id=record.id,
            model=record.model,
            alias=record.alias,
            action=record.action.value,
            version=record.version,
            previous_version=record.previous_version,
            status=record.status.value,
        ),
    )


__all__ = ["DeploymentService", "GateResult", "parse_selector"]
