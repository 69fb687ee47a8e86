"""``@pipeline``: a function whose body, run with its parameters, calls steps; the calls are
traced into a graph (a :class:`Plan`) before any step runs."""

from __future__ import annotations

import functools
import inspect
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, overload

from loopml.core.errors import InvalidInput, LoopError
from loopml.core.names import validate_name
from loopml.pipelines.dag import topological_order
from loopml.pipelines.params import Param, bind, params_of
from loopml.pipelines.step import Handle, Step, Tracer, reset_tracer, set_tracer

# An argument of a step call, encoded: ("ref", node, output) | ("const", value) |
# ("list", [specs], is_tuple) | ("dict", {key: spec}).
Spec = tuple[Any, ...]


def encode(value: Any) -> Spec:
    if isinstance(value, Handle):
        return ("ref", value.node, value.output)
    if isinstance(value, list | tuple) and any(_has_handle(v) for v in value):
        return ("list", [encode(v) for v in value], isinstance(value, tuple))
    if isinstance(value, dict) and any(_has_handle(v) for v in value.values()):
        return ("dict", {k: encode(v) for k, v in value.items()})
    if isinstance(value, Step):
        raise InvalidInput(
            f"step {value.name!r} is passed as an argument without being called; "
            f"pass its output instead: {value.name}(...)"
        )
    return ("const", value)


def _has_handle(value: Any) -> bool:
    if isinstance(value, Handle):
        return True
    if isinstance(value, list | tuple):
        return any(_has_handle(v) for v in value)
    if isinstance(value, dict):
        return any(_has_handle(v) for v in value.values())
    return False


def refs(spec: Spec) -> list[str]:
    """Names of the nodes an encoded argument reads from."""
    kind = spec[0]
    if kind == "ref":
        return [spec[1]]
    if kind == "list":
        return [n for s in spec[1] for n in refs(s)]
    if kind == "dict":
        return [n for s in spec[1].values() for n in refs(s)]
    return []


def describe(spec: Spec) -> Any:
    """A JSON view of an encoded argument for people (``{"step": "prepare.output"}``)."""
    kind = spec[0]
    if kind == "ref":
        return {"step": f"{spec[1]}.{spec[2]}"}
    if kind == "list":
        return [describe(s) for s in spec[1]]
    if kind == "dict":
        return {k: describe(s) for k, s in spec[1].items()}
    value = spec[1]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return {"value": repr(value)[:200]}


@dataclass
class Node:
    name: str
    step: Step
    args: list[Spec]
    kwargs: dict[str, Spec]
    upstream: tuple[str, ...]

    def inputs_view(self) -> dict[str, Any]:
        """Arguments by parameter name, for the run record."""
        try:
            sig = inspect.signature(self.step.func)
            bound = sig.bind_partial(*range(len(self.args)), **{k: k for k in self.kwargs})
        except TypeError:
            return {"args": [describe(a) for a in self.args]}
        out: dict[str, Any] = {}
        for pname, marker in bound.arguments.items():
            if isinstance(marker, tuple):  # *args
                out[pname] = [describe(self.args[i]) for i in marker]
            elif isinstance(marker, dict):  # **kwargs
                out.update({k: describe(self.kwargs[k]) for k in marker})
            elif isinstance(marker, int):
                out[pname] = describe(self.args[marker])
            else:
                out[pname] = describe(self.kwargs[marker])
        return out


@dataclass
class Plan:
    """A traced pipeline: its parameters' values and its nodes in topological order."""

    pipeline: Pipeline
    params: dict[str, Any]
    nodes: dict[str, Node]

    @property
    def deps(self) -> dict[str, list[str]]:
        return {n: list(node.upstream) for n, node in self.nodes.items()}


class Pipeline:
    """A pipeline definition; run it with ``Client.pipelines.run`` or ``loopml pipeline run``."""

    def __init__(self, func: Callable[..., Any], name: str | None = None) -> None:
        if not inspect.isfunction(func):
            raise InvalidInput(f"@pipeline decorates a function, not {type(func).__name__}")
        self.func = func
        self.name = validate_name(name or func.__name__, "pipeline name")
        functools.update_wrapper(self, func)

    def __repr__(self) -> str:
        return f"<pipeline {self.name}>"

    @functools.cached_property
    def params(self) -> list[Param]:
        return params_of(self.func)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise InvalidInput(
            f"pipeline {self.name!r} is run, not called: use loopml.run_pipeline({self.name}, "
            f"...) or `loopml pipeline run FILE.py:{self.func.__name__}`"
        )

    def plan(self, given: Mapping[str, Any] | None = None) -> Plan:
        """Check the parameters, run the body with them and return the traced graph."""
        values = bind(self.params, dict(given or {}), self.name)
        tracer = Tracer()
        token = set_tracer(tracer)
        try:
            self.func(**values)
        except LoopError:
            raise
        except Exception as exc:
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:])
            raise InvalidInput(
                f"the body of pipeline {self.name!r} raised {type(exc).__name__}: {exc}; a "
                f"pipeline body only wires steps together\n{tb.rstrip()}"
            ) from None
        finally:
            reset_tracer(token)
        if not tracer.calls:
            raise InvalidInput(
                f"pipeline {self.name!r} calls no step: decorate its functions with @step "
                "and call them in the pipeline body"
            )
        nodes: dict[str, Node] = {}
        for name, call in tracer.calls.items():
            args = [encode(a) for a in call.args]
            kwargs = {k: encode(v) for k, v in call.kwargs.items()}
            up: list[str] = []
            for spec in [*args, *kwargs.values()]:
                up.extend(refs(spec))
            up.extend(call.after)
            nodes[name] = Node(name, call.step, args, kwargs, tuple(dict.fromkeys(up)))
        order = topological_order({n: list(node.upstream) for n, node in nodes.items()})
        return Plan(self, values, {n: nodes[n] for n in order})


@overload
def pipeline(func: Callable[..., Any], /) -> Pipeline: ...


@overload
def pipeline(*, name: str | None = None) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(
    func: Callable[..., Any] | None = None, /, *, name: str | None = None
) -> Pipeline | Callable[[Callable[..., Any]], Pipeline]:
    """Make a function a pipeline: ``@pipeline`` or ``@pipeline(name="training")``."""
    if func is not None:
        return Pipeline(func, name)
    return lambda f: Pipeline(f, name)
