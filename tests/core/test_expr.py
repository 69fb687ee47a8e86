"""The one expression grammar on its own: what it parses to, its limits and its errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from loopml.core import expr
from loopml.core.errors import InvalidInput, LoopError
from loopml.core.expr import (
    MAX_COMPARISONS,
    MAX_DEPTH,
    MAX_LIST,
    Arith,
    BoolOp,
    ExprError,
    Name,
    Not,
    Number,
    String,
)
from loopml.deployments.gate import parse_gate
from loopml.tracking.filter import parse_filter
from loopml.tracking.lexer import FilterError


def _cmp(text: str) -> expr.Compare:
    tree = expr.parse(text)
    assert isinstance(tree, expr.Compare)
    return tree


def test_and_binds_tighter_than_or_and_not_applies_to_one_operand() -> None:
    tree = expr.parse("a > 1 or not b < 2 and c = 'x'")
    assert isinstance(tree, BoolOp) and tree.op == "or"
    first, second = tree.items
    assert isinstance(first, expr.Compare) and first.left == Name(None, "a", "a", 0)
    assert isinstance(second, BoolOp) and second.op == "and"
    assert isinstance(second.items[0], Not)
    assert [c.op for c in expr.leaves(tree)] == [">", "<", "="]


@pytest.mark.parametrize(
    ("text", "left", "op", "right"),
    [
        ("metrics.val.acc >= .5", Name("metrics", "val.acc", "metrics.val.acc", 0), ">=", 0.5),
        (
            "metrics.`val loss` == 1e-3",
            Name("metrics", "val loss", "metrics.`val loss`", 0),
            "=",
            0.001,
        ),
        ('params."odd key" <> -2', Name("params", "odd key", 'params."odd key"', 0), "!=", -2.0),
        ("val/loss < - 1", Name(None, "val/loss", "val/loss", 0), "<", -1.0),
        ("f1-score > 0.8", Name(None, "f1-score", "f1-score", 0), ">", 0.8),
    ],
)
def test_names_numbers_and_operators_read_one_way(
    text: str, left: Name, op: str, right: float
) -> None:
    node = _cmp(text)
    assert node.left == left and node.op == op
    assert isinstance(node.right, Number) and node.right.value == right


def test_strings_lists_like_and_margins() -> None:
    node = _cmp('tags.t not in (\'a\', "b\\"c")')
    assert node.op == "not in" and isinstance(node.right, tuple)
    assert [v.value for v in node.right if isinstance(v, String)] == ["a", 'b"c']
    assert _cmp("tags.t not ilike 'A%'").op == "not ilike"
    margin = _cmp("acc >= production - 0.5").right
    assert isinstance(margin, Arith) and margin.op == "-"
    assert isinstance(margin.left, Name) and margin.left.key == "production"
    assert isinstance(margin.right, Number) and margin.right.value == 0.5
    glued = _cmp("acc >= production-0.5").right  # one name, as an alias may be called
    assert isinstance(glued, Name) and glued.text == "production-0.5"
    assert _cmp("acc >= 2024q1").right == Name(None, "2024q1", "2024q1", 7)


def test_comparison_span_is_its_text() -> None:
    text = "a > 1 and  (bb <= production + 2)"
    spans = [text[slice(*c.span)] for c in expr.leaves(expr.parse(text))]
    assert spans == ["a > 1", "bb <= production + 2"]


@pytest.mark.parametrize(
    ("text", "column", "says"),
    [
        ("a >", 4, "expected a value"),
        ("a > 1 b", 7, "expected 'and', 'or'"),
        ("(a > 1", 7, "expected ')'"),
        ("a ~ 1", 3, "unexpected character"),
        ("a ! 1", 3, "unknown operator"),
        ("a = 'x", 5, "never closed"),
        ("a in 1", 6, "expected '('"),
        ("a in (1 2)", 9, "expected ',' or ')'"),
        ("a not = 1", 7, "expected in, like or ilike"),
        ("a 1", 3, "expected an operator"),
        ("a > - b", 7, "expected a number after '-'"),
        ("and", 1, "expected a name"),
        ("metrics. > 1", 9, "expected a key"),
    ],
)
def test_errors_point_at_the_column(text: str, column: int, says: str) -> None:
    with pytest.raises(ExprError) as info:
        expr.parse(text)
    assert info.value.column == column and says in str(info.value), str(info.value)
    assert isinstance(info.value, InvalidInput) and isinstance(info.value, LoopError)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 400, 10_000])
@pytest.mark.parametrize(
    ("shape", "levels"),
    [
        (lambda d: "(" * d + "a > 1" + ")" * d, 1),
        (lambda d: "not " * d + "a > 1", 1),
        (lambda d: "not (" * d + "a > 1" + ")" * d, 2),
        (lambda d: "(a > 1 and " * d + "b < 2" + ")" * d, 1),
        (lambda d: "(x in (1, 2) or not " * d + "b < 2" + ")" * d, 2),
        (lambda d: "(" * d, 1),  # never closed either: the depth is still what is reported
    ],
    ids=["parentheses", "not", "not-parentheses", "and-chain", "lists-and-not", "unclosed"],
)
def test_deep_nesting_is_a_clear_error_not_a_recursion_error(
    depth: int, shape: Callable[[int], str], levels: int
) -> None:
    text = shape(depth)
    measured = depth * levels
    with pytest.raises(ExprError) as info:
        expr.parse(text)
    message = str(info.value)
    assert f"nests {measured} levels deep; at most {MAX_DEPTH} are allowed" in message
    assert max(len(line) for line in message.splitlines()) < 200  # the text is cut, not dumped


def test_the_deepest_allowed_nesting_parses() -> None:
    deepest = expr.parse("(" * MAX_DEPTH + "a > 1" + ")" * MAX_DEPTH)
    assert isinstance(deepest, expr.Compare) and deepest.span == (MAX_DEPTH, MAX_DEPTH + 5)
    assert isinstance(expr.parse("not " * MAX_DEPTH + "a > 1"), Not)


def test_size_limits_are_clear_errors() -> None:
    widest = " or ".join(["a = 1"] * MAX_COMPARISONS)
    assert len(expr.leaves(expr.parse(widest))) == MAX_COMPARISONS
    with pytest.raises(ExprError, match=f"more than {MAX_COMPARISONS} comparisons"):
        expr.parse(widest + " or a = 2")
    longest = "a in (" + ",".join(["1"] * MAX_LIST) + ")"
    assert isinstance(expr.parse(longest), expr.Compare)
    with pytest.raises(ExprError, match=f"more than {MAX_LIST} values"):
        expr.parse(longest[:-1] + ",1)")


@pytest.mark.parametrize(
    "text",
    ["(" * 400 + "metrics.a > 1" + ")" * 400, "not " * 10_000 + "metrics.a > 1"],
)
def test_filters_and_gates_share_the_limits(text: str) -> None:
    with pytest.raises(FilterError, match="at most 24 are allowed"):
        parse_filter(text)
    gate = text.replace("metrics.a", "accuracy")
    with pytest.raises(ExprError, match=r"cannot read gate.*at most 24 are allowed"):
        parse_gate(gate)


def test_filter_and_gate_errors_sit_under_loop_error() -> None:
    assert issubclass(FilterError, ExprError) and issubclass(ExprError, InvalidInput)
    assert issubclass(InvalidInput, LoopError)
    with pytest.raises(FilterError):
        parse_filter("metrics.a >")
    with pytest.raises(ExprError):
        parse_gate("accuracy >")
