"""The run filter language: loopml's one expression grammar (:mod:`loopml.core.expr`) read as
conditions on runs, to a small typed AST that :mod:`loopml.tracking.search` compiles to SQL.

Grammar (keywords are case-insensitive)::

    filter     := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" or_expr ")" | comparison
    comparison := field op value
                | field ["not"] "in" "(" value ("," value)* ")"
                | field ["not"] ("like" | "ilike") string
    field      := ("metrics" | "params" | "tags" | "attributes") "." key | attribute
    key        := KEY | `any text` | "any text"         KEY: letters, digits, _ . - /
    op         := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    value      := number | 'string' | "string"          (\\' and \\\\ are a quote and a backslash)

    order_by   := field ["asc" | "desc"]

Types: ``metrics.K`` is the run's latest value of K, a number (=, !=, <, <=, >, >=, in).
``params.K`` and ``tags.K`` are strings (=, !=, in, like, ilike); a number literal matches its
text, so ``params.depth = 5`` is ``params.depth = '5'``. In like patterns ``%`` is any text,
``_`` one character, and a backslash makes either literal (``'%\\_%'``); like is
case-sensitive, ilike is not. Attributes: ``id``, ``name``, ``status``, ``created_by``,
``parent_run_id`` (strings) and ``start_time``, ``end_time`` (epoch seconds, or an ISO date
string such as ``'2024-05-01'``, UTC); ``attributes.`` may be left out. A run without the
metric, param or tag named never matches a comparison on it.

Keys follow loopml's one key rule (:mod:`loopml.core.names`): a key no run can have is an
error, not an empty result. ``not`` and parentheses nest at most 24 levels deep
(SQLite cannot read much deeper SQL).

Example: ``metrics.accuracy > 0.9 and params.model = 'lr' and attributes.status = 'finished'``
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from loopml.api.runs import RunStatus
from loopml.core import expr
from loopml.core.errors import InvalidInput
from loopml.core.expr import BoolOp, Not, Tree
from loopml.core.names import validate_key
from loopml.tracking.lexer import EXAMPLE, PREFIXES, Field, FilterError

__all__ = ["BoolOp", "Compare", "Node", "Not", "OrderKey", "parse_filter", "parse_order_by"]

Value = float | str

STRING_ATTRIBUTES = ("id", "name", "status", "created_by", "parent_run_id")
TIME_ATTRIBUTES = ("start_time", "end_time")
ATTRIBUTES = STRING_ATTRIBUTES + TIME_ATTRIBUTES
STATUSES = tuple(s.value for s in RunStatus)
_FIELDS = (
    f"fields are metrics.KEY, params.KEY, tags.KEY or attributes.NAME ({', '.join(ATTRIBUTES)})"
)
_SUBJECT = "a field such as metrics.accuracy"


@dataclass(frozen=True)
class Compare:
    field: Field
    op: str  # = != < <= > >= in, not in, like, not like, ilike, not ilike
    value: Value | tuple[Value, ...]


Node = Tree[Compare]


@dataclass(frozen=True)
class OrderKey:
    field: Field
    descending: bool


class _Reader:
    """Gives the nodes of a parsed expression their meaning for runs."""

    def __init__(self, text: str) -> None:
        self.text = text

    def error(self, pos: int, problem: str, hint: str = "") -> FilterError:
        return FilterError(self.text, pos, problem, hint)

    def field(self, operand: expr.Operand) -> Field:
        if not isinstance(operand, expr.Name):
            raise self.error(operand.pos, f"expected {_SUBJECT}, found {operand.text!r}", _FIELDS)
        if operand.prefix is None:
            if operand.key.lower() in ATTRIBUTES:
                return Field("attribute", operand.key.lower())
            raise self.error(operand.pos, f"expected {_SUBJECT}, found {operand.text!r}", _FIELDS)
        kind = PREFIXES.get(operand.prefix.lower())
        if kind is None:
            raise self.error(operand.pos, f"unknown prefix {operand.prefix!r}", _FIELDS)
        if kind == "attribute":
            if operand.key.lower() not in ATTRIBUTES:
                raise self.error(
                    operand.pos,
                    f"unknown attribute {operand.key!r}",
                    "attributes are: " + ", ".join(ATTRIBUTES),
                )
            return Field("attribute", operand.key.lower())
        try:
            validate_key(operand.key, kind)
        except InvalidInput as exc:
            raise self.error(operand.pos, f"no run can have this key: {exc}") from None
        return Field(kind, operand.key)

    def compare(self, node: expr.Compare) -> Compare:
        field = self.field(node.left)
        op = node.op
        if op in ("in", "not in"):
            assert isinstance(node.right, tuple)
            return Compare(field, op, tuple(self.value(field, v, op) for v in node.right))
        assert not isinstance(node.right, tuple)
        if op.endswith("like"):
            if field.kind == "metric" or field.key in TIME_ATTRIBUTES:
                raise self.error(node.pos, f"{field} is a number; like works on strings")
            if not isinstance(node.right, expr.String):
                word = op.split()[-1]
                raise self.error(
                    node.right.pos,
                    f"expected a 'quoted pattern' after {word}, found {node.right.text!r}",
                )
            return Compare(field, op, node.right.value)
        if op not in ("=", "!=") and field.kind in ("param", "tag"):
            raise self.error(
                node.pos,
                f"{field} is a string, so {op} does not apply",
                "compare params and tags with =, !=, in or like; log numbers you want to "
                "order as metrics",
            )
        if op not in ("=", "!=") and field.kind == "attribute" and field.key in STRING_ATTRIBUTES:
            raise self.error(node.pos, f"{field} is a string; compare it with =, !=, in or like")
        return Compare(field, op, self.value(field, node.right, op))

    def value(self, field: Field, operand: expr.Operand, op: str) -> Value:
        if isinstance(operand, expr.Name | expr.Arith):
            hint = f"quote strings: '{operand.text}'" if isinstance(operand, expr.Name) else ""
            raise self.error(
                operand.pos,
                f"expected a value (a number or a 'quoted string') after {op!r}, "
                f"found {operand.text!r}",
                hint,
            )
        if field.kind == "metric":
            if not isinstance(operand, expr.Number):
                raise self.error(
                    operand.pos,
                    f"{field} is a number; compare it with a number, e.g. {field} > 0.9",
                )
            return operand.value
        if field.kind in ("param", "tag"):
            return operand.text if isinstance(operand, expr.Number) else operand.value
        if field.key in TIME_ATTRIBUTES:
            if isinstance(operand, expr.Number):
                return operand.value
            return self.timestamp(operand)
        value = operand.value if isinstance(operand, expr.String) else operand.text
        if field.key == "status" and value.lower() not in STATUSES:
            raise self.error(
                operand.pos, f"unknown status {value!r}", "statuses: " + ", ".join(STATUSES)
            )
        return value.lower() if field.key == "status" else value

    def timestamp(self, operand: expr.String) -> float:
        try:
            when = dt.datetime.fromisoformat(operand.value)
        except ValueError:
            raise self.error(
                operand.pos,
                f"{operand.text} is not a date or time",
                "write e.g. '2024-05-01T12:00:00'",
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return when.timestamp()


def parse_filter(text: str) -> Node | None:
    """The AST of a filter expression; None for an empty one."""
    if not isinstance(text, str):
        raise InvalidInput(f"a filter is a string such as {EXAMPLE!r}")
    if not text.strip():
        return None

    def error(pos: int, problem: str, hint: str) -> FilterError:
        if not hint and problem.startswith(("expected 'and'", "unexpected character")):
            hint = "a filter looks like: " + EXAMPLE
        return FilterError(text, pos, problem, hint)

    tree = expr.parse(
        text, what="filter", subject=_SUBJECT, value="a number or a 'quoted string'", error=error
    )
    return expr.map_leaves(tree, _Reader(text).compare)


def parse_order_by(text: str) -> OrderKey:
    """One order-by item: ``FIELD [asc|desc]`` (ascending by default)."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("an order-by item is a field with asc or desc, e.g. 'metrics.loss asc'")

    def error(pos: int, problem: str, hint: str) -> FilterError:
        return FilterError(text, pos, problem, hint)

    tokens = expr.tokenize(text, error)
    first = tokens[0]
    if not isinstance(first.value, expr.Name):
        found = "the end" if first.kind == "end" else repr(first.text)
        raise error(first.pos, f"expected {_SUBJECT}, found {found}", _FIELDS)
    field = _Reader(text).field(first.value)
    rest = tokens[1:]
    descending = False
    if rest[0].kind == "word" and rest[0].value in ("asc", "desc"):
        descending = rest[0].value == "desc"
        rest = rest[1:]
    if rest[0].kind != "end":
        raise error(
            rest[0].pos,
            f"expected asc, desc or the end, found {rest[0].text!r}",
            "order by one field per item, e.g. ['metrics.accuracy desc', 'start_time']",
        )
    return OrderKey(field, descending)
