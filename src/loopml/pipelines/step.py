"""``@step``: a function whose calls inside a pipeline record a node of the graph and return
handles to its future outputs instead of running it."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, overload

from loopml.core.errors import InvalidInput
from loopml.core.names import validate_name

DEFAULT_OUTPUT = "output"
_MEMORY_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS.update({"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40})


def parse_memory(value: Any) -> int:
    """Bytes from ``4GB``, ``512MiB`` or a number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    m = _MEMORY_RE.fullmatch(str(value))
    if m is None or float(m.group(1)) <= 0:
        raise InvalidInput(f"memory {value!r} is not a size: write e.g. '4GB', '512MiB' or bytes")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "B").lower()])


def normalize_resources(resources: Mapping[str, Any] | None) -> dict[str, float]:
    """``{"cpu": 2, "gpu": 1, "memory": "4GB", "custom": 1}`` checked, memory in bytes."""
    out: dict[str, float] = {}
    for key, value in (resources or {}).items():
        if key == "memory":
            out[key] = float(parse_memory(value))
            continue
        if not isinstance(key, str) or not key:
            raise InvalidInput(f"resource names are text such as 'cpu' or 'gpu', got {key!r}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise InvalidInput(f"resource {key!r} needs a non-negative number, got {value!r}")
        out[key] = float(value)
    return out


@dataclass(frozen=True)
class Handle:
    """A placeholder for one output of a step call; pass it to later steps."""

    node: str
    output: str = DEFAULT_OUTPUT

    def _misuse(self, *_a: Any, **_k: Any) -> Any:
        raise InvalidInput(
            f"{self} is a placeholder for the output of step {self.node!r}, known only when the "
            "pipeline runs: pass it to another step, and branch on values inside a step "
            "(or with a condition step such as deploy_if)"
        )

    __bool__ = _misuse
    __iter__ = _misuse
    __getitem__ = _misuse
    __len__ = _misuse
    __float__ = _misuse
    __int__ = _misuse

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._misuse()

    def __str__(self) -> str:
        return f"{self.node}.{self.output}"


@dataclass
class Call:
    """One recorded step call."""

    name: str
    step: Step
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    after: list[str] = field(default_factory=list)


class Tracer:
    """Collects the calls made while a pipeline function body runs."""

    def __init__(self) -> None:
        self.calls: dict[str, Call] = {}

    def record(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any], after: Any) -> Any:
        try:
            inspect.signature(step.func).bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidInput(
                f"step {step.name!r} is called with wrong arguments: {exc}"
            ) from None
        name = step.name
        n = 2
        while name in self.calls:
            name = f"{step.name}_{n}"
            n += 1
        deps = []
        for d in after:
            deps.append(d.node if isinstance(d, Handle) else getattr(d, "name", d))
        if not all(isinstance(d, str) for d in deps):
            raise InvalidInput(f"after= takes handles, steps or step names, got {after!r}")
        self.calls[name] = Call(name, step, args, kwargs, deps)
        handles = tuple(Handle(name, o) for o in step.outputs)
        return handles[0] if len(handles) == 1 else handles


_TRACER: ContextVar[Tracer | None] = ContextVar("loopml_pipeline_tracer", default=None)


def current_tracer() -> Tracer | None:
    return _TRACER.get()


def set_tracer(tracer: Tracer | None) -> Any:
    return _TRACER.set(tracer)


def reset_tracer(token: Any) -> None:
    _TRACER.reset(token)


class Step:
    """A pipeline step. Outside a pipeline, calling it runs the function.

    ``has_effects`` marks a step that acts on the world (moves an alias, sends a message,
    writes outside the blob store): it runs in every run, never taken from the step cache or
    from the run being resumed, because replaying its old output would not redo the effect.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        cache: bool = True,
        resources: Mapping[str, Any] | None = None,
        outputs: Sequence[str] | None = None,
        cache_extra: Callable[..., Any] | None = None,
        effects: bool = False,
    ) -> None:
        if not callable(func) or not inspect.isfunction(inspect.unwrap(func)):
            raise InvalidInput(f"@step decorates a function, not {type(func).__name__}")
        self.func = func
        self.name = validate_name(name or func.__name__, "step name")
        self.cache = bool(cache)
        self.has_effects = bool(effects)
        self.resources = normalize_resources(resources)
        names = tuple(outputs) if outputs else (DEFAULT_OUTPUT,)
        for o in names:
            validate_name(o, "output name")
        if len(set(names)) != len(names):
            raise InvalidInput(f"step {self.name!r} names an output twice: {names}")
        self.outputs = names
        # Called in the coordinator with the step's constant arguments; its result joins the
        # cache key (e.g. the version a dataset reference resolves to right now).
        self.cache_extra = cache_extra
        functools.update_wrapper(self, func)

    def __repr__(self) -> str:
        return f"<step {self.name}>"

    @property
    def qualname(self) -> str:
        return f"{self.func.__module__}.{self.func.__qualname__}"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tracer = _TRACER.get()
        if tracer is None:
            return self.func(*args, **kwargs)
        return tracer.record(self, args, kwargs, ())

    def after(self, *deps: Any) -> Callable[..., Any]:
        """Call the step so that it also waits for ``deps`` (handles, steps or step names)."""

        def call(*args: Any, **kwargs: Any) -> Any:
            tracer = _TRACER.get()
            if tracer is None:
                raise InvalidInput(f"{self.name}.after(...) is only meaningful inside a pipeline")
            return tracer.record(self, args, kwargs, deps)

        return call

    def with_options(self, **options: Any) -> Step:
        """A copy with some options changed (name, cache, resources, outputs, cache_extra,
        effects)."""
        current: dict[str, Any] = {
            "name": self.name,
            "cache": self.cache,
            "effects": self.has_effects,
            "resources": self.resources,
            "outputs": self.outputs,
            "cache_extra": self.cache_extra,
        }
        unknown = set(options) - set(current)
        if unknown:
            raise InvalidInput(f"unknown step option(s): {', '.join(sorted(unknown))}")
        current.update(options)
        return Step(self.func, **current)


@overload
def step(func: Callable[..., Any], /) -> Step: ...


@overload
def step(
    *,
    name: str | None = None,
    cache: bool = True,
    resources: Mapping[str, Any] | None = None,
    outputs: Sequence[str] | None = None,
    cache_extra: Callable[..., Any] | None = None,
    effects: bool = False,
) -> Callable[[Callable[..., Any]], Step]: ...


def step(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    cache: bool = True,
    resources: Mapping[str, Any] | None = None,
    outputs: Sequence[str] | None = None,
    cache_extra: Callable[..., Any] | None = None,
    effects: bool = False,
) -> Step | Callable[[Callable[..., Any]], Step]:
    """Make a function a pipeline step: ``@step`` or ``@step(cache=False, resources={...})``;
    ``effects=True`` for a step that acts on the world, which then runs in every run."""

    def wrap(f: Callable[..., Any]) -> Step:
        return Step(
            f,
            name=name,
            cache=cache,
            resources=resources,
            outputs=outputs,
            cache_extra=cache_extra,
            effects=effects,
        )

    return wrap(func) if func is not None else wrap
