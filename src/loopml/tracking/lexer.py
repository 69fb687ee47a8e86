"""The tokenizer of the run filter language (grammar in :mod:`loopml.tracking.filter`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from loopml.core.errors import InvalidInput

Kind = Literal["metric", "param", "tag", "attribute"]
PREFIXES: dict[str, Kind] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
}
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/")
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_OPS = ("<=", ">=", "!=", "<>", "==", "=", "<", ">")
EXAMPLE = "metrics.accuracy > 0.9 and params.model = 'lr'"


class FilterError(InvalidInput):
    """A filter or order-by expression that does not parse; points at the position."""

    def __init__(self, text: str, position: int, problem: str, hint: str = "") -> None:
        self.text = text
        self.position = position
        self.column = position + 1
        shown = text.replace("\n", " ")
        msg = (
            f"invalid expression at column {self.column}: {problem}\n  {shown}\n  {' ' * position}^"
        )
        super().__init__(msg + (f"\n{hint}" if hint else ""))


@dataclass(frozen=True)
class Field:
    kind: Kind
    key: str

    def __str__(self) -> str:
        return f"{self.kind}s.{self.key}" if self.kind != "attribute" else f"attributes.{self.key}"


@dataclass(frozen=True)
class Token:
    kind: str  # field word number string op ( ) , end
    text: str
    pos: int
    value: object = None


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; FilterError at the first character that fits none."""
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "(),":
            out.append(Token(c, c, i))
            i += 1
        elif c in "<>=!":
            op = next((o for o in _OPS if text.startswith(o, i)), None)
            if op is None:
                raise FilterError(text, i, f"unknown operator {c!r}", "use = != < <= > >=")
            out.append(Token("op", op, i))
            i += len(op)
        elif c in "'\"":
            s, j = _read_quoted(text, i)
            out.append(Token("string", text[i:j], i, s))
            i = j
        elif c.isdigit() or (
            c in "+-." and i + 1 < n and (text[i + 1].isdigit() or text[i + 1] == ".")
        ):
            j = _number_end(text, i)
            try:
                number = float(text[i:j])
            except ValueError:
                raise FilterError(text, i, f"{text[i:j]!r} is not a number") from None
            out.append(Token("number", text[i:j], i, number))
            i = j
        elif c in _WORD_CHARS:
            j = i
            while j < n and text[j] in _WORD_CHARS:
                j += 1
            word = text[i:j]
            if j < n and text[j] == ".":
                kind = PREFIXES.get(word.lower())
                if kind is None:
                    raise FilterError(
                        text,
                        i,
                        f"unknown prefix {word!r}",
                        "fields are metrics.KEY, params.KEY, tags.KEY or attributes.NAME",
                    )
                key, j = _read_key(text, j + 1)
                out.append(Token("field", text[i:j], i, Field(kind, key)))
            else:
                out.append(Token("word", word, i, word.lower()))
            i = j
        else:
            raise FilterError(
                text, i, f"unexpected character {c!r}", f"a filter looks like: {EXAMPLE}"
            )
    out.append(Token("end", "", n))
    return out


def _read_quoted(text: str, start: int) -> tuple[str, int]:
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
    raise FilterError(text, start, "this quoted string is never closed", f"close it with {quote}")


def _read_key(text: str, i: int) -> tuple[str, int]:
    if i < len(text) and text[i] in '`"':
        key, j = _read_quoted(text, i)
        if not key:
            raise FilterError(text, i, "empty key")
        return key, j
    j = i
    while j < len(text) and text[j] in _KEY_CHARS:
        j += 1
    if j == i:
        raise FilterError(
            text, i, "expected a key after the '.'", "quote odd keys: metrics.`my key`"
        )
    return text[i:j], j


def _number_end(text: str, i: int) -> int:
    j = i + 1
    while j < len(text) and (text[j].isdigit() or text[j] == "."):
        j += 1
    if j < len(text) and text[j] in "eE":
        k = j + 1
        if k < len(text) and text[k] in "+-":
            k += 1
        if k < len(text) and text[k].isdigit():
            j = k
            while j < len(text) and text[j].isdigit():
                j += 1
    return j
