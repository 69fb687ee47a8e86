"""The filter language on its own: what parses, to what, and where errors point."""

from __future__ import annotations

import pytest

from loopml.core.errors import InvalidInput
from loopml.tracking.filter import (
    BoolOp,
    Compare,
    Not,
    OrderKey,
    parse_filter,
    parse_order_by,
)
from loopml.tracking.lexer import Field, FilterError


def test_comparisons_combine_with_and_binding_tighter_than_or() -> None:
    node = parse_filter("metrics.a > 1 or metrics.b < 2 and params.m = 'lr'")
    assert node == BoolOp(
        "or",
        (
            Compare(Field("metric", "a"), ">", 1.0),
            BoolOp(
                "and",
                (
                    Compare(Field("metric", "b"), "<", 2.0),
                    Compare(Field("param", "m"), "=", "lr"),
                ),
            ),
        ),
    )


def test_parentheses_not_and_keywords_are_case_insensitive() -> None:
    node = parse_filter('NOT (metrics.a >= 1 OR tags.t != "x")')
    assert node == Not(
        BoolOp(
            "or",
            (Compare(Field("metric", "a"), ">=", 1.0), Compare(Field("tag", "t"), "!=", "x")),
        )
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.acc == 1e-3", Compare(Field("metric", "acc"), "=", 0.001)),
        ("metrics.loss <> -2.5", Compare(Field("metric", "loss"), "!=", -2.5)),
        ("metrics.val.acc>.5", Compare(Field("metric", "val.acc"), ">", 0.5)),
        ("metrics.`my key` <= 3", Compare(Field("metric", "my key"), "<=", 3.0)),
        ('params."odd key" = 1', Compare(Field("param", "odd key"), "=", "1")),
        ("params.depth = 5", Compare(Field("param", "depth"), "=", "5")),
        ("params.lr = 1e-3", Compare(Field("param", "lr"), "=", "1e-3")),
        ("params.m in ('lr', 'rf')", Compare(Field("param", "m"), "in", ("lr", "rf"))),
        ("params.m not in ('lr')", Compare(Field("param", "m"), "not in", ("lr",))),
        ("tags.note like 'ba%'", Compare(Field("tag", "note"), "like", "ba%")),
        ("tags.note not ilike 'BA%'", Compare(Field("tag", "note"), "not ilike", "BA%")),
        ("params.s = 'it\\'s'", Compare(Field("param", "s"), "=", "it's")),
        ("tags.n like '%\\_%'", Compare(Field("tag", "n"), "like", "%\\_%")),
        ("tags.n = 'a\\\\b'", Compare(Field("tag", "n"), "=", "a\\b")),
        ("status = 'FINISHED'", Compare(Field("attribute", "status"), "=", "finished")),
        ("attributes.name = 'a'", Compare(Field("attribute", "name"), "=", "a")),
        ("attr.start_time > 10", Compare(Field("attribute", "start_time"), ">", 10.0)),
        (
            "attributes.start_time >= '1970-01-02'",
            Compare(Field("attribute", "start_time"), ">=", 86400.0),
        ),
        ("metric.a in (1, 2.5)", Compare(Field("metric", "a"), "in", (1.0, 2.5))),
    ],
)
def test_filter_forms_parse_to_typed_comparisons(text: str, expected: Compare) -> None:
    assert parse_filter(text) == expected


def test_empty_filter_is_no_filter() -> None:
    assert parse_filter("   ") is None


@pytest.mark.parametrize(
    ("text", "column", "says"),
    [
        ("metrics.accuracy > and params.model = 'lr'", 20, "expected a value"),
        ("metrics.accuracy > 0.9 params.model = 'lr'", 24, "expected 'and', 'or'"),
        ("metrics.accuracy > 'high'", 20, "is a number"),
        ("metrics.a > 1 and (params.m = 'x'", 34, "expected ')'"),
        ("params.m = 'open", 12, "never closed"),
        ("params.lr > 0.1", 11, "is a string"),
        ("metricz.a > 1", 1, "unknown prefix"),
        ("accuracy > 1", 1, "expected a field"),
        ("attributes.colour = 'x'", 1, "unknown attribute"),
        ("status = 'done'", 10, "unknown status"),
        ("metrics.a ~ 1", 11, "unexpected character"),
        ("metrics.a > 1 and", 18, "expected a field"),
        ("params.model = lr", 16, "quote strings"),
        ("metrics.a like '1%'", 11, "like works on strings"),
        ("start_time > 'yesterday'", 14, "not a date"),
        ("metrics. > 1", 9, "expected a key"),
        ("params.m in 'a'", 13, "expected '('"),
    ],
)
def test_bad_filter_is_an_error_that_points_at_the_position(
    text: str, column: int, says: str
) -> None:
    with pytest.raises(FilterError) as info:
        parse_filter(text)
    err = info.value
    assert isinstance(err, InvalidInput)
    assert says in str(err)
    assert err.column == column, str(err)
    lines = str(err).splitlines()
    assert lines[0].startswith(f"invalid expression at column {column}:")
    assert lines[1] == "  " + text
    assert lines[2] == "  " + " " * (column - 1) + "^"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.acc desc", OrderKey(Field("metric", "acc"), True)),
        ("metrics.loss", OrderKey(Field("metric", "loss"), False)),
        ("params.m ASC", OrderKey(Field("param", "m"), False)),
        ("start_time desc", OrderKey(Field("attribute", "start_time"), True)),
    ],
)
def test_order_by_items_parse(text: str, expected: OrderKey) -> None:
    assert parse_order_by(text) == expected


def test_bad_order_by_points_at_the_position() -> None:
    with pytest.raises(FilterError) as info:
        parse_order_by("metrics.acc downwards")
    assert info.value.column == 13
    with pytest.raises(InvalidInput):
        parse_order_by("")


def test_the_documented_examples_parse() -> None:
    import re

    from loopml.tracking import filter as module

    examples = re.findall(r"Example: ``(.+?)``", module.__doc__ or "")
    assert examples
    for text in examples:
        assert parse_filter(text) is not None
