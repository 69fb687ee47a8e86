"""Searching runs with filters and order-by, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import time

import pytest

from loopml.core.errors import InvalidInput, NotFound
from loopml.sdk import Client
from loopml.tracking.lexer import FilterError

RUNS = [
    # name, model, accuracy (None: not logged), note tag, end as
    ("a", "lr", 0.95, "Baseline", "finished"),
    ("b", "lr", 0.85, "tuned", "finished"),
    ("c", "rf", 0.92, "baseline copy", "failed"),
    ("d", "rf", None, "", "finished"),
    ("e", "xgb", 0.70, "Big_model", "running"),
]


@pytest.fixture
def seeded(client: Client) -> dict[str, str]:
    """Five runs in experiment 'churn', one in 'fraud'; name → run id."""
    ids = {}
    for name, model, acc, note, status in RUNS:
        run = client.tracking.start_run(experiment="churn", name=name)
        run.log_params({"model": model, "depth": len(name) + 2})
        if acc is not None:
            run.log_metric("accuracy", 0.1, step=0)
            run.log_metric("accuracy", acc, step=1)
            run.log_metric("loss", 1 - acc, step=1)
        run.set_tags({"note": note})
        if status != "running":
            run.end(status)
        ids[name] = run.id
        time.sleep(0.002)  # distinct start times
    other = client.tracking.start_run(experiment="fraud", name="f")
    other.log_params({"model": "lr"})
    other.log_metric("accuracy", 0.99)
    other.end()
    ids["f"] = other.id
    return ids


def _names(client: Client, *args: object, **kwargs: object) -> list[str]:
    return [r.name for r in client.tracking.search_runs(*args, **kwargs)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ("metrics.accuracy > 0.9", ["c", "a"]),
        ("metrics.accuracy > 0.9 and params.model = 'lr'", ["a"]),
        ("metrics.accuracy < 0.8 or params.model = 'rf'", ["e", "d", "c"]),
        ("not metrics.accuracy > 0.9", ["e", "d", "b"]),
        ("metrics.accuracy != 0.85", ["e", "c", "a"]),  # d has no accuracy: never matches
        ("metrics.loss <= 0.06", ["a"]),
        ("metrics.accuracy in (0.7, 0.85)", ["e", "b"]),
        ("params.model in ('rf', 'xgb')", ["e", "d", "c"]),
        ("params.model not in ('rf', 'xgb')", ["b", "a"]),
        ("params.depth = 3", ["e", "d", "c", "b", "a"]),
        ("params.missing = 'x'", []),
        ("tags.note like 'base%'", ["c"]),  # case-sensitive on both backends
        ("tags.note ilike 'base%'", ["c", "a"]),
        ("tags.note not like '%_%'", ["d"]),
        ("tags.note like '%\\_%'", ["e"]),
        ("tags.note ilike 'b%\\_%'", ["e"]),
        ("tags.note like 'Big_model'", ["e"]),
        ("tags.note = ''", ["d"]),
        ("attributes.status = 'failed'", ["c"]),
        ("status != 'finished'", ["e", "c"]),
        ("status = 'running' or (params.model = 'lr' and metrics.accuracy > 0.9)", ["e", "a"]),
        ("name in ('a', 'b')", ["b", "a"]),
        ("(metrics.accuracy > 0.9 or params.model = 'xgb') and tags.note != ''", ["e", "c", "a"]),
        (
            "(params.model = 'lr' and metrics.loss < 0.1) or (params.model = 'rf' and "
            "metrics.accuracy > 0.9)",
            ["c", "a"],
        ),
        ("metrics.accuracy > 0.9 and not params.model = 'rf'", ["a"]),
        ("attributes.end_time > 0", ["d", "c", "b", "a"]),
        ("attributes.start_time > '2000-01-01'", ["e", "d", "c", "b", "a"]),
    ],
)
def test_filters_select_the_matching_runs(
    client: Client, seeded: dict[str, str], flt: str, expected: list[str]
) -> None:
    assert _names(client, "churn", flt) == expected


def test_order_by_metric_puts_runs_without_it_last_in_both_directions(
    client: Client, seeded: dict[str, str]
) -> None:
    assert _names(client, "churn", order_by=["metrics.accuracy desc"]) == [
        "a",
        "c",
        "b",
        "e",
        "d",
    ]
    assert _names(client, "churn", order_by="metrics.accuracy") == ["e", "b", "c", "a", "d"]


def test_order_by_several_keys_and_limit(client: Client, seeded: dict[str, str]) -> None:
    assert _names(client, "churn", order_by=["params.model", "metrics.accuracy desc"]) == [
        "a",
        "b",
        "c",
        "d",
        "e",
    ]
    assert _names(client, "churn", order_by=["name desc"], limit=2) == ["e", "d"]
    assert _names(client, "churn") == ["e", "d", "c", "b", "a"]  # newest first


def test_experiment_scope(client: Client, seeded: dict[str, str]) -> None:
    assert _names(client, None, "params.model = 'lr'") == ["f", "b", "a"]
    assert _names(client, ["churn", "fraud"], "metrics.accuracy > 0.94") == ["f", "a"]
    with pytest.raises(NotFound, match="experiment 'nope' does not exist"):
        client.tracking.search_runs("nope")


def test_search_results_carry_params_metrics_and_tags(
    client: Client, seeded: dict[str, str]
) -> None:
    (run,) = client.tracking.search_runs("churn", "attributes.name = 'a'")
    assert run.id == seeded["a"]
    assert run.params == {"depth": "3", "model": "lr"}
    assert run.metrics == {"accuracy": 0.95, "loss": pytest.approx(0.05)}
    assert run.tags == {"note": "Baseline"}
    assert client.tracking.list_runs("fraud")[0].name == "f"


def test_bad_filter_is_a_clear_error(client: Client, seeded: dict[str, str]) -> None:
    with pytest.raises(FilterError, match="column 20") as info:
        client.tracking.search_runs("churn", "metrics.accuracy > and params.model = 'lr'")
    assert "^" in str(info.value)
    with pytest.raises(FilterError, match="expected asc, desc"):
        client.tracking.search_runs("churn", order_by=["metrics.accuracy sideways"])
    with pytest.raises(InvalidInput, match="limit"):
        client.tracking.search_runs("churn", limit=0)


def test_search_sees_metrics_logged_but_not_yet_flushed(client: Client) -> None:
    with client.tracking.start_run(experiment="e") as run:
        run.log_metric("acc", 0.5)
        (found,) = client.tracking.search_runs("e", "metrics.acc = 0.5")
        assert found.id == run.id
