"""Deployment gates: conditions on registry metrics, in loopml's one expression grammar
(:mod:`loopml.core.expr`).

A clause is ``METRIC OP REFERENCE`` with OP one of ``>= > <= < = == != <>``. ``REFERENCE`` is a
number (``accuracy >= 0.9``), an alias whose current version's metric is the bar
(``accuracy >= production``, ``rmse < staging``), optionally with a margin
(``accuracy >= production + 0.01``), or ``current`` for the alias being deployed to. A gate
against an alias that does not exist yet passes (there is nothing to beat). Clauses combine
with ``and``, ``or``, ``not`` and parentheses. ``METRIC`` is a metric key as written
(``val/loss``, ``f1-score``) or ``metrics.KEY`` (quote odd keys: ``metrics.`val loss```).
A clause that cannot be checked (the candidate or the alias lacks the metric) is unknown: the
gate passes only when the other clauses decide it (``x > 1 or y > 2``), never through ``not``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from loopml.api.deployments import GateCheck, GateResult
from loopml.api.models import ModelVersion
from loopml.core import expr
from loopml.core.errors import InvalidInput, LoopError
from loopml.core.expr import BoolOp, ExprError, Not, Tree
from loopml.core.names import validate_key, validate_name

_OPS = expr.COMPARE
_METRIC_PREFIXES = ("metrics", "metric")
EXAMPLE = "accuracy >= production and auc > 0.8 and rmse < production - 0.5"
SYNTAX = (
    "write a gate as METRIC OP NUMBER or METRIC OP ALIAS [+|- MARGIN] (OP: >= > <= < = !=), "
    f"clauses joined with and / or, e.g. {EXAMPLE}"
)


@dataclass(frozen=True)
class Clause:
    text: str
    metric: str
    op: str
    number: float | None
    alias: str | None
    margin: float


def _error(text: str, pos: int, problem: str, hint: str = "") -> ExprError:
    return ExprError(text, pos, problem, hint or SYNTAX, lead="cannot read gate")


def _clause(text: str, node: expr.Compare) -> Clause:
    """A comparison of the gate read as a clause; ExprError at what does not fit."""
    left, right = node.left, node.right
    if not isinstance(left, expr.Name) or (
        left.prefix is not None
        and left.prefix.lower() not in _METRIC_PREFIXES
        and any(q in left.text for q in '`"')
    ):
        raise _error(text, left.pos, f"expected a metric name on the left, found {left.text!r}")
    metric = left.key if left.prefix and left.prefix.lower() in _METRIC_PREFIXES else left.text
    try:
        validate_key(metric, "metric")
    except InvalidInput as exc:
        raise _error(text, left.pos, str(exc)) from None
    if node.op not in _OPS:
        raise _error(text, node.pos, f"gates compare with >= > <= < = !=, not {node.op}")
    assert not isinstance(right, tuple)
    number: float | None = None
    alias: str | None = None
    margin = 0.0
    if isinstance(right, expr.Number):
        number = right.value
    else:
        base: expr.Operand = right
        sign, bump = "+", None
        if isinstance(right, expr.Arith):
            base, sign, bump = right.left, right.op, right.right
        if not isinstance(base, expr.Name) or not (bump is None or isinstance(bump, expr.Number)):
            raise _error(
                text,
                right.pos,
                "expected a number or an alias with an optional margin after "
                f"{node.op}, such as production - 0.5",
            )
        try:
            alias = validate_name(base.text, "alias")
        except LoopError as exc:
            raise _error(text, base.pos, str(exc)) from None
        if isinstance(bump, expr.Number):
            margin = -bump.value if sign == "-" else bump.value
    start, end = node.span
    return Clause(" ".join(text[start:end].split()), metric, node.op, number, alias, margin)


def parse_gate_tree(expression: str) -> Tree[Clause]:
    """The clauses of ``expression`` as combined with and / or / not."""
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidInput(f"empty gate; write it like: {EXAMPLE}")
    tree = expr.parse(
        expression,
        what="gate",
        subject="a metric name such as accuracy",
        value="a number, or an alias such as production",
        error=lambda pos, problem, hint: _error(expression, pos, problem, hint),
    )
    return expr.map_leaves(tree, lambda node: _clause(expression, node))


def parse_gate(expression: str) -> list[Clause]:
    """The clauses of ``expression``, left to right; InvalidInput shows the expected form."""
    return expr.leaves(parse_gate_tree(expression))


def evaluate_gate(
    expression: str | None,
    candidate: ModelVersion,
    holder_of: Callable[[str], ModelVersion | None],
    target_alias: str,
) -> GateResult:
    """Check ``candidate`` against ``expression``; ``holder_of(alias)`` gives an alias's version."""
    if expression is None:
        return GateResult(None, True, "no gate")
    tree = expr.map_leaves(
        parse_gate_tree(expression), lambda c: _check(c, candidate, holder_of, target_alias)
    )
    checks = expr.leaves(tree)
    passed = _verdict(tree) is True
    failed = [c for c in checks if not c.passed]
    reason = "; ".join(c.reason for c in (checks if passed or not failed else failed))
    return GateResult(expression, passed, reason, tuple(checks))


def _verdict(tree: Tree[GateCheck]) -> bool | None:
    """True, False, or None when a clause could not be checked (a metric is missing): an
    unknown makes the gate fail whatever surrounds it, so ``not`` cannot turn it into a pass."""
    if isinstance(tree, BoolOp):
        verdicts = [_verdict(item) for item in tree.items]
        if tree.op == "and":
            return False if False in verdicts else (None if None in verdicts else True)
        return True if True in verdicts else (None if None in verdicts else False)
    if isinstance(tree, Not):
        inner = _verdict(tree.item)
        return None if inner is None else not inner
    if not tree.passed and (tree.candidate is None or tree.threshold is None):
        return None
    return tree.passed


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
