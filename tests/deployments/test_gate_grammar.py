"""Deploy gates on the one expression grammar: every form, and/or/not, and errors that show
the syntax the parser accepts."""

from __future__ import annotations

import pytest

from loopml.core.errors import InvalidInput
from loopml.deployments import gate as gate_module
from loopml.deployments.gate import SYNTAX, parse_gate
from loopml.sdk import Client
from tests.plugins.models import fill_gate_registry


@pytest.fixture
def registry(client: Client, tiny_model: object) -> Client:
    """The registry of ``fill_gate_registry`` (tests/plugins/models.py)."""
    return fill_gate_registry(client, tiny_model)  # type: ignore[no-any-return]


CASES = [
    # gate on version 2 (accuracy 0.90, rmse 2) against production v1 (0.80, 3); passes?
    ("accuracy >= production", True),
    ("accuracy >= production + 0.2", False),
    ("accuracy > 0.95 or rmse < production", True),
    ("accuracy > 0.95 or rmse > production", False),
    ("not accuracy > 0.95", True),
    ("not (accuracy > 0.85 and rmse < production - 0.5)", False),
    ("(accuracy = 0.9 or accuracy == 0.8) and rmse <> 3", True),
    ("metrics.accuracy >= production and metrics.`rmse` <= 2", True),
    ("ACCURACY > 0.5 OR accuracy > 0.5", True),  # keywords ignore case, metric keys do not
]


def test_gate_forms_decide_like_the_expression_says(registry: Client) -> None:
    for text, passes in CASES:
        _, verdict = registry.deployments.check("m", version=2, gate=text)
        assert verdict.passed is passes, (text, verdict.reason)
        assert len(verdict.checks) == len(parse_gate(text))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("accuracy >= production, auc > 0.8", "expected 'and', 'or' or the end, found ','"),
        ("accuracy >>= 1", "expected a value"),
        ("accuracy => 1", "expected a value"),
        ("accuracy in (1, 2)", "gates compare with"),
        ("accuracy like 'a%'", "gates compare with"),
        ("0.9 <= accuracy", "metric name on the left"),
        ("accuracy > 'high'", "a number or an alias"),
        ("accuracy > production + staging", "a number or an alias"),
        (".hidden > 1", "unexpected character"),
        ("metrics.`.hidden` > 1", "invalid metric key"),
        ("accuracy > bad!alias", "unknown operator"),
        ("(" * 30 + "accuracy > 1" + ")" * 30, "nests 30 levels deep"),
    ],
)
def test_bad_gates_show_the_syntax_the_parser_accepts(text: str, says: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_gate(text)
    message = str(info.value)
    assert message.startswith("cannot read gate at column") and says in message, message
    if "nests" not in says and "operator" not in says:
        assert SYNTAX in message


def test_the_documented_syntax_and_example_parse() -> None:
    clauses = parse_gate(gate_module.EXAMPLE)
    assert [c.metric for c in clauses] == ["accuracy", "auc", "rmse"]
    assert [c.margin for c in clauses] == [0.0, 0.0, -0.5]
    example = SYNTAX.split("e.g. ")[1]
    assert "," not in example and parse_gate(example) == clauses  # joined with and, no comma
