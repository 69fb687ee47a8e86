"""Alert rules of a monitor, judged on each result.

A rule is one of three keyword forms, or a condition in loopml's one expression grammar
(:mod:`loopml.core.expr`)::

    dataset_drift                  the share of drifted features reached the threshold
    prediction_drift               the prediction column drifted
    drift:COLUMN                   that feature drifted
    accuracy < registered - 0.05   a realized metric fell more than 0.05 below the value
                                   registered on the served version
    estimated.accuracy < 0.8       the estimate from class probabilities (no labels needed)
    label_coverage < 0.2           too few predictions got a label
    drift_share >= 0.3             share of compared features that drifted

Names in a condition: a realized metric (``accuracy precision recall f1 roc_auc mae rmse r2``),
``estimated.METRIC``, ``label_coverage``, ``drift_share``, ``drifted_features``, ``rows``;
values: a number or ``registered`` (optionally ``± margin``). Conditions combine with ``and``,
``or``, ``not``. A rule whose data is missing (no labels yet, nothing could be compared) is
undecided: it does not fire, and its evidence says what was missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from loopml.api.monitors import MonitorResult, RuleOutcome
from loopml.core import expr
from loopml.core.errors import InvalidInput
from loopml.core.expr import BoolOp, ExprError, Not, Tree

_OPS = expr.COMPARE
_SCALARS = ("label_coverage", "drift_share", "drifted_features", "rows")
_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "mae", "rmse", "r2")
EXAMPLE = '"dataset_drift", "drift:age", "accuracy < registered - 0.05", "label_coverage < 0.5"'
SYNTAX = (
    "a rule is dataset_drift, prediction_drift, drift:COLUMN, or a condition such as "
    "accuracy < registered - 0.05 (names: a quality metric, estimated.METRIC, label_coverage, "
    f"drift_share, drifted_features, rows); e.g. {EXAMPLE}"
)


@dataclass(frozen=True)
class _Compare:
    text: str
    name: str  # accuracy | estimated.accuracy | label_coverage | ...
    op: str
    number: float | None
    registered: bool
    margin: float


def _error(text: str, pos: int, problem: str) -> ExprError:
    return ExprError(text, pos, problem, SYNTAX, lead="cannot read rule")


def parse_rule(text: str) -> Tree[_Compare] | str:
    """The rule read: a keyword form as text, or a condition tree; InvalidInput otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"empty rule; {SYNTAX}")
    rule = text.strip()
    if rule in ("dataset_drift", "prediction_drift"):
        return rule
    if rule.startswith("drift:"):
        if not rule[len("drift:") :].strip():
            raise InvalidInput(f"rule {text!r} names no column; write drift:COLUMN, e.g. drift:age")
        return rule
    tree = expr.parse(
        rule,
        what="rule",
        subject="a metric such as accuracy",
        value="a number or registered",
        error=lambda pos, problem, _hint: _error(rule, pos, problem),
    )
    return expr.map_leaves(tree, lambda node: _leaf(rule, node))


def _leaf(text: str, node: expr.Compare) -> _Compare:
    left, right = node.left, node.right
    if not isinstance(left, expr.Name):
        raise _error(text, node.span[0], "expected a metric name on the left")
    name = left.text if left.prefix is None else f"{left.prefix}.{left.key}"
    if left.prefix not in (None, "estimated"):
        raise _error(text, left.pos, f"unknown name {left.text!r}; use estimated.METRIC")
    known = (*_METRICS, *_SCALARS) if left.prefix is None else _METRICS
    if left.key not in known and name not in known:
        raise _error(
            text,
            left.pos,
            f"unknown name {left.text!r}; use one of {', '.join((*_METRICS, *_SCALARS))} "
            "or estimated.METRIC",
        )
    if node.op not in _OPS:
        raise _error(text, node.pos, f"rules compare with >= > <= < = !=, not {node.op}")
    assert not isinstance(right, tuple)
    source = text[node.span[0] : node.span[1]]
    if isinstance(right, expr.Number):
        return _Compare(source, name, node.op, right.value, False, 0.0)
    margin = 0.0
    if isinstance(right, expr.Arith) and isinstance(right.right, expr.Number):
        margin = right.right.value if right.op == "+" else -right.right.value
        right = right.left
    if isinstance(right, expr.Name) and right.text == "registered":
        if name in _SCALARS:
            raise _error(text, right.pos, f"{name} has no registered value; compare with a number")
        return _Compare(source, name, node.op, None, True, margin)
    raise _error(text, right.pos, "expected a number or registered [+|- MARGIN] on the right")


def check_rules(rules: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The rules, each checked (InvalidInput names the one that does not read)."""
    for rule in rules:
        parse_rule(rule)
    return tuple(r.strip() for r in rules)


def judge(rules: tuple[str, ...], result: MonitorResult) -> tuple[RuleOutcome, ...]:
    """Every rule judged on ``result``."""
    out = []
    for rule in rules:
        parsed = parse_rule(rule)
        if isinstance(parsed, str):
            fired, evidence = _keyword(parsed, result)
        else:
            fired, notes = _tree(parsed, result)
            evidence = "; ".join(notes)
        out.append(RuleOutcome(rule, fired, evidence))
    return tuple(out)


def _keyword(rule: str, result: MonitorResult) -> tuple[bool | None, str]:
    drift = result.drift
    if drift is None:
        return None, f"undecided: nothing was compared ({result.status.replace('_', ' ')})"
    if rule == "dataset_drift":
        if drift.dataset_drift is None:
            return None, "undecided: no feature could be compared"
        share = f"{drift.drifted_share:.0%} of {drift.compared} compared feature(s) drifted"
        cols = ", ".join(drift.drifted_columns)
        return drift.dataset_drift, (
            f"{share} (threshold {drift.share_threshold:.0%})" + (f": {cols}" if cols else "")
        )
    if rule == "prediction_drift":
        column = drift.prediction
        if column is None:
            return None, "undecided: the prediction was not compared"
    else:
        name = rule[len("drift:") :].strip()
        column = next((c for c in drift.columns if c.column == name), None)
        if column is None:
            return None, f"undecided: {name!r} is not a feature of the signature"
    if column.drifted is None:
        return None, f"undecided: {column.column}: {column.status.value} {column.note}".strip()
    stat = "-" if column.statistic is None else f"{column.statistic:.4g}"
    shown = f"{column.test.value} statistic {stat}"
    if column.p_value is not None:
        shown += f", p-value {column.p_value:.3g}"
    return column.drifted, f"{column.column}: {shown}, threshold {column.threshold:g}"


def _value(name: str, result: MonitorResult) -> float | None:
    if name == "rows":
        return float(result.rows)
    if name in ("drift_share", "drifted_features"):
        if result.drift is None or result.drift.compared == 0:
            return None
        if name == "drift_share":
            return result.drift.drifted_share
        return float(len(result.drift.drifted_columns))
    if name == "label_coverage":
        return None if result.quality is None else result.quality.coverage
    if name.startswith("estimated."):
        est = result.estimate
        return None if est is None or not est.reliable else est.metrics.get(name[10:])
    return None if result.quality is None else result.quality.metrics.get(name)


def _tree(node: Tree[_Compare], result: MonitorResult) -> tuple[bool | None, list[str]]:
    if isinstance(node, Not):
        inner, why = _tree(node.item, result)
        return (None if inner is None else not inner), why
    if isinstance(node, BoolOp):
        values: list[bool | None] = []
        notes: list[str] = []
        for item in node.items:
            v, n = _tree(item, result)
            values.append(v)
            notes.extend(n)
        decisive = node.op == "or"  # True decides an or, False decides an and
        if decisive in values:
            return decisive, notes
        if None in values:
            return None, notes
        return not decisive, notes
    known = _value(node.name, result)
    if known is None:
        return None, [f"undecided: {node.name} is not known for this window"]
    value = float(known)
    if node.registered:
        base = node.name.removeprefix("estimated.")
        registered = result.registered.get(base)
        if registered is None:
            return None, [f"undecided: the served version has no {base} registered"]
        bar = registered + node.margin
        shown = f"registered {registered:.4g}" + (
            f" {node.margin:+g} = {bar:.4g}" if node.margin else ""
        )
    else:
        assert node.number is not None
        bar, shown = node.number, f"{node.number:g}"
    fired = _OPS[node.op](value, bar)
    return fired, [f"{node.name} {value:.4g} {node.op} {shown}: {'yes' if fired else 'no'}"]
