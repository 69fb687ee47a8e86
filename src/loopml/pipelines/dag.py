"""The step graph: nodes, their dependencies, topological order and cycle detection."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence

from loopml.core.errors import InvalidInput


def find_cycle(deps: Mapping[str, Sequence[str]]) -> list[str] | None:
    """One cycle as ``[a, b, …, a]`` if the graph (node → nodes it depends on) has one."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in deps:
        if state.get(root):
            continue
        path: list[str] = []
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, i = stack.pop()
            if i == 0:
                state[node] = 1
                path.append(node)
            children = deps.get(node, ())
            if i < len(children):
                stack.append((node, i + 1))
                child = children[i]
                if state.get(child) == 1:
                    return [*path[path.index(child) :], child]
                if not state.get(child):
                    stack.append((child, 0))
            else:
                state[node] = 2
                path.pop()
    return None


def topological_order(deps: Mapping[str, Sequence[str]]) -> list[str]:
    """Nodes so that each comes after what it depends on; ties keep definition order.
    Raises InvalidInput naming the steps of a cycle, or a dependency on an unknown step."""
    for node, needs in deps.items():
        for n in needs:
            if n not in deps:
                raise InvalidInput(
                    f"step {node!r} depends on {n!r}, which is not a step of this pipeline; "
                    f"its steps are: {', '.join(deps)}"
                )
    cycle = find_cycle(deps)
    if cycle is not None:
        raise InvalidInput(
            "the pipeline's steps form a cycle: "
            + " → ".join(cycle)
            + "; a step can only depend on steps that run before it"
        )
    index = {n: i for i, n in enumerate(deps)}
    waiting = {n: len(set(needs)) for n, needs in deps.items()}
    users: dict[str, list[str]] = {n: [] for n in deps}
    for n, needs in deps.items():
        for m in set(needs):
            users[m].append(n)
    ready = [(index[n], n) for n, k in waiting.items() if k == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, n = heapq.heappop(ready)
        order.append(n)
        for u in users[n]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, (index[u], u))
    return order


def downstream(deps: Mapping[str, Sequence[str]], node: str) -> set[str]:
    """Every node that depends on ``node``, directly or not."""
    users: dict[str, set[str]] = {}
    for n, needs in deps.items():
        for m in needs:
            users.setdefault(m, set()).add(n)
    found: set[str] = set()
    todo = [node]
    while todo:
        for u in users.get(todo.pop(), ()):
            if u not in found:
                found.add(u)
                todo.append(u)
    return found
