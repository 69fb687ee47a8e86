from __future__ import annotations

import pytest

from loopml.core.errors import InvalidInput, InvalidName
from loopml.core.names import is_digest, parse_digest, validate_name
from loopml.core.paths import safe_relpath
from loopml.core.refs import Ref, parse_ref


@pytest.mark.parametrize("name", ["churn", "a", "A1.b_c-d", "x" * 128, "0day"])
def test_valid_names_are_accepted(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "../x", "a/b", "x" * 129, "x" * 300, "a\x00b", "-a", ".a", "a b", "é"]
)
def test_invalid_names_are_rejected_with_the_rule(name: str) -> None:
    with pytest.raises(InvalidName, match="letters, digits"):
        validate_name(name)


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("churn", Ref("churn")),
        ("churn@3", Ref("churn", version=3)),
        ("churn/7", Ref("churn", version=7)),
        ("churn@production", Ref("churn", alias="production")),
    ],
)
def test_refs_parse(text: str, ref: Ref) -> None:
    assert parse_ref(text) == ref
    assert str(parse_ref(text)) == text.replace("/", "@")


@pytest.mark.parametrize(
    "text", ["", "churn@", "churn@0", "churn/x", "../x@1", "a@b@c", "churn@-1"]
)
def test_bad_refs_raise_clear_errors(text: str) -> None:
    with pytest.raises((InvalidInput, InvalidName)):
        parse_ref(text)


@pytest.mark.parametrize("path", ["a.csv", "sub/a.csv", "a/./b", "a//b"])
def test_safe_relpath_normalizes(path: str) -> None:
    assert ".." not in safe_relpath(path).split("/")


@pytest.mark.parametrize(
    "path", ["", "/etc/passwd", "../x", "a/../../x", "a\\b", "a\x00", ".", "a/.."]
)
def test_safe_relpath_refuses_escapes(path: str) -> None:
    with pytest.raises(InvalidInput):
        safe_relpath(path)


def test_aliases_are_names_that_are_not_numbers() -> None:
    from loopml.core.names import validate_alias

    assert validate_alias("production") == "production"
    assert parse_ref("m@v7") == Ref("m", alias="v7")
    for bad in ("7", "bad name", "-x", ""):
        with pytest.raises(InvalidName):
            validate_alias(bad)


def test_an_alias_where_none_exist_is_refused_by_the_ref() -> None:
    from loopml.core.errors import NotFound

    assert parse_ref("d@3").without_alias("dataset") == Ref("d", version=3)
    with pytest.raises(NotFound, match=r"datasets have no aliases \(d@prod\); .* d@1"):
        parse_ref("d@prod").without_alias("dataset")


GOOD = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    "value",
    [
        GOOD.upper(),
        GOOD[:-1] + "F",
        " " + GOOD,
        GOOD + " ",
        GOOD[:32] + " " + GOOD[32:-1],
        GOOD[:-2],
        GOOD + "00",
        GOOD[:-1] + "g",
        "",
        None,
        32,
        bytes(32),
        GOOD.encode(),
    ],
)
def test_only_64_lowercase_hex_digits_are_a_digest(value: object) -> None:
    assert parse_digest(value) is None
    assert not is_digest(value)


def test_a_digest_parses_to_its_32_bytes() -> None:
    assert parse_digest(GOOD) == bytes.fromhex(GOOD)
    assert is_digest(GOOD)
