"""Deployment gates: ``METRIC OP REFERENCE [and ...]`` compared on registry metrics.

``REFERENCE`` is a number (``accuracy >= 0.9``), an alias whose current version's metric is
the bar (``accuracy >= production``, ``rmse < staging``), optionally with a margin
(``accuracy >= production + 0.01``), or ``current`` for the alias being deployed to. A gate
against an alias that does not exist yet passes (there is nothing to beat).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from loopml.api.deployments import GateCheck, GateResult
from loopml.api.models import ModelVersion
from loopml.core.errors import InvalidInput

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_CLAUSE_RE = re.compile(
    rf"\s*(?P<metric>[A-Za-z_][\w.\-/]*)\s*(?P<op>>=|<=|==|!=|>|<)\s*"
    rf"(?:(?P<number>{_NUMBER})|(?P<alias>[A-Za-z0-9][\w.\-]*)"
    rf"(?:\s*(?P<sign>[-+])\s*(?P<margin>{_NUMBER}))?)\s*"
)
EXAMPLE = "accuracy >= production, auc > 0.8, rmse < production - 0.5"


@dataclass(frozen=True)
class Clause:
    text: str
    metric: str
    op: str
    number: float | None
    alias: str | None
    margin: float


def parse_gate(expression: str) -> list[Clause]:
    """Parse ``expression``; InvalidInput shows the expected form."""
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidInput(f"empty gate; write it like: {EXAMPLE}")
    clauses = []
    for part in re.split(r"\s+and\s+", expression.strip()):
        m = _CLAUSE_RE.fullmatch(part)
        if m is None:
            raise InvalidInput(
                f"cannot read gate clause {part.strip()!r}: expected METRIC OP NUMBER or "
                f"METRIC OP ALIAS [+|- MARGIN], e.g. {EXAMPLE}"
            )
        margin = float(m["margin"]) if m["margin"] else 0.0
        clauses.append(
            Clause(
                text=" ".join(part.split()),
                metric=m["metric"],
                op=m["op"],
                number=float(m["number"]) if m["number"] is not None else None,
                alias=m["alias"],
                margin=-margin if m["sign"] == "-" else margin,
            )
        )
    return clauses


def evaluate_gate(
    expression: str | None,
    candidate: ModelVersion,
    holder_of: Callable[[str], ModelVersion | None],
    target_alias: str,
) -> GateResult:
    """Check ``candidate`` against ``expression``; ``holder_of(alias)`` gives an alias's version."""
    if expression is None:
        return GateResult(None, True, "no gate")
    checks = [_check(c, candidate, holder_of, target_alias) for c in parse_gate(expression)]
    failed = [c for c in checks if not c.passed]
    reason = "; ".join(c.reason for c in (failed or checks))
    return GateResult(expression, not failed, reason, tuple(checks))


def _check(
    clause: Clause,
    candidate: ModelVersion,
    holder_of: Callable[[str], ModelVersion | None],
    target_alias: str,
) -> GateCheck:
    value = candidate.metrics.get(clause.metric)
    if value is None:
        return GateCheck(
            clause.text,
            clause.metric,
            None,
            None,
            False,
            f"{candidate.ref} records no metric {clause.metric!r} "
            f"(it has: {', '.join(sorted(candidate.metrics)) or 'none'})",
        )
    if clause.number is not None:
        threshold, against = clause.number, f"{clause.number:g}"
    else:
        alias = target_alias if clause.alias == "current" else str(clause.alias)
        holder = holder_of(alias)
        if holder is None:
            return GateCheck(
                clause.text,
                clause.metric,
                value,
                None,
                True,
                f"{candidate.name}@{alias} does not exist yet, so {candidate.ref} has nothing to beat",
            )
        if holder.version == candidate.version:
            return GateCheck(
                clause.text,
                clause.metric,
                value,
                value,
                True,
                f"{candidate.ref} is already {candidate.name}@{alias}",
            )
        bar = holder.metrics.get(clause.metric)
        if bar is None:
            return GateCheck(
                clause.text,
                clause.metric,
                value,
                None,
                False,
                f"{alias} ({holder.ref}) records no metric {clause.metric!r} to compare with",
            )
        threshold = bar + clause.margin
        margin = (
            f" {'+' if clause.margin >= 0 else '-'} {abs(clause.margin):g}" if clause.margin else ""
        )
        against = f"{alias} ({holder.ref}: {bar:.6g}){margin}"
    passed = _OPS[clause.op](value, threshold)
    verdict = "passes" if passed else "fails"
    reason = f"{clause.metric} {value:.6g} {clause.op} {against}: {verdict}"
    return GateCheck(clause.text, clause.metric, value, threshold, passed, reason)
