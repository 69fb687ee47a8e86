"""The one expression grammar of loopml: run filters, deploy gates (and next, alert rules).

A pure tokenizer and recursive-descent parser to a small frozen AST; each user of the grammar
gives the names and values their meaning (``loopml.tracking.filter`` compiles to SQL,
``loopml.deployments.gate`` evaluates against model versions). Grammar (keywords are
case-insensitive)::

    expr       := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" or_expr ")" | comparison
    comparison := operand op operand
                | operand ["not"] "in" "(" operand ("," operand)* ")"
                | operand ["not"] ("like" | "ilike") operand
    operand    := term (("+" | "-") term)*
    term       := ["+" | "-"] number | string | name
    name       := WORD | WORD "." KEY | WORD "." `any text` | WORD "." "any text"
    op         := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="

``WORD`` starts with a letter or ``_`` and goes on with letters, digits, ``_ . - /`` (so
``val/loss`` and ``f1-score`` are names; write ``a - 1`` with spaces for a difference). Strings
are quoted with ``'`` or ``"``; inside, a backslash before the quote or a backslash makes it
literal. ``not``/parentheses nest at most :data:`MAX_DEPTH` (24) levels deep, an expression
has at most :data:`MAX_COMPARISONS` (256) comparisons and a list at most :data:`MAX_LIST`
(10,000) values.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar, Union

from loopml.core.errors import InvalidInput

# What a comparison's operator means on two numbers (gates and monitor rules judge with it).
COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "=": operator.eq,
    "!=": operator.ne,
}

# SQLite's parser overflows on run filters that alternate and/or about 30 parentheses deep.
MAX_DEPTH = 24
# Databases refuse what is far bigger (SQLite: 500 terms in a compound SELECT, an expression
# tree 1000 deep; PostgreSQL: 65,535 bound values), so the limits are met here, with a message.
MAX_COMPARISONS = 256
MAX_LIST = 10_000
KEYWORDS = frozenset({"and", "or", "not", "in", "like", "ilike", "asc", "desc"})
COMPARISONS = ("<=", ">=", "!=", "<>", "==", "=", "<", ">")
_CANONICAL = {"==": "=", "<>": "!="}
_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_WORD = _START | frozenset("0123456789")
_NAME = _WORD | frozenset(".-/")
_SHOWN = 60  # characters of context shown either side of an error


class ExprError(InvalidInput):
    """An expression that does not parse; the message points at the column."""

    def __init__(
        self, text: str, position: int, problem: str, hint: str = "", lead: str = ""
    ) -> None:
        self.text = text
        self.position = position
        self.column = position + 1
        self.problem = problem
        self.hint = hint
        shown, caret = _excerpt(text, position)
        head = lead or "invalid expression"
        msg = f"{head} at column {self.column}: {problem}\n  {shown}\n  {' ' * caret}^"
        super().__init__(msg + (f"\n{hint}" if hint else ""))


def _excerpt(text: str, position: int) -> tuple[str, int]:
    """One line of ``text`` around ``position`` (long expressions are cut) and the caret."""
    flat = "".join(" " if c in "\r\n\t" else c for c in text)
    if len(flat) <= 2 * _SHOWN + 20:
        return flat, position
    start = max(0, position - _SHOWN)
    end = min(len(flat), position + _SHOWN)
    prefix = "..." if start else ""
    return prefix + flat[start:end] + ("..." if end < len(flat) else ""), position - start + len(
        prefix
    )


@dataclass(frozen=True)
class Token:
    kind: str  # name word number string op + - ( ) , end   (word: a keyword, lower case)
    text: str
    pos: int
    value: object = None


@dataclass(frozen=True)
class Name:
    """``accuracy`` (prefix None) or ``metrics.accuracy`` / ``metrics.`val loss```."""

    prefix: str | None
    key: str
    text: str
    pos: int


@dataclass(frozen=True)
class Number:
    value: float
    text: str
    pos: int


@dataclass(frozen=True)
class String:
    value: str
    text: str
    pos: int


@dataclass(frozen=True)
class Arith:
    """``left + right`` or ``left - right`` (a gate's ``production - 0.5``)."""

    left: Operand
    op: Literal["+", "-"]
    right: Operand
    pos: int  # of the sign
    text: str  # as written


Operand = Name | Number | String | Arith


@dataclass(frozen=True)
class Compare:
    """``left op right``; ``op`` is one of = != < <= > >= in, not in, like, not like, ilike,
    not ilike (``==`` and ``<>`` read as ``=`` and ``!=``); ``right`` is a tuple for in."""

    left: Operand
    op: str
    right: Operand | tuple[Operand, ...]
    pos: int  # of the operator
    span: tuple[int, int]  # of the whole comparison in the text


L = TypeVar("L")
T = TypeVar("T")


@dataclass(frozen=True)
class BoolOp(Generic[L]):
    op: Literal["and", "or"]
    items: tuple[Tree[L], ...]


@dataclass(frozen=True)
class Not(Generic[L]):
    item: Tree[L]


Tree = Union[L, BoolOp[L], Not[L]]  # noqa: UP007 (a generic alias needs Union on 3.11)


def map_leaves(tree: Tree[L], leaf: Callable[[L], T]) -> Tree[T]:
    """The same tree with every comparison replaced by ``leaf(comparison)``, left to right."""
    if isinstance(tree, BoolOp):
        return BoolOp(tree.op, tuple(map_leaves(item, leaf) for item in tree.items))
    if isinstance(tree, Not):
        return Not(map_leaves(tree.item, leaf))
    return leaf(tree)


def leaves(tree: Tree[L]) -> list[L]:
    """The comparisons of ``tree``, left to right."""
    if isinstance(tree, BoolOp):
        return [x for item in tree.items for x in leaves(item)]
    if isinstance(tree, Not):
        return leaves(tree.item)
    return [tree]


# ---------- tokenizer
def tokenize(text: str, error: Callable[[int, str, str], ExprError]) -> list[Token]:
    """Split ``text`` into tokens; ``error(position, problem, hint)`` at a character that fits
    none."""
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "(),+-":
            out.append(Token(c, c, i))
            i += 1
        elif c in "<>=!":
            op = next((o for o in COMPARISONS if text.startswith(o, i)), None)
            if op is None:
                raise error(i, f"unknown operator {c!r}", "use = != < <= > >=")
            out.append(Token("op", op, i, _CANONICAL.get(op, op)))
            i += len(op)
        elif c in "'\"":
            s, j = _read_quoted(text, i, error)
            out.append(Token("string", text[i:j], i, s))
            i = j
        elif c in "0123456789" or (c == "." and i + 1 < n and text[i + 1] in "0123456789"):
            j = _number_end(text, i)
            if j < n and text[j] in _START:
                out.append(_name(text, i, error))  # 2024q1: a name that starts with digits
            else:
                out.append(Token("number", text[i:j], i, float(text[i:j])))
            i = out[-1].pos + len(out[-1].text)
        elif c in _START:
            out.append(_name(text, i, error))
            i += len(out[-1].text)
        else:
            raise error(i, f"unexpected character {c!r}", "")
    out.append(Token("end", "", n))
    return out


def _name(text: str, start: int, error: Callable[[int, str, str], ExprError]) -> Token:
    """A name or keyword from ``start``; a quoted key may follow the first ``WORD.``."""
    j = start
    while j < len(text) and text[j] in _WORD:
        j += 1
    word = text[start:j]
    if j < len(text) and text[j] == "." and j + 1 < len(text) and text[j + 1] in '`"':
        key, end = _read_quoted(text, j + 1, error)
        return Token("name", text[start:end], start, Name(word, key, text[start:end], start))
    while j < len(text) and text[j] in _NAME:
        j += 1
    whole = text[start:j]
    if "." not in whole:
        if whole.lower() in KEYWORDS:
            return Token("word", whole, start, whole.lower())
        return Token("name", whole, start, Name(None, whole, whole, start))
    prefix, _, key = whole.partition(".")
    if not key:
        raise error(j, "expected a key after the '.'", "quote odd keys: metrics.`my key`")
    return Token("name", whole, start, Name(prefix, key, whole, start))


def _read_quoted(
    text: str, start: int, error: Callable[[int, str, str], ExprError]
) -> tuple[str, int]:
    quote, i, buf = text[start], start + 1, []
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in (quote, "\\"):
            buf.append(text[i + 1])
            i += 2
        elif c == quote:
            return "".join(buf), i + 1
        else:
            buf.append(c)
            i += 1
    raise error(start, "this quoted string is never closed", f"close it with {quote}")


def _number_end(text: str, i: int) -> int:
    j = i + 1
    while j < len(text) and (text[j].isdigit() or text[j] == "."):
        j += 1
    if text[i:j].count(".") > 1:
        return i + text[i:j].index(".", text[i:j].index(".") + 1)  # 1.2.3: the number is 1.2
    if j < len(text) and text[j] in "eE":
        k = j + 1
        if k < len(text) and text[k] in "+-":
            k += 1
        if k < len(text) and text[k].isdigit():
            j = k
            while j < len(text) and text[j].isdigit():
                j += 1
    return j


# ---------- parser
class _Parser:
    def __init__(
        self,
        text: str,
        what: str,
        subject: str,
        value: str,
        error: Callable[[int, str, str], ExprError],
    ) -> None:
        self.text = text
        self.what = what
        self.subject = subject
        self.value = value
        self.make_error = error
        self.tokens = tokenize(text, error)
        self.i = 0
        self.depth = 0
        self.comparisons = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, problem: str, hint: str = "", tok: Token | None = None) -> ExprError:
        return self.make_error((tok or self.tok).pos, problem, hint)

    def found(self) -> str:
        return f"the end of the {self.what}" if self.tok.kind == "end" else repr(self.tok.text)

    def is_word(self, *words: str) -> bool:
        return self.tok.kind == "word" and self.tok.value in words

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def enter(self) -> None:
        """One level deeper (a ``not`` or a parenthesis); past MAX_DEPTH a clear error instead
        of Python's RecursionError."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(
                f"the {self.what} nests {nesting(self.tokens)} levels deep; "
                f"at most {MAX_DEPTH} are allowed",
                "remove redundant parentheses and double negations; "
                "a and b and c needs no parentheses",
            )

    def or_expr(self) -> Tree[Compare]:
        items = [self.and_expr()]
        while self.is_word("or"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_expr(self) -> Tree[Compare]:
        items = [self.not_expr()]
        while self.is_word("and"):
            self.advance()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def not_expr(self) -> Tree[Compare]:
        if self.is_word("not"):
            self.enter()
            self.advance()
            node: Tree[Compare] = Not(self.not_expr())
            self.depth -= 1
            return node
        if self.tok.kind == "(":
            self.enter()
            opening = self.advance()
            node = self.or_expr()
            if self.tok.kind != ")":
                raise self.error(
                    f"expected ')' to close the '(' at column {opening.pos + 1}, found {self.found()}"
                )
            self.advance()
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Compare:
        first = self.tok
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise self.error(
                f"the {self.what} has more than {MAX_COMPARISONS} comparisons",
                "compare with a list instead of many or-ed equalities: params.m in ('a', 'b')",
            )
        if first.kind not in ("name", "number", "string", "-", "+"):
            raise self.error(f"expected {self.subject}, found {self.found()}")
        left = self.operand(None)
        negate = False
        if self.is_word("not"):
            self.advance()
            negate = True
            if not self.is_word("in", "like", "ilike"):
                raise self.error(f"expected in, like or ilike after 'not', found {self.found()}")
        op_tok = self.tok
        right: Operand | tuple[Operand, ...]
        if self.is_word("in"):
            self.advance()
            right = self.operand_list()
            op = "in"
        elif self.is_word("like", "ilike") or op_tok.kind == "op":
            self.advance()
            right = self.operand(op_tok)
            op = str(op_tok.value)
        else:
            raise self.error(
                f"expected an operator (= != < <= > >= in like) after {left.text}, "
                f"found {self.found()}"
            )
        end = self.tokens[self.i - 1]
        op = f"not {op}" if negate else op
        return Compare(left, op, right, op_tok.pos, (first.pos, end.pos + len(end.text)))

    def operand_list(self) -> tuple[Operand, ...]:
        if self.tok.kind != "(":
            raise self.error(f"expected '(' to start the list after in, found {self.found()}")
        opening = self.advance()
        values = [self.operand(opening)]
        while self.tok.kind == ",":
            comma = self.advance()
            values.append(self.operand(comma))
            if len(values) > MAX_LIST:
                raise self.error(
                    f"the list after in has more than {MAX_LIST} values",
                    "split the search in several",
                    comma,
                )
        if self.tok.kind != ")":
            raise self.error(f"expected ',' or ')' in the list, found {self.found()}")
        self.advance()
        return tuple(values)

    def operand(self, after: Token | None) -> Operand:
        start = self.tok.pos
        node = self.term(after)
        while self.tok.kind in ("+", "-"):
            sign = self.advance()
            right = self.term(sign)
            last = self.tokens[self.i - 1]
            text = self.text[start : last.pos + len(last.text)]
            node = Arith(node, "+" if sign.kind == "+" else "-", right, sign.pos, text)
        return node

    def term(self, after: Token | None) -> Operand:
        tok = self.tok
        if tok.kind in ("+", "-"):
            self.advance()
            if self.tok.kind != "number":
                raise self.error(f"expected a number after {tok.text!r}, found {self.found()}")
            num = self.advance()
            value = float(num.value) if isinstance(num.value, float) else 0.0
            text = self.text[tok.pos : num.pos + len(num.text)].replace(" ", "")
            return Number(-value if tok.kind == "-" else value, text, tok.pos)
        if tok.kind == "number" and isinstance(tok.value, float):
            self.advance()
            return Number(tok.value, tok.text, tok.pos)
        if tok.kind == "string":
            self.advance()
            return String(str(tok.value), tok.text, tok.pos)
        if tok.kind == "name" and isinstance(tok.value, Name):
            self.advance()
            return tok.value
        where = f" after {after.text!r}" if after is not None else ""
        raise self.error(f"expected a value ({self.value}){where}, found {self.found()}")


def nesting(tokens: list[Token]) -> int:
    """How deep ``not`` and parentheses nest in a token list (without recursing)."""
    stack: list[str] = []  # "not", "(" (a group) or "list" (after in: not a level)
    depth = deepest = 0
    previous: Token | None = None
    for tok in tokens:
        opens = (
            previous is None
            or previous.kind == "("
            or (previous.kind == "word" and previous.value in ("and", "or", "not"))
        )
        if tok.kind == "word" and tok.value == "not" and opens:
            stack.append("not")
            depth += 1
        elif tok.kind == "(":
            stack.append("(" if opens else "list")
            depth += stack[-1] == "("
        elif tok.kind in (")", "end") or (tok.kind == "word" and tok.value in ("and", "or")):
            while stack and stack[-1] == "not":  # a not ends with its operand
                stack.pop()
                depth -= 1
            if tok.kind == ")" and stack:
                depth -= stack.pop() == "("
        deepest = max(deepest, depth)
        previous = tok
    return deepest


def parse(
    text: str,
    *,
    what: str = "expression",
    subject: str = "a name such as accuracy",
    value: str = "a number, a 'quoted string' or a name",
    error: Callable[[int, str, str], ExprError] | None = None,
) -> Tree[Compare]:
    """The AST of ``text``; ``error(position, problem, hint)`` builds the exception raised
    (an :class:`ExprError` by default); ``what``, ``subject`` (the left side of a comparison)
    and ``value`` (the right side) word its messages."""
    make = error or (lambda pos, problem, hint: ExprError(text, pos, problem, hint))
    p = _Parser(text, what, subject, value, make)
    tree = p.or_expr()
    if p.tok.kind != "end":
        raise p.error(f"expected 'and', 'or' or the end, found {p.found()}")
    return tree
