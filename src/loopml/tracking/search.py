"""Searching runs: a parsed filter and order-by compiled to one SQL query over ``runs``,
with metrics read from ``latest_metrics`` (indexed by key and value), never the history."""

from __future__ import annotations

import collections
import functools
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.api.runs import Run
from loopml.core.errors import InvalidInput, NotFound, StoreError
from loopml.meta.tables import experiments, latest_metrics, run_params, run_tags, runs
from loopml.tracking.filter import (
    BoolOp,
    Compare,
    Node,
    Not,
    OrderKey,
    parse_filter,
    parse_order_by,
)
from loopml.tracking.lexer import Field
from loopml.tracking.load import LIST_COLUMNS, load_runs

MAX_LIMIT = 50_000
# SQLite's parser overflows on about 20 nested compound SELECTs (and/or alternating inside
# parentheses) and about 36 nested AND/OR: shallow filters nest id sets (the fast plan), deeper
# ones (up to the grammar's 24 levels) combine one id set per comparison with AND/OR.
_MAX_NESTED_SETS = 8
_DEEP = 16
# An "and" of this many side-table comparisons at most is one join (more would make
# PostgreSQL's planner weigh too many join orders); longer ones intersect id sets.
_MAX_JOINED = 4
_SIDE = {"metric": latest_metrics, "param": run_params, "tag": run_tags}


def _like_to_glob(pattern: str) -> str:
    """A LIKE pattern (``%``, ``_``, backslash escapes) as a GLOB one: SQLite's LIKE ignores
    case, GLOB (like PostgreSQL's LIKE) does not."""
    out = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            ch = next(chars, "\\")
            out.append(f"[{ch}]" if ch in "*?[" else ch)
        elif ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        elif ch in "*?[":
            out.append(f"[{ch}]")
        else:
            out.append(ch)
    return "".join(out)


def _apply(col: Any, op: str, value: Any, dialect: str) -> Any:
    """``col OP value`` as SQL."""
    if op in ("in", "not in"):
        expr = col.in_(list(value))
        return sa.not_(expr) if op == "not in" else expr
    if op.endswith("ilike"):
        expr = col.ilike(value, escape="\\")
        return sa.not_(expr) if op.startswith("not") else expr
    if op.endswith("like"):
        if dialect == "sqlite":
            expr = col.op("GLOB", is_comparison=True)(_like_to_glob(value))
        else:
            expr = col.like(value, escape="\\")
        return sa.not_(expr) if op.startswith("not") else expr
    return {
        "=": col.__eq__,
        "!=": col.__ne__,
        "<": col.__lt__,
        "<=": col.__le__,
        ">": col.__gt__,
        ">=": col.__ge__,
    }[op](value)


def _id_set(node: Node, dialect: str, nested: int = _MAX_NESTED_SETS) -> Any:
    """A SELECT of the ids of runs matching ``node`` that reads only the side tables (metrics
    through their (key, value) index), or None when ``node`` needs the runs table itself.
    Databases answer such a set first and then fetch only the runs in it."""
    if isinstance(node, Compare):
        f = node.field
        if f.kind == "attribute":
            return None
        side = _SIDE[f.kind]
        return sa.select(side.c.run_id).where(
            side.c.key == f.key, _apply(side.c.value, node.op, node.value, dialect)
        )
    if isinstance(node, BoolOp):
        if _height(node) > nested:
            return None
        if (
            node.op == "and"
            and len(node.items) <= _MAX_JOINED
            and all(isinstance(n, Compare) and n.field.kind != "attribute" for n in node.items)
        ):
            return _joined(node.items, dialect)  # type: ignore[arg-type]
        parts = [_id_set(n, dialect, nested) for n in node.items]
        if any(p is None for p in parts):
            return None
        return _combine(node.op, parts)
    return None


def _joined(items: Sequence[Compare], dialect: str) -> Any:
    """The ids of runs matching every comparison in ``items``, as one join: the first
    comparison the database picks drives, the others are primary-key lookups of (run, key),
    where an INTERSECT would read every matching row of each and sort them."""
    sides = [_SIDE[c.field.kind].alias(f"s{i}") for i, c in enumerate(items)]
    joined: Any = sides[0]
    for side, c in zip(sides[1:], items[1:], strict=True):
        joined = joined.join(
            side,
            sa.and_(
                side.c.run_id == sides[0].c.run_id,
                side.c.key == c.field.key,
                _apply(side.c.value, c.op, c.value, dialect),
            ),
        )
    first = items[0]
    return (
        sa.select(sides[0].c.run_id)
        .select_from(joined)
        .where(sides[0].c.key == first.field.key)
        .where(_apply(sides[0].c.value, first.op, first.value, dialect))
    )


def _combine(op: str, parts: list[Any]) -> Any:
    """One id set from several: their intersection (and) or union (or)."""
    if len(parts) == 1:
        return parts[0]
    # A nested set becomes a plain SELECT over a subquery: SQLite cannot nest compounds.
    flat = [p if isinstance(p, sa.Select) else sa.select(p.subquery().c.run_id) for p in parts]
    return sa.intersect(*flat) if op == "and" else sa.union(*flat)


def _height(node: Node) -> int:
    """How deep and/or nest in ``node``."""
    if isinstance(node, BoolOp):
        return 1 + max(_height(n) for n in node.items)
    if isinstance(node, Not):
        return _height(node.item)
    return 0


def compile_node(node: Node, dialect: str, nested: int | None = None) -> sa.ColumnElement[bool]:
    """A WHERE clause over ``runs`` for a filter AST."""
    if nested is None:
        nested = _MAX_NESTED_SETS if _height(node) <= _DEEP else 0
    ids = _id_set(node, dialect, nested)
    if ids is not None:
        return runs.c.id.in_(ids)
    if isinstance(node, BoolOp):
        # The items answerable from the side tables make one id set, so the database plans one
        # semi-join instead of one per comparison (PostgreSQL's planner slows down sharply
        # past a dozen of them).
        sets, rest = [], []
        for item in node.items:
            ids = _id_set(item, dialect, nested)
            if ids is None:
                rest.append(item)
            else:
                sets.append(ids)
        parts = [compile_node(n, dialect, nested) for n in rest]
        if sets:
            parts.insert(0, runs.c.id.in_(_combine(node.op, sets)))
        return sa.and_(*parts) if node.op == "and" else sa.or_(*parts)
    if isinstance(node, Not):
        return sa.not_(compile_node(node.item, dialect, nested))
    assert isinstance(node, Compare) and node.field.kind == "attribute"
    clause: sa.ColumnElement[bool] = _apply(runs.c[node.field.key], node.op, node.value, dialect)
    return clause


def _order(q: sa.Select[Any], keys: Sequence[OrderKey]) -> sa.Select[Any]:
    clauses: list[Any] = []
    for i, k in enumerate(keys):
        f: Field = k.field
        if f.kind == "attribute":
            col: Any = runs.c[f.key]
        else:
            side = _SIDE[f.kind].alias(f"o{i}")
            q = q.outerjoin(side, sa.and_(side.c.run_id == runs.c.id, side.c.key == f.key))
            col = side.c.value
        # Runs without the value sort last in either direction.
        clauses.append((col.desc() if k.descending else col.asc()).nulls_last())
    clauses += [runs.c.start_time.desc(), runs.c.id]
    return q.order_by(*clauses)


def search_runs(
    conn: Connection,
    experiment: str | Sequence[str] | None = None,
    filter: str | None = None,
    order_by: str | Sequence[str] | None = None,
    limit: int = 100,
) -> list[Run]:
    """Runs of ``experiment`` (a name, names, or all) matching ``filter``, ordered and limited."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LIMIT}, got {limit!r}")
    names = [experiment] if isinstance(experiment, str) else list(experiment or [])
    items = [order_by] if isinstance(order_by, str) else list(order_by or [])
    args = (conn.dialect.name, experiment is not None, tuple(names), filter, tuple(items), limit)
    cacheable = all(isinstance(a, str) for a in (*names, *items)) and isinstance(filter, str | None)
    if cacheable and conn.dialect.name == "sqlite":
        rows: Sequence[Any] = _sqlite_rows(conn, *_cached_sqlite(args, conn.dialect))
    else:  # not hashable, or not text (the parser says what is wrong), or not SQLite
        q = _cached_statement(*args) if cacheable else _statement(*args)
        rows = conn.execute(q).all()
    if not rows and names:
        _check_experiments(conn, names)
    return load_runs(conn, rows, detail=False)


def _statement(
    dialect: str,
    by_experiment: bool,
    names: tuple[str, ...],
    filter: str | None,
    order_by: tuple[str, ...],
    limit: int,
) -> sa.Select[Any]:
    """The SELECT of a search: run rows with LIST_COLUMNS, filtered, ordered and limited."""
    node = parse_filter(filter) if filter else None
    keys = [parse_order_by(o) for o in order_by]
    q = sa.select(*LIST_COLUMNS).join(experiments, runs.c.experiment_id == experiments.c.id)
    if by_experiment:
        # As a subquery, not a condition on the join, so the filter's id set drives the plan.
        q = q.where(
            runs.c.experiment_id.in_(
                sa.select(experiments.c.id).where(experiments.c.name.in_(names))
            )
        )
    if node is not None:
        q = q.where(compile_node(node, dialect))
    return _order(q, keys).limit(limit)


# Building the statement (parsing, then SQLAlchemy's constructs) costs about a tenth of a
# search over a thousand runs; a repeated search (a refreshed page, a poll) reuses it, and
# SQLAlchemy its compiled form. Statements are immutable, so sharing them is safe.
_cached_statement = functools.lru_cache(maxsize=256)(_statement)


_ListRow = collections.namedtuple(  # type: ignore[misc]
    "_ListRow", [c.key for c in LIST_COLUMNS]
)
_CODE = [c.key for c in LIST_COLUMNS].index("code")


@functools.lru_cache(maxsize=256)
def _cached_sqlite(args: tuple[Any, ...], dialect: Any) -> tuple[str, tuple[Any, ...]]:
    """The SQL text and parameters of a cached search statement on SQLite, compiled once."""
    compiled = _cached_statement(*args).compile(
        dialect=dialect, compile_kwargs={"render_postcompile": True}
    )
    params = compiled.construct_params()
    return str(compiled), tuple(params[name] for name in compiled.positiontup or ())


def _sqlite_rows(conn: Connection, sql: str, params: tuple[Any, ...]) -> list[Any]:
    """Rows of a compiled search from the driver's cursor, as LIST_COLUMNS: on SQLite,
    SQLAlchemy's execution and result rows cost as much as the query itself."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        raw = cursor.fetchall()
    except conn.dialect.loaded_dbapi.Error as exc:
        raise StoreError(f"metadata database read failed: {exc}") from exc
    finally:
        cursor.close()
    loads = json.loads
    return [_ListRow._make((*r[:_CODE], loads(r[_CODE]), *r[_CODE + 1 :])) for r in raw]


def _check_experiments(conn: Connection, names: list[str]) -> None:
    found = set(
        conn.execute(sa.select(experiments.c.name).where(experiments.c.name.in_(names))).scalars()
    )
    missing = [n for n in names if n not in found]
    if missing:
        raise NotFound(
            f"experiment {missing[0]!r} does not exist; list runs of every experiment "
            "with: loopml runs list"
        )
