from __future__ import annotations

import pytest

from loopml.core.errors import InvalidInput
from loopml.pipelines import pipeline, step
from loopml.pipelines.dag import downstream, find_cycle, topological_order
from loopml.pipelines.params import Param, bind, params_of, parse_assignments


@step
def source(n: int) -> list[int]:
    return list(range(n))


@step
def double(xs: list[int]) -> list[int]:
    return [2 * x for x in xs]


@step
def combine(a: list[int], b: list[int]) -> int:
    return sum(a) + sum(b)


def test_topological_order_keeps_definition_order_between_independent_steps() -> None:
    deps = {"a": [], "c": ["a"], "b": ["a"], "d": ["b", "c"]}
    assert topological_order(deps) == ["a", "c", "b", "d"]
    assert downstream(deps, "b") == {"d"}


def test_a_cycle_is_named_step_by_step() -> None:
    deps = {"a": ["c"], "b": ["a"], "c": ["b"]}
    assert find_cycle(deps) is not None
    with pytest.raises(InvalidInput, match=r"cycle: .*→.*→"):
        topological_order(deps)


def test_calling_steps_in_a_pipeline_builds_the_graph_without_running_them() -> None:
    @pipeline
    def fan(n: int = 3) -> None:
        xs = source(n)
        combine(double(xs), double(xs))

    plan = fan.plan({"n": "4"})
    assert plan.params == {"n": 4}
    assert list(plan.nodes) == ["source", "double", "double_2", "combine"]
    assert plan.nodes["combine"].upstream == ("double", "double_2")
    assert plan.nodes["source"].inputs_view() == {"n": 4}
    assert plan.nodes["double"].inputs_view() == {"xs": {"step": "source.output"}}


def test_a_step_called_outside_a_pipeline_just_runs() -> None:
    assert double([1, 2]) == [2, 4]


def test_after_can_create_a_cycle_which_is_refused_before_anything_runs() -> None:
    @pipeline
    def looped() -> None:
        xs = source.after("combine")(2)
        combine(double(xs), xs)

    with pytest.raises(InvalidInput, match="cycle"):
        looped.plan()


def test_handles_cannot_be_used_as_values_in_the_pipeline_body() -> None:
    @pipeline
    def branchy() -> None:
        xs = source(2)
        if xs:
            double(xs)

    with pytest.raises(InvalidInput, match="placeholder for the output of step 'source'"):
        branchy.plan()


def test_wrong_step_arguments_are_reported_at_planning() -> None:
    @pipeline
    def bad() -> None:
        double(source(1), 3)

    with pytest.raises(InvalidInput, match="'double' is called with wrong arguments"):
        bad.plan()


def test_parameters_are_typed_from_the_signature_and_coerced_from_text() -> None:
    def f(
        C: float, n: int = 3, flag: bool = False, name: str = "x", xs: list[int] | None = None
    ) -> None:
        return None

    params = params_of(f)
    assert [p.name for p in params] == ["C", "n", "flag", "name", "xs"]
    got = bind(params, parse_assignments(["C=0.5", "flag=yes", "xs=[1, 2]"]), "p")
    assert got == {"C": 0.5, "n": 3, "flag": True, "name": "x", "xs": [1, 2]}
    assert bind(params, {"C": 1}, "p")["C"] == 1.0


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"C": "abc"}, "parameter 'C' expects float, got 'abc'"),
        ({"C": 1.0, "n": "2.5"}, "parameter 'n' expects int"),
        ({"C": 1.0, "n": True}, "parameter 'n' expects int"),
        ({"C": 1.0, "gamma": "1"}, "has no parameter 'gamma'; its parameters are: C: float"),
        ({}, "needs parameter 'C' \\(float\\): pass it with -p C=VALUE"),
    ],
)
def test_bad_parameters_are_refused_with_what_was_expected(
    given: dict[str, object], message: str
) -> None:
    params = [Param("C", float), Param("n", int, 3)]
    with pytest.raises(InvalidInput, match=message):
        bind(params, given, "p")


def test_an_assignment_without_equals_sign_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not NAME=VALUE"):
        parse_assignments(["C0.5"])
