"""Dataset-registry benchmark: loopml against DVC 3.x and raw ``b2sum``, in one run.

Usage (with the project venv; DVC comes from its own venv, see ``setup_venvs.sh``)::

    bash benchmarks/setup_venvs.sh
    .venv/bin/python benchmarks/bench_datasets.py                     # 1 GiB in 200 CSV files
    .venv/bin/python benchmarks/bench_datasets.py --size-mib 64 --files 20 \\
        --only dvc,b2sum --big-file-gib 0 --workdir /tmp/bench --keep

One JSON object goes to stdout, progress to stderr. What is measured, on a folder of N
deterministic numeric CSV files (cached by parameters under ``WORKDIR/cache``, so reruns with
the same ``--workdir`` skip generation):

* b2sum: one ``b2sum`` process over all files (single core): the raw read+hash speed, run
  once per round beside the tools' cold adds (median reported, every run listed).
* dvc: ``dvc add data`` in a fresh ``dvc init --no-scm`` repo with a fresh cache (cold), again
  unchanged (warm), then again after appending ~150 KB of CSV rows to two files (change);
  the cache growth of that last step is compared with the bytes appended.
* loopml: the same three steps with ``loopml datasets push bench DIR --json`` and a fresh
  ``LOOPML_HOME``; growth = ``$LOOPML_HOME/blobs``, the database growth is reported apart.
* big file: wall time and peak RSS of pushing / adding one ``--big-file-gib`` GiB file.

The cold adds are interleaved: each of the ``--repeat`` rounds runs every tool once, in an
order that turns each round (DVC, loopml; then loopml, DVC; ...), so a change in the
machine's speed during the run reaches both tools alike.

The page cache cannot be dropped here, so every timed step runs after a warm-up read and an
``os.sync()``: all tools read from memory and none pays for another's write-back. Wall times
include each CLI's start-up (reported as ``cli_startup_s``). Peak RSS and CPU time of each
command come from ``os.wait4`` on that one child process.

``--cpus 0`` pins every timed command (both tools, and b2sum) to the listed cores with
``taskset``: loopml hashes on two threads by default while DVC and b2sum use one, so a run with
``--cpus 0`` gives the one-core comparison beside the default one. The load average is recorded
before and after.

``--load N`` runs the comparison on a busy machine: N processes, each spinning a Python loop,
run from just before the first timed command to the end, so every tool meets the same load
(N=1 takes about one core of two, N=2 both). They are killed by PID when the run ends.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

MIB = 1 << 20
GIB = 1 << 30
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_LOOPML = REPO / ".venv" / "bin" / "loopml"
DEFAULT_DVC = HERE / ".venv-dvc" / "bin" / "dvc"
TOOLS = ("loopml", "dvc", "b2sum")
GENERATOR_VERSION = 1  # bump when the CSV generator changes, so cached folders are remade
HEADER = b"id,a,b,c,d,label\n"
_T0 = time.perf_counter()
PIN_CPUS = ""  # set from --cpus: a taskset core list every timed command runs on


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Deterministic numeric CSV, fully vectorized.
#
# A row is built as 16 little 4-byte words from lookup tables (digits plus separators), with a
# parallel table-built keep-mask that drops leading zeros, the '+' sign slot and padding; one
# boolean compaction then yields variable-width text such as ``1234,-0.4319,60.1218,...,7\n``.
# --------------------------------------------------------------------------------------------


def _words(rows: list[list[int]]) -> np.ndarray:
    return np.array(rows, dtype=np.uint8).reshape(-1, 4).view(np.uint32).ravel()


def _dc(i: int, k: int) -> int:
    """ASCII code of the k-th decimal digit of i, counted from the right."""
    return 48 + (i // 10**k) % 10


_DIG3 = _words([[_dc(i, 2), _dc(i, 1), _dc(i, 0), 0] for i in range(1000)])
_KLEAD3 = _words([[i >= 100, i >= 10, i >= 1, 0] for i in range(1000)])
_KLAST3 = _words([[i >= 100, i >= 10, 1, 0] for i in range(1000)])
_SIGN2 = _words([[44, 45, _dc(q, 1), _dc(q, 0)] for _neg in (0, 1) for q in range(100)])
_KSIGN2 = _words([[1, neg, q >= 10, q >= 1] for neg in (0, 1) for q in range(100)])
_DOT3 = _words([[_dc(i, 2), _dc(i, 1), _dc(i, 0), 46] for i in range(1000)])
_KDOT3 = _words([[i >= 100, i >= 10, 1, 1] for i in range(1000)])
_DIG4 = _words([[_dc(i, 3), _dc(i, 2), _dc(i, 1), _dc(i, 0)] for i in range(10000)])
_ONES = _words([[1, 1, 1, 1]])[0]
_LABEL = _words([[44, 48 + i, 10, 0] for i in range(10)])
_KLABEL = _words([[1, 1, 1, 0]])[0]
_SCALES = np.array([1.0, 50.0, 2500.0, 30000.0])


def csv_rows(rng: np.random.Generator, start_id: int, n: int) -> bytes:
    """``n`` CSV rows: an id, four normal floats of growing scale (4 decimals), a 0-9 label."""
    if start_id + n > 999_999_999:
        raise ValueError("row ids are limited to 9 digits")
    m = np.empty((n, 16), np.uint32)
    k = np.empty((n, 16), np.uint32)
    ids = np.arange(start_id, start_id + n, dtype=np.uint32)
    hi, rest = np.divmod(ids, 1_000_000)
    m[:, 0] = _DIG3[hi]
    m[:, 1] = _DIG3[rest // 1000]
    m[:, 2] = _DIG3[ids % 1000]
    k[:, 0] = _KLEAD3[hi]
    k[:, 1] = _KLEAD3[np.minimum(ids // 1000, 999)]
    k[:, 2] = _KLAST3[np.minimum(ids, 999)]
    x = rng.standard_normal((n, 4)) * _SCALES
    scaled = np.minimum(np.rint(np.abs(x) * 1e4), 999_999_999.0).astype(np.uint32)
    whole, frac = np.divmod(scaled, 10000)
    sign_idx = (x < 0).astype(np.uint32) * 100 + whole // 1000
    m[:, 3:15:3] = _SIGN2[sign_idx]
    k[:, 3:15:3] = _KSIGN2[sign_idx]
    m[:, 4:15:3] = _DOT3[whole % 1000]
    k[:, 4:15:3] = _KDOT3[np.minimum(whole, 999)]
    m[:, 5:15:3] = _DIG4[frac]
    k[:, 5:15:3] = _ONES
    m[:, 15] = _LABEL[rng.integers(0, 10, n)]
    k[:, 15] = _KLABEL
    return m.view(np.uint8)[k.view(np.bool_)].tobytes()


def csv_bytes(
    rng: np.random.Generator, target: int, start_id: int = 0, header: bytes = b""
) -> bytes:
    """Whole CSV lines from ``rng`` adding up to at most ``target`` bytes (at least one line)."""
    parts = [header]
    have = len(header)
    next_id = start_id
    while have < target:
        n = (target - have) // 44 + 64  # rows average ~45 bytes
        block = csv_rows(rng, next_id, n)
        parts.append(block)
        have += len(block)
        next_id += n
    data = b"".join(parts)
    cut = data.rfind(b"\n", 0, target) + 1 or data.find(b"\n") + 1
    return data[:cut]


def _write_csv_file(path: str, target: int, seed: int, index: int) -> int:
    data = csv_bytes(np.random.default_rng([seed, index]), target, header=HEADER)
    with open(path, "wb") as fh:
        fh.write(data)
    return len(data)


def _big_block(seed: int, block: int, rows: int) -> bytes:
    return csv_rows(np.random.default_rng([seed, 99, block]), block * rows, rows)


def _workers() -> int:
    return max(1, min(8, len(os.sched_getaffinity(0))))


def _ordered_map(pool: ProcessPoolExecutor, fn: Callable[..., Any], args: Iterable[tuple]):
    """Like ``pool.map`` but with at most 2x workers results in flight (bounded memory)."""
    window: list[Future] = []
    for a in args:
        window.append(pool.submit(fn, *a))
        if len(window) >= 2 * _workers():
            yield window.pop(0).result()
    for fut in window:
        yield fut.result()


def _cached_folder(cache: Path, name: str, build: Callable[[Path], dict]) -> tuple[Path, dict]:
    """``cache/name/data`` built once by ``build(tmp_data_dir)``; ``meta.json`` marks it done."""
    final = cache / name
    meta_path = final / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        meta["cached"] = True
        return final / "data", meta
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache))
    (tmp / "data").mkdir()
    t0 = time.perf_counter()
    meta = build(tmp / "data")
    meta["generation_s"] = round(time.perf_counter() - t0, 2)
    (tmp / "meta.json").write_text(json.dumps(meta))
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    meta["cached"] = False
    return final / "data", meta


def dataset_folder(cache: Path, size_mib: int, files: int, seed: int) -> tuple[Path, dict]:
    def build(data: Path) -> dict:
        total = size_mib * MIB
        targets = [total // files + (1 if i < total % files else 0) for i in range(files)]
        args = [(str(data / f"part-{i:05d}.csv"), t, seed, i) for i, t in enumerate(targets)]
        with ProcessPoolExecutor(_workers()) as pool:
            sizes = list(_ordered_map(pool, _write_csv_file, args))
        return {"files": files, "bytes": sum(sizes)}

    name = f"csv-{size_mib}mib-{files}f-seed{seed}-v{GENERATOR_VERSION}"
    log(f"dataset {name}")
    data, meta = _cached_folder(cache, name, build)
    how = "cached" if meta["cached"] else f"generated in {meta['generation_s']} s"
    log(f"dataset: {meta['files']} files, {meta['bytes'] / MIB:.1f} MiB ({how})")
    return data, meta


def big_file_folder(cache: Path, gib: float, seed: int) -> tuple[Path, dict]:
    def build(data: Path) -> dict:
        target = int(gib * GIB)
        rows = 1 << 16  # ~3 MB blocks: big arrays would page-fault fresh memory each time
        blocks = target // (rows * 44) + 2
        written = 0
        with (
            ProcessPoolExecutor(_workers()) as pool,
            open(data / "big.csv", "wb") as fh,
        ):
            fh.write(HEADER)
            written = len(HEADER)
            for block in _ordered_map(pool, _big_block, ((seed, b, rows) for b in range(blocks))):
                if written + len(block) >= target:
                    cut = block.rfind(b"\n", 0, target - written) + 1
                    fh.write(block[:cut])
                    written += cut
                    break
                fh.write(block)
                written += len(block)
        return {"files": 1, "bytes": written}

    name = f"big-{gib:g}gib-seed{seed}-v{GENERATOR_VERSION}"
    log(f"big file {name}")
    data, meta = _cached_folder(cache, name, build)
    how = "cached" if meta["cached"] else f"generated in {meta['generation_s']} s"
    log(f"big file: {meta['bytes'] / MIB:.1f} MiB ({how})")
    return data, meta


def append_changes(data: Path, seed: int, append_bytes: int) -> int:
    """Append ~``append_bytes`` of new CSV rows to two files (first and middle); bytes added."""
    files = sorted(p for p in data.iterdir() if p.is_file())
    added = 0
    for index in sorted({0, len(files) // 2}):
        extra = csv_bytes(np.random.default_rng([seed, 7, index]), append_bytes, 10**8)
        with open(files[index], "ab") as fh:
            fh.write(extra)
        added += len(extra)
    return added


# --------------------------------------------------------------------------------------------
# Measuring commands
# --------------------------------------------------------------------------------------------


@dataclass
class Run:
    cmd: list[str]
    rc: int
    wall_s: float
    cpu_s: float
    max_rss_mib: float
    stdout: str
    stderr: str

    def ok(self) -> bool:
        return self.rc == 0

    def describe(self) -> str:
        tail = (self.stderr.strip() or self.stdout.strip())[-1500:]
        return f"`{' '.join(self.cmd)}` exited {self.rc}: {tail}"


GNU_TIME = "/usr/bin/time"


def run(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    """Run ``cmd`` to completion; wall time, CPU time and peak RSS of that child alone.

    A child forked from this (numpy-laden) process starts with its RSS, and Linux keeps that
    as the child's peak across ``exec``; so when GNU time is installed the command is started
    from that small process and the peak RSS is its ``%M``."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r") as rss,
    ):
        launch = list(cmd)
        if PIN_CPUS:
            launch = ["taskset", "-c", PIN_CPUS, *launch]
        if os.access(GNU_TIME, os.X_OK):
            launch = [GNU_TIME, "-f", "%M", "-o", rss.name, *launch]
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            launch, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        peak_kib = usage.ru_maxrss  # KiB on Linux
        lines = rss.read().split()
        if lines and lines[-1].isdigit():
            peak_kib = int(lines[-1])
        return Run(
            cmd=[str(c) for c in cmd],
            rc=proc.returncode,
            wall_s=wall,
            cpu_s=usage.ru_utime + usage.ru_stime,
            max_rss_mib=peak_kib / 1024,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


class StepError(Exception):
    pass


def checked(r: Run) -> Run:
    if not r.ok():
        raise StepError(r.describe())
    return r


def warm_up(paths: Iterable[Path]) -> None:
    """Read every file once so the timed step reads from the page cache; flush dirty pages."""
    buf = bytearray(16 * MIB)
    for path in paths:
        with open(path, "rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass
    os.sync()


def files_under(root: Path) -> Iterator[Path]:
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            yield Path(dirpath) / name


def apparent_size(root: Path) -> int:
    """Sum of st_size of the files under ``root`` (or of ``root`` itself), 0 when absent."""
    if root.is_file():
        return root.stat().st_size
    return sum(p.lstat().st_size for p in files_under(root)) if root.exists() else 0


def count_files(root: Path) -> int:
    return sum(1 for _ in files_under(root)) if root.exists() else 0


def fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def r3(x: float) -> float:
    return round(x, 3)


def ratio(num: float | None, den: float | None, digits: int = 2) -> float | None:
    if num is None or not den:
        return None
    return round(num / den, digits)


# --------------------------------------------------------------------------------------------
# The tools
# --------------------------------------------------------------------------------------------


def b2sum_once(data: Path) -> Run:
    files = sorted(p.name for p in data.iterdir() if p.is_file())
    warm_up(data / f for f in files)
    return checked(run(["b2sum", *files], cwd=data))


def b2sum_summary(runs: list[Run], total_bytes: int) -> dict:
    """The median of the runs (as for the tools' cold adds), with every run listed."""
    mid = sorted(runs, key=lambda r: r.wall_s)[len(runs) // 2]
    return {
        "seconds": r3(mid.wall_s),
        "mib_s": round(total_bytes / MIB / mid.wall_s, 1),
        "cpu_s": r3(mid.cpu_s),
        "runs_s": [r3(r.wall_s) for r in runs],
    }


@dataclass
class Tool:
    """How one registry is driven: the add/push command and where its store lives."""

    name: str
    cmd: Callable[[Path], list[str]]  # data folder -> command line
    env: dict[str, str]
    cwd: Path | None
    store: Path  # grows with the stored content
    objects: Path  # files under it are the stored objects
    db: Path | None = None  # metadata database, measured apart
    parse_json: bool = False
    reset: Callable[[], None] = lambda: None  # forget everything stored: the next add is cold
    show_cmd: list[str] | None = None  # prints the stored version as JSON (loopml)


def _db_size(tool: Tool) -> int:
    if tool.db is None:
        return 0
    return sum(apparent_size(tool.db.with_name(tool.db.name + s)) for s in ("", "-wal"))


def _cli_summary(r: Run) -> dict:
    """The scalar fields of a ``--json`` answer (raises StepError when it is not JSON)."""
    try:
        obj = json.loads(r.stdout)
    except json.JSONDecodeError as exc:
        raise StepError(f"`{' '.join(r.cmd)}` did not print JSON: {r.stdout[-500:]!r}") from exc
    if not isinstance(obj, dict):
        return {"type": type(obj).__name__}
    return {k: v for k, v in obj.items() if v is None or isinstance(v, int | float | str | bool)}


def _step(tool: Tool, data: Path, label: str, res: dict[str, Any]) -> Run:
    log(f"{tool.name}: {label} ...")
    r = checked(run(tool.cmd(data), env=tool.env, cwd=tool.cwd))
    log(f"{tool.name}: {label} {r.wall_s:.2f} s (cpu {r.cpu_s:.2f} s, rss {r.max_rss_mib:.0f} MiB)")
    if tool.parse_json:
        res[f"cli_{label}"] = _cli_summary(r)
    return r


def _cold(tool: Tool, data: Path, res: dict[str, Any], fresh: bool) -> tuple[Run, float]:
    """One cold add from an empty store; the time to write out what it left in the page cache."""
    if not fresh:
        tool.reset()
    warm_up(files_under(data))
    cold = _step(tool, data, "cold", res)
    # What is still in the page cache only is not durable yet: time writing it out, so
    # the tools compare at equal durability too (loopml fsyncs its packs before it answers).
    started = time.perf_counter()
    os.sync()
    return cold, time.perf_counter() - started


def bench_tools(
    tools: list[tuple[Tool, Path]],
    seed: int,
    append_bytes: int,
    repeat: int = 3,
    b2sum_data: Path | None = None,
) -> dict[str, dict]:
    """Cold adds (``repeat`` each from an empty store, median reported), interleaved: every
    round runs each tool once, the order turning each round, so a drift of the machine's speed
    within the run reaches every tool alike (``b2sum`` over ``b2sum_data``, when given, runs
    once at the start of each round). Then per tool: warm re-add, add after appending to
    two files, store growth of the last. A tool that fails gets ``{"error": ...}``."""
    out: dict[str, dict] = {tool.name: {} for tool, _ in tools}
    colds: dict[str, list[tuple[Run, float]]] = {tool.name: [] for tool, _ in tools}
    hashes: list[Run] = []

    def failed(name: str) -> bool:
        return "error" in out.get(name, {})

    @contextlib.contextmanager
    def attempt(name: str) -> Iterator[None]:
        """A failure inside is logged and ends that tool's part, not the run."""
        try:
            yield
        except (StepError, OSError) as exc:
            log(f"{name}: FAILED: {exc}")
            out[name] = {"error": str(exc)}

    for n in range(repeat):
        if b2sum_data is not None and not failed("b2sum"):
            with attempt("b2sum"):
                hashes.append(b2sum_once(b2sum_data))
        for tool, data in tools if n % 2 == 0 else tools[::-1]:
            if not failed(tool.name):
                with attempt(tool.name):
                    colds[tool.name].append(_cold(tool, data, out[tool.name], fresh=n == 0))
    if b2sum_data is not None and hashes and not failed("b2sum"):
        out["b2sum"] = b2sum_summary(hashes, apparent_size(b2sum_data))
    for tool, data in tools:
        if not failed(tool.name):
            with attempt(tool.name):
                res = out[tool.name]
                out[tool.name] = _after_cold(tool, data, colds[tool.name], res, seed, append_bytes)
    return out


def _after_cold(
    tool: Tool,
    data: Path,
    colds: list[tuple[Run, float]],
    res: dict[str, Any],
    seed: int,
    append_bytes: int,
) -> dict:
    total = apparent_size(data)

    def step(label: str) -> Run:
        return _step(tool, data, label, res)

    # The disk here is virtual and its speed drifts: report the median of the cold runs.
    cold, cold_sync_s = sorted(colds, key=lambda c: c[0].wall_s)[len(colds) // 2]
    store_cold = apparent_size(tool.store)
    objects = count_files(tool.objects)
    res.update(
        cold_s=r3(cold.wall_s),
        cold_mib_s=round(total / MIB / cold.wall_s, 1),
        cold_cpu_s=r3(cold.cpu_s),
        cold_then_sync_s=r3(cold.wall_s + cold_sync_s),
        cold_runs_s=[r3(c.wall_s) for c, _ in colds],
        cold_max_rss_mib=round(cold.max_rss_mib, 1),
        store_bytes_after_cold=store_cold,
        store_vs_data_cold=ratio(store_cold, total, 3),
        objects=objects,
        objects_per_gib=round(objects / (total / GIB), 1),
    )
    if tool.db is not None:
        res["db_bytes_after_cold"] = _db_size(tool)
    if tool.show_cmd is not None:
        res["statistics"] = _statistics(tool)

    os.sync()
    warm = step("warm")
    res.update(warm_s=r3(warm.wall_s), warm_cpu_s=r3(warm.cpu_s))

    store_before, db_before = apparent_size(tool.store), _db_size(tool)
    appended = append_changes(data, seed, append_bytes)
    os.sync()
    change = step("change")
    growth = apparent_size(tool.store) - store_before
    res.update(
        change_s=r3(change.wall_s),
        change_cpu_s=r3(change.cpu_s),
        bytes_appended=appended,
        store_growth_bytes=growth,
        growth_ratio=ratio(growth, appended, 1),
        objects_after_change=count_files(tool.objects),
    )
    if tool.db is not None:
        res["db_growth_bytes"] = _db_size(tool) - db_before
    return res


def _statistics(tool: Tool) -> str:
    """Whether the push also profiled the tables (work DVC does not do), or why not."""
    assert tool.show_cmd is not None
    r = checked(run(tool.show_cmd, env=tool.env, cwd=tool.cwd))
    stats = json.loads(r.stdout).get("stats") or {}
    if "skipped" in stats:
        return f"skipped: {stats['skipped']}"
    return f"computed for {len(stats.get('tables', {}))} table(s)" if stats else "none"


def big_file_step(tool: Tool, data: Path) -> dict:
    total = apparent_size(data)
    warm_up(files_under(data))
    log(f"{tool.name}: big file ({total / GIB:.2f} GiB) ...")
    r = checked(run(tool.cmd(data), env=tool.env, cwd=tool.cwd))
    log(f"{tool.name}: big file {r.wall_s:.2f} s, peak RSS {r.max_rss_mib:.0f} MiB")
    return {
        "seconds": r3(r.wall_s),
        "mib_s": round(total / MIB / r.wall_s, 1),
        "cpu_s": r3(r.cpu_s),
        "max_rss_mib": round(r.max_rss_mib, 1),
    }


def dvc_env(root: Path) -> dict[str, str]:
    """DVC isolated from user/system config, with analytics, updater and Studio off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVC_")}
    env.update(
        DVC_NO_ANALYTICS="1",
        DVC_STUDIO_OFFLINE="1",
        DVC_SITE_CACHE_DIR=str(fresh_dir(root / "site-cache")),  # state db / hash cache
        DVC_GLOBAL_CONFIG_DIR=str(fresh_dir(root / "global-config")),
        DVC_SYSTEM_CONFIG_DIR=str(fresh_dir(root / "system-config")),
    )
    return env


def dvc_tool(dvc: str, root: Path, src: Path) -> Tool:
    """A fresh ``dvc init --no-scm`` repo at ``root/repo`` holding a copy of ``src`` as ``data``."""
    fresh_dir(root)
    env = dvc_env(root)
    repo = fresh_dir(root / "repo")
    checked(run([dvc, "init", "--no-scm", "-q"], env=env, cwd=repo))
    for key in ("core.check_update", "core.analytics"):
        checked(run([dvc, "config", key, "false"], env=env, cwd=repo))
    shutil.copytree(src, repo / "data")
    cache = repo / ".dvc" / "cache"

    def reset() -> None:
        for path in (cache, repo / ".dvc" / "tmp", Path(env["DVC_SITE_CACHE_DIR"])):
            shutil.rmtree(path, ignore_errors=True)
        for name in ("data.dvc", ".gitignore"):
            (repo / name).unlink(missing_ok=True)
        Path(env["DVC_SITE_CACHE_DIR"]).mkdir()

    return Tool(
        name="dvc",
        cmd=lambda _data: [dvc, "add", "-q", "data"],
        env=env,
        cwd=repo,
        store=cache,
        objects=cache,
        reset=reset,
    )


def loopml_tool(loopml: str, root: Path, name: str) -> Tool:
    """A fresh ``LOOPML_HOME`` at ``root/home``; pushes go to dataset ``name``."""
    home = fresh_dir(root) / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["LOOPML_HOME"] = str(home)
    return Tool(
        name="loopml",
        cmd=lambda data: [loopml, "datasets", "push", name, str(data), "--json"],
        env=env,
        cwd=root,
        store=home / "blobs",
        objects=home / "blobs" / "packs",
        db=home / "loopml.db",
        parse_json=True,
        reset=lambda: shutil.rmtree(home, ignore_errors=True),
        show_cmd=[loopml, "datasets", "show", name, "--json"],
    )


def guarded(label: str, fn: Callable[[], dict]) -> dict:
    """Run one tool's part; a failure becomes ``{"error": ...}`` instead of ending the run."""
    try:
        return fn()
    except (StepError, OSError) as exc:
        log(f"{label}: FAILED: {exc}")
        return {"error": str(exc)}


# --------------------------------------------------------------------------------------------
# Run info
# --------------------------------------------------------------------------------------------


def _first_line(cmd: list[str], env: dict[str, str] | None = None) -> str | None:
    try:
        r = run(cmd, env=env)
    except OSError:
        return None
    return r.stdout.strip().splitlines()[0] if r.ok() and r.stdout.strip() else None


def machine_info(dvc: str | None) -> dict:
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["mem_gib"] = round(int(line.split()[1]) / MIB, 1)
    except OSError:
        pass
    info["b2sum"] = _first_line(["b2sum", "--version"])
    if dvc:
        env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
        info["dvc"] = _first_line([dvc, "--version"], env)
    try:
        from importlib.metadata import version

        info["loopml"] = version("loopml")
    except Exception:
        info["loopml"] = None
    return info


def fs_type(path: Path) -> str | None:
    best, kind = "", None
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            _dev, mnt, typ, *_ = line.split()
            if str(path).startswith(mnt) and len(mnt) > len(best):
                best, kind = mnt, typ
    except OSError:
        pass
    return kind


def startup_time(cmd: list[str], env: dict[str, str]) -> float | None:
    try:
        r = run(cmd, env=env)
    except OSError:
        return None
    return r3(r.wall_s) if r.ok() else None


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def start_load(n: int) -> list[subprocess.Popen[bytes]]:
    """``n`` processes that each keep one core busy until :func:`stop_load`."""
    if n:
        log(f"load: {n} busy process(es) beside every timed command")
    return [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
        for _ in range(n)
    ]


def stop_load(hogs: list[subprocess.Popen[bytes]]) -> None:
    for hog in hogs:
        hog.kill()
        hog.wait()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--size-mib", type=int, default=1024, help="total size of the CSV folder")
    p.add_argument("--files", type=int, default=200, help="number of CSV files")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--cpus", default="", help="taskset core list for every timed command, e.g. 0 (one core)"
    )
    p.add_argument(
        "--load", type=int, default=0, help="busy-loop processes running beside the timed runs"
    )
    p.add_argument("--repeat", type=int, default=3, help="cold runs per tool (median reported)")
    p.add_argument("--append-kb", type=int, default=150, help="KB appended to each of two files")
    p.add_argument(
        "--big-file-gib", type=float, default=2.0, help="single-file peak-memory test; 0 = off"
    )
    p.add_argument("--only", default=",".join(TOOLS), help="comma list of: " + ", ".join(TOOLS))
    p.add_argument("--workdir", type=Path, help="default: a temp folder under /tmp")
    p.add_argument("--keep", action="store_true", help="keep the tool folders (and temp workdir)")
    p.add_argument("--loopml", default=str(DEFAULT_LOOPML), help="loopml CLI")
    p.add_argument("--dvc", default=str(DEFAULT_DVC), help="dvc CLI (see setup_venvs.sh)")
    args = p.parse_args(argv)
    args.only = [t.strip() for t in args.only.split(",") if t.strip()]
    unknown = set(args.only) - set(TOOLS)
    if unknown:
        p.error(f"--only: unknown tool(s) {sorted(unknown)}; choose from {list(TOOLS)}")
    if args.files < 1 or args.size_mib < 1:
        p.error("--files and --size-mib must be positive")
    if not 0 <= args.load <= 64:
        p.error("--load must be between 0 and 64")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    global PIN_CPUS
    PIN_CPUS = args.cpus
    if PIN_CPUS and shutil.which("taskset") is None:
        sys.exit("--cpus needs taskset (util-linux)")
    temp_workdir = args.workdir is None
    workdir = (
        Path(tempfile.mkdtemp(prefix="loopml-bench-", dir="/tmp")) if temp_workdir else args.workdir
    )
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    cache, runs = workdir / "cache", workdir / "run"
    log(f"workdir {workdir}")
    if os.getloadavg()[0] > 0.5:
        log(f"warning: load average {os.getloadavg()[0]:.2f}: other work will skew the timings")

    dvc = args.dvc if "dvc" in args.only else None
    dvc_missing = dvc is not None and not os.access(dvc, os.X_OK)
    if dvc_missing:
        log(f"dvc: {dvc} not found; run benchmarks/setup_venvs.sh")

    result: dict[str, Any] = {
        "benchmark": "datasets",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "params": {
            "size_mib": args.size_mib,
            "files": args.files,
            "seed": args.seed,
            "append_kb": args.append_kb,
            "big_file_gib": args.big_file_gib,
            "only": args.only,
            "workdir": str(workdir),
            "cpus": args.cpus or "all",
            "load_processes": args.load,
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
        },
        "machine": {**machine_info(None if dvc_missing else dvc), "workdir_fs": fs_type(workdir)},
    }
    hogs: list[subprocess.Popen[bytes]] = []
    try:
        src, meta = dataset_folder(cache, args.size_mib, args.files, args.seed)
        total = meta["bytes"]
        result["params"].update(data_bytes=total, generation_s=meta.get("generation_s"))
        append_bytes = args.append_kb * 1000
        hogs += start_load(args.load)

        startup: dict[str, float | None] = {}
        tools: list[tuple[Tool, Path]] = []
        if dvc:
            if dvc_missing:
                result["dvc"] = {"error": f"{dvc} not found: run benchmarks/setup_venvs.sh"}
            else:
                tool = dvc_tool(dvc, runs / "dvc", src)
                startup["dvc"] = startup_time([dvc, "--version"], tool.env)
                tools.append((tool, tool.cwd / "data"))
        if "loopml" in args.only:
            tool = loopml_tool(args.loopml, runs / "loopml", "bench")
            startup["loopml"] = startup_time([args.loopml, "--help"], tool.env)
            shutil.copytree(src, tool.cwd / "data")
            tools.append((tool, tool.cwd / "data"))
        b2sum_data = src if "b2sum" in args.only else None
        result.update(bench_tools(tools, args.seed, append_bytes, args.repeat, b2sum_data))
        if "b2sum" in result:
            log(f"b2sum: {result['b2sum']}")
        if "dvc" in result and "error" not in result["dvc"]:
            dvc_repo = runs / "dvc" / "repo"
            result["dvc"]["updater_ran"] = (dvc_repo / ".dvc" / "tmp" / "updater").exists()
        result["cli_startup_s"] = startup

        if args.big_file_gib > 0 and {"loopml", "dvc"} & set(args.only):
            big_src, big_meta = big_file_folder(cache, args.big_file_gib, args.seed)
            big: dict[str, Any] = {"gib": args.big_file_gib, "bytes": big_meta["bytes"]}
            if "loopml" in args.only:

                def loopml_big() -> dict:
                    tool = loopml_tool(args.loopml, runs / "loopml-big", "bigfile")
                    return big_file_step(tool, big_src)  # read-only: push straight from cache

                big["loopml"] = guarded("loopml big file", loopml_big)
            if dvc:

                def dvc_big() -> dict:
                    if dvc_missing:
                        raise StepError(f"{dvc} not found: run benchmarks/setup_venvs.sh")
                    tool = dvc_tool(dvc, runs / "dvc-big", big_src)
                    return big_file_step(tool, tool.cwd / "data")

                big["dvc"] = guarded("dvc big file", dvc_big)
            result["big_file"] = big

        result["ratios"] = ratios(result)
        result["params"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        stop_load(hogs)
        if not args.keep:
            shutil.rmtree(workdir if temp_workdir else runs, ignore_errors=True)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def ratios(result: dict) -> dict:
    """Speed-ups are ``other_s / loopml_s`` (>1: loopml faster)."""

    def get(*keys: str) -> Any:
        node: Any = result
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node

    out = {
        "loopml_vs_dvc_cold": ratio(get("dvc", "cold_s"), get("loopml", "cold_s")),
        "loopml_vs_dvc_cold_durable": ratio(
            get("dvc", "cold_then_sync_s"), get("loopml", "cold_then_sync_s")
        ),
        "loopml_vs_dvc_warm": ratio(get("dvc", "warm_s"), get("loopml", "warm_s")),
        "loopml_vs_dvc_change": ratio(get("dvc", "change_s"), get("loopml", "change_s")),
        "loopml_warm_vs_cold": ratio(get("loopml", "cold_s"), get("loopml", "warm_s")),
        # The same two pushes timed inside the process (the "seconds" loopml reports), without
        # the ~0.3 s of interpreter and SQLAlchemy start-up every CLI call pays.
        "loopml_warm_vs_cold_in_process": ratio(
            get("loopml", "cli_cold", "seconds"), get("loopml", "cli_warm", "seconds")
        ),
        "dvc_warm_vs_cold": ratio(get("dvc", "cold_s"), get("dvc", "warm_s")),
        "loopml_growth_ratio": get("loopml", "growth_ratio"),
        "dvc_growth_ratio": get("dvc", "growth_ratio"),
        "dvc_vs_loopml_growth": ratio(
            get("dvc", "store_growth_bytes"), get("loopml", "store_growth_bytes")
        ),
        "b2sum_mib_s": get("b2sum", "mib_s"),
        "loopml_cold_vs_b2sum": ratio(get("loopml", "cold_mib_s"), get("b2sum", "mib_s")),
        "dvc_cold_vs_b2sum": ratio(get("dvc", "cold_mib_s"), get("b2sum", "mib_s")),
        "loopml_vs_dvc_big_file": ratio(
            get("big_file", "dvc", "seconds"), get("big_file", "loopml", "seconds")
        ),
        "dvc_vs_loopml_big_file_rss": ratio(
            get("big_file", "dvc", "max_rss_mib"), get("big_file", "loopml", "max_rss_mib")
        ),
    }
    return {k: v for k, v in out.items() if v is not None}


if __name__ == "__main__":
    sys.exit(main())
