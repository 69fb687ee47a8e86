"""Comparing two dataset versions: files, then table schema and statistics."""

from __future__ import annotations

from typing import Any

from loopml.api.datasets import DatasetVersion


def diff_versions(a: DatasetVersion, b: DatasetVersion) -> dict[str, Any]:
    from loopml.datasets.stats import diff_stats

    fa = {f.path: f for f in a.files}
    fb = {f.path: f for f in b.files}
    added = [{"path": p, "size": fb[p].size} for p in sorted(fb.keys() - fa.keys())]
    removed = [{"path": p, "size": fa[p].size} for p in sorted(fa.keys() - fb.keys())]
    changed = [
        {"path": p, "old_size": fa[p].size, "new_size": fb[p].size}
        for p in sorted(fa.keys() & fb.keys())
        if fa[p].digest != fb[p].digest
    ]
    ta = a.stats.get("tables", {})
    tb = b.stats.get("tables", {})
    pairs = [(p, p) for p in sorted(ta.keys() & tb.keys())]
    if not pairs and len(ta) == 1 and len(tb) == 1:
        # A single table renamed between versions is still the same table.
        pairs = [(next(iter(ta)), next(iter(tb)))]
    tables = {}
    for pa, pb in pairs:
        if pa == pb and fa.get(pa) and fb.get(pb) and fa[pa].digest == fb[pb].digest:
            continue
        tables[pb] = diff_stats(ta[pa], tb[pb])
    notes = [
        f"statistics skipped for {v.ref}: {v.stats['skipped']}"
        for v in (a, b)
        if "skipped" in v.stats
    ]
    return {
        "from": a.ref,
        "to": b.ref,
        "identical": a.content_digest == b.content_digest,
        "files_added": added,
        "files_removed": removed,
        "files_changed": changed,
        "bytes": {
            "old": a.total_bytes,
            "new": b.total_bytes,
            "change": b.total_bytes - a.total_bytes,
        },
        "tables": tables,
        "notes": notes,
    }
