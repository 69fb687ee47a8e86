"""Searching runs with filters and order-by, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import time

import pytest

from loopml import Client, InvalidInput, NotFound

# A filter that does not parse is an InvalidInput pointing at the position (on the wire too).
FilterError = InvalidInput

pytestmark = pytest.mark.services("runs", "search", "maintenance")

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


@pytest.mark.local_only(
    "33 filters, one server each: the filter travels as one string, and the wire is covered by "
    "the other search tests (order-by, scope, errors, the largest filters)"
)
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
        # An "and" of side-table comparisons (one join up to four, an intersection beyond).
        ("metrics.accuracy > 0.8 and metrics.accuracy < 0.93", ["c", "b"]),
        ("params.model = 'rf' and tags.note like 'base%' and metrics.loss < 0.1", ["c"]),
        ("tags.note not like '%_%' and params.model in ('rf', 'xgb')", ["d"]),
        (
            "params.depth = 3 and params.model != 'lr' and tags.note != '' and metrics.loss > 0",
            ["e", "c"],
        ),
        (
            "params.depth = 3 and params.model != 'lr' and tags.note != '' and metrics.loss > 0 "
            "and metrics.accuracy > 0.9",
            ["c"],
        ),
        ("params.model = 'lr' and params.model = 'rf'", []),
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


DEEP = [
    ("(" * 400 + "metrics.accuracy > 0.9" + ")" * 400, 400),
    ("(" * 10_000 + "metrics.accuracy > 0.9" + ")" * 10_000, 10_000),
    ("not " * 400 + "metrics.accuracy > 0.9", 400),
    ("not " * 10_000 + "metrics.accuracy > 0.9", 10_000),
    ("not (" * 200 + "status = 'finished'" + ")" * 200, 400),
]


def test_deep_filters_are_a_clear_error_not_a_recursion_error(client: Client) -> None:
    for flt, depth in DEEP:
        with pytest.raises(FilterError, match=f"nests {depth} levels deep; at most 24 are"):
            client.tracking.search_runs("churn", flt)


def _alternating(comparison: str, depth: int, first: str, second: str) -> str:
    """``(c first (c second (c first ...)))``: the shape that nests deepest in SQL."""
    ops = [first if i % 2 == 0 else second for i in range(depth)]
    return "".join(f"({comparison} {op} " for op in ops) + comparison + ")" * depth


ACC = "metrics.accuracy > 0.9"


LARGEST = [
    (_alternating(ACC, 24, "and", "or"), ACC),
    (_alternating(ACC, 24, "or", "and"), ACC),
    (_alternating("status = 'finished'", 24, "or", "and"), "status = 'finished'"),
    (_alternating("params.model = 'lr'", 24, "and", "or"), "params.model = 'lr'"),
    ("not (" * 12 + ACC + " or status = 'failed'" + ")" * 12, ACC + " or status = 'failed'"),
    (" or ".join(["metrics.accuracy = 0.95"] * 256), "metrics.accuracy = 0.95"),
    (
        " and ".join(["status = 'finished'"] * 128 + ["metrics.loss < 0.1"] * 128),
        "status = 'finished' and metrics.loss < 0.1",
    ),
    (" or ".join([_alternating(ACC, 9, "and", "or")] * 25), ACC),
]


def test_the_largest_filters_the_grammar_allows_run_on_every_database(
    client: Client, seeded: dict[str, str]
) -> None:
    """What parses also runs: no database parser limit turns an accepted filter into an
    operational error (each filter here is equivalent to a short one)."""
    everything = _names(client, "churn")
    for flt, same_as in LARGEST:
        expected = _names(client, "churn", same_as)
        assert expected and expected != everything  # the comparison selects some runs
        assert _names(client, "churn", flt) == expected, same_as


def test_filters_too_wide_for_the_database_are_refused_with_a_hint(client: Client) -> None:
    with pytest.raises(FilterError, match="more than 256 comparisons") as info:
        client.tracking.search_runs("churn", " or ".join(["metrics.a = 1"] * 600))
    assert "in (" in str(info.value)


def test_loaded_runs_equal_runs_built_by_their_constructor(
    client: Client, seeded: dict[str, str]
) -> None:
    # Loading fills Run's fields directly, skipping its __init__: any check the constructor
    # gains (a __post_init__) would be skipped too, so Run must have none.
    from dataclasses import fields, replace

    from loopml.api.runs import Run

    assert not hasattr(Run, "__post_init__")
    loaded = [*client.tracking.search_runs("churn"), client.tracking.get_run(seeded["a"])]
    for run in loaded:
        rebuilt = replace(run)  # through __init__
        assert rebuilt == run
        assert vars(rebuilt) == vars(run)
        assert list(vars(run)) == [f.name for f in fields(Run)]
