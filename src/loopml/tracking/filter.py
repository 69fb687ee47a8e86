"""The run filter language: a tokenizer and a recursive-descent parser to a small AST.

Grammar (keywords are case-insensitive)::

    filter     := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" or_expr ")" | comparison
    comparison := field op value
                | field ["not"] "in" "(" value ("," value)* ")"
                | field ["not"] ("like" | "ilike") string
    field      := ("metrics" | "params" | "tags" | "attributes") "." key | attribute
    key        := NAME | `any text` | "any text"        NAME: letters, digits, _ . - /
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

Example: ``metrics.accuracy > 0.9 and params.model = 'lr' and attributes.status = 'finished'``
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from loopml.api.runs import RunStatus
from loopml.core.errors import InvalidInput
from loopml.tracking.lexer import EXAMPLE, Field, FilterError, Token, tokenize

Value = float | str

STRING_ATTRIBUTES = ("id", "name", "status", "created_by", "parent_run_id")
TIME_ATTRIBUTES = ("start_time", "end_time")
ATTRIBUTES = STRING_ATTRIBUTES + TIME_ATTRIBUTES
STATUSES = tuple(s.value for s in RunStatus)
KEYWORDS = ("and", "or", "not", "in", "like", "ilike", "asc", "desc")


@dataclass(frozen=True)
class Compare:
    field: Field
    op: str  # = != < <= > >= in, not in, like, not like, ilike, not ilike
    value: Value | tuple[Value, ...]


@dataclass(frozen=True)
class BoolOp:
    op: Literal["and", "or"]
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Compare | BoolOp | Not


@dataclass(frozen=True)
class OrderKey:
    field: Field
    descending: bool


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, problem: str, hint: str = "", tok: Token | None = None) -> FilterError:
        return FilterError(self.text, (tok or self.tok).pos, problem, hint)

    def found(self) -> str:
        return "the end of the filter" if self.tok.kind == "end" else repr(self.tok.text)

    def is_word(self, *words: str) -> bool:
        return self.tok.kind == "word" and self.tok.value in words

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect_end(self) -> None:
        if self.tok.kind != "end":
            raise self.error(
                f"expected 'and', 'or' or the end, found {self.found()}",
                "combine comparisons with and / or, e.g. " + EXAMPLE,
            )

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.is_word("or"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while self.is_word("and"):
            self.advance()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def not_expr(self) -> Node:
        if self.is_word("not"):
            self.advance()
            return Not(self.not_expr())
        if self.tok.kind == "(":
            opening = self.advance()
            node = self.or_expr()
            if self.tok.kind != ")":
                raise self.error(
                    f"expected ')' to close the '(' at column {opening.pos + 1}, found {self.found()}"
                )
            self.advance()
            return node
        return self.comparison()

    def field(self) -> Field:
        tok = self.tok
        if tok.kind == "field":
            self.advance()
            f = tok.value
            assert isinstance(f, Field)
            if f.kind == "attribute" and f.key.lower() not in ATTRIBUTES:
                raise self.error(
                    f"unknown attribute {f.key!r}",
                    "attributes are: " + ", ".join(ATTRIBUTES),
                    tok,
                )
            return Field("attribute", f.key.lower()) if f.kind == "attribute" else f
        if tok.kind == "word" and tok.value in ATTRIBUTES:
            self.advance()
            return Field("attribute", str(tok.value))
        raise self.error(
            f"expected a field such as metrics.accuracy, found {self.found()}",
            "fields are metrics.KEY, params.KEY, tags.KEY or attributes.NAME "
            f"({', '.join(ATTRIBUTES)})",
        )

    def comparison(self) -> Node:
        field = self.field()
        negate = False
        if self.is_word("not"):
            self.advance()
            negate = True
            if not self.is_word("in", "like", "ilike"):
                raise self.error(f"expected in, like or ilike after 'not', found {self.found()}")
        op_tok = self.tok
        if self.is_word("in"):
            self.advance()
            values = self.value_list(field)
            return Compare(field, "not in" if negate else "in", values)
        if self.is_word("like", "ilike"):
            self.advance()
            if field.kind == "metric" or field.key in TIME_ATTRIBUTES:
                raise self.error(f"{field} is a number; like works on strings", tok=op_tok)
            if self.tok.kind != "string":
                raise self.error(
                    f"expected a 'quoted pattern' after {op_tok.text}, found {self.found()}"
                )
            pattern = str(self.advance().value)
            op = str(op_tok.value)
            return Compare(field, f"not {op}" if negate else op, pattern)
        if op_tok.kind != "op":
            raise self.error(
                f"expected an operator (= != < <= > >= in like) after {field}, found {self.found()}"
            )
        self.advance()
        op = {"==": "=", "<>": "!="}.get(op_tok.text, op_tok.text)
        if op not in ("=", "!=") and field.kind in ("param", "tag"):
            raise self.error(
                f"{field} is a string, so {op} does not apply",
                "compare params and tags with =, !=, in or like; log numbers you want to "
                "order as metrics",
                op_tok,
            )
        if op not in ("=", "!=") and field.key in STRING_ATTRIBUTES and field.kind == "attribute":
            raise self.error(f"{field} is a string; compare it with =, !=, in or like", tok=op_tok)
        return Compare(field, op, self.value(field, op_tok))

    def value_list(self, field: Field) -> tuple[Value, ...]:
        if self.tok.kind != "(":
            raise self.error(f"expected '(' to start the list after in, found {self.found()}")
        self.advance()
        values = [self.value(field, self.tok)]
        while self.tok.kind == ",":
            self.advance()
            values.append(self.value(field, self.tok))
        if self.tok.kind != ")":
            raise self.error(f"expected ',' or ')' in the list, found {self.found()}")
        self.advance()
        return tuple(values)

    def value(self, field: Field, after: Token) -> Value:
        tok = self.tok
        if tok.kind not in ("number", "string"):
            quotable = tok.kind == "word" and tok.value not in KEYWORDS
            hint = f"quote strings: '{tok.text}'" if quotable else ""
            raise self.error(
                f"expected a value (a number or a 'quoted string') after {after.text!r}, "
                f"found {self.found()}",
                hint,
            )
        self.advance()
        if field.kind == "metric":
            if tok.kind != "number":
                raise self.error(
                    f"{field} is a number; compare it with a number, e.g. {field} > 0.9", tok=tok
                )
            return float(tok.value)  # type: ignore[arg-type]
        if field.kind in ("param", "tag"):
            return tok.text if tok.kind == "number" else str(tok.value)
        if field.key in TIME_ATTRIBUTES:
            return float(tok.value) if tok.kind == "number" else self.timestamp(tok)  # type: ignore[arg-type]
        value = str(tok.value) if tok.kind == "string" else tok.text
        if field.key == "status" and value.lower() not in STATUSES:
            raise self.error(f"unknown status {value!r}", "statuses: " + ", ".join(STATUSES), tok)
        return value.lower() if field.key == "status" else value

    def timestamp(self, tok: Token) -> float:
        try:
            when = dt.datetime.fromisoformat(str(tok.value))
        except ValueError:
            raise self.error(
                f"{tok.text} is not a date or time", "write e.g. '2024-05-01T12:00:00'", tok
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return when.timestamp()

    def order_key(self) -> OrderKey:
        field = self.field()
        descending = False
        if self.is_word("asc", "desc"):
            descending = self.advance().value == "desc"
        if self.tok.kind != "end":
            raise self.error(
                f"expected asc, desc or the end, found {self.found()}",
                "order by one field per item, e.g. ['metrics.accuracy desc', 'start_time']",
            )
        return OrderKey(field, descending)


def parse_filter(text: str) -> Node | None:
    """The AST of a filter expression; None for an empty one."""
    if not isinstance(text, str):
        raise InvalidInput(f"a filter is a string such as {EXAMPLE!r}")
    if not text.strip():
        return None
    p = _Parser(text)
    node = p.or_expr()
    p.expect_end()
    return node


def parse_order_by(text: str) -> OrderKey:
    """One order-by item: ``FIELD [asc|desc]`` (ascending by default)."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("an order-by item is a field with asc or desc, e.g. 'metrics.loss asc'")
    return _Parser(text).order_key()
