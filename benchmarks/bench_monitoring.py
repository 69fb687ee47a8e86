"""Drift-computation benchmark: loopml against Evidently's DataDriftPreset and plain scipy, in
one run, on the same generated data.

Usage (the project venv; Evidently comes from its own venv, see ``setup_monitoring_venv.sh``)::

    bash benchmarks/setup_monitoring_venv.sh
    .venv/bin/python benchmarks/bench_monitoring.py                      # 100k and 1M rows, 10M streamed
    .venv/bin/python benchmarks/bench_monitoring.py --sizes 20000 --stream-rows 200000   # smoke

One JSON object goes to stdout, progress to stderr. The data: a reference and a current table
of N rows x 20 columns (15 numeric of assorted distributions, 5 categorical strings with 4 to
40 categories), of which 3 are shifted in the current table (``n00`` moved by 0.5 std, ``n01``
scaled by 1.5, ``c00`` with its category shares reordered), written to Parquet under
``--workdir`` (cached by parameters). Each side runs in its own child process, which reads the
Parquet files, then computes the drift of every column ``--repeat`` times; reported: the best
compute time (reading excluded, reported apart), the peak RSS of the child (``os.wait4``), the
columns flagged and the test run on each column.

* loopml: ``loopml.monitoring.drift.compare`` on pyarrow Tables; at these sizes (more than
  1,000 rows) it runs normed Wasserstein (threshold 0.1) and PSI on numeric columns and
  Jensen-Shannon distance (0.1) on categorical ones. Columns are read and compared on threads
  (the cores, at most 4); ``loopml-1thread`` is the same on one thread, beside the
  single-threaded Evidently and scipy.
* evidently: ``Report([DataDriftPreset()]).run(current, reference)`` with the column types
  declared (``DataDefinition``); for a reference of more than 1,000 rows Evidently picks the
  same tests: normed Wasserstein (0.1) for numeric columns with more than 5 values,
  Jensen-Shannon distance (0.1) for categorical ones.
* scipy: ``scipy.stats.ks_2samp`` (p < 0.05) on each numeric column and
  ``scipy.stats.chi2_contingency`` (p < 0.05) on the category counts (``numpy.unique``) of each
  categorical one: the plain-library baseline. Tests with p-values on 100k+ rows flag the
  smallest differences, so its flags are compared but not expected to match the distance tests
  on every unshifted column.

Agreement: the columns each side flags, against the shifted ones and against loopml's.
Streaming: a current window of ``--stream-rows`` rows (default 10,000,000) in a Parquet file
with row groups of 1,000,000, compared by ``compare_batches`` (numeric columns sampled to
1,000,000 rows, see ``loopml.monitoring.drift``) against the largest reference; wall time of the
whole child (reading included) and its peak RSS. The load average is recorded before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_EVIDENTLY = HERE / ".venv-evidently" / "bin" / "python"
NUMERIC = [f"n{i:02d}" for i in range(15)]
CATEGORICAL = [f"c{i:02d}" for i in range(5)]
COLUMNS = NUMERIC + CATEGORICAL
SHIFTED = ["n00", "n01", "c00"]
GENERATOR_VERSION = 1
_T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def _chunk(n: int, seed: int, shifted: bool) -> Any:
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        kind = i % 5
        if kind == 0:
            x = rng.normal(10.0 * i, 1.0 + i, n)
        elif kind == 1:
            x = rng.lognormal(0.0, 0.5, n)
        elif kind == 2:
            x = rng.uniform(-5.0, 5.0, n)
        elif kind == 3:
            x = rng.exponential(2.0, n)
        else:
            x = rng.gamma(2.0, 3.0, n)
        if shifted and name == "n00":
            x = x + 0.5 * (1.0 + i)
        if shifted and name == "n01":
            x = x * 1.5
        if i % 7 == 3:  # a few missing values
            x[rng.random(n) < 0.01] = np.nan
        cols[name] = x
    for i, name in enumerate(CATEGORICAL):
        k = (4, 8, 12, 20, 40)[i]
        labels = np.array([f"{name}_v{j}" for j in range(k)])
        p = np.linspace(1.0, 3.0, k)
        if shifted and name == "c00":
            p = p[::-1] ** 2
        cols[name] = pa.array(rng.choice(labels, n, p=p / p.sum()))
    return pa.table(cols)


def make_parquet(path: Path, rows: int, seed: int, shifted: bool, chunk: int = 1_000_000) -> Path:
    """Write the table of ``rows`` rows in row groups of ``chunk`` (cached by name)."""
    import pyarrow.parquet as pq

    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    writer = None
    try:
        done = 0
        part = 0
        while done < rows:
            n = min(chunk, rows - done)
            table = _chunk(n, seed * 1000 + part, shifted)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table, row_group_size=chunk)
            done += n
            part += 1
    finally:
        if writer is not None:
            writer.close()
    tmp.rename(path)
    return path


# --------------------------------------------------------------------------------------------
# Workers (each runs in its own child process)
# --------------------------------------------------------------------------------------------


def worker_loopml(
    ref_path: str, cur_path: str, repeat: int, threads: int | None = None
) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from loopml.monitoring.drift import compare
    from loopml.monitoring.summary import default_threads

    t = time.perf_counter()
    ref, cur = pq.read_table(ref_path), pq.read_table(cur_path)
    load = time.perf_counter() - t
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        report = compare(ref, cur, columns=COLUMNS, prediction=None, threads=threads)
        times.append(time.perf_counter() - t)
    return {
        "threads": threads or default_threads(),
        "load_s": load,
        "times_s": times,
        "flagged": sorted(report.drifted_columns),
        "tests": {c.column: f"{c.test.value} (threshold {c.threshold})" for c in report.columns},
        "statistics": {c.column: c.statistic for c in report.columns},
    }


def worker_scipy(ref_path: str, cur_path: str, repeat: int) -> dict[str, Any]:
    import numpy as np
    import pyarrow.parquet as pq
    from scipy.stats import chi2_contingency, ks_2samp

    t = time.perf_counter()
    ref, cur = pq.read_table(ref_path), pq.read_table(cur_path)
    ref_np = {c: ref.column(c).to_numpy() for c in COLUMNS}
    cur_np = {c: cur.column(c).to_numpy() for c in COLUMNS}
    load = time.perf_counter() - t
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        flagged, stats = [], {}
        for c in NUMERIC:
            a, b = ref_np[c], cur_np[c]
            result = ks_2samp(a[~np.isnan(a)], b[~np.isnan(b)])
            stats[c] = float(result.pvalue)
            if result.pvalue < 0.05:
                flagged.append(c)
        for c in CATEGORICAL:
            rv, rc = np.unique(ref_np[c], return_counts=True)
            cv, cc = np.unique(cur_np[c], return_counts=True)
            cats = np.union1d(rv, cv)
            table = np.zeros((2, len(cats)))
            table[0, np.searchsorted(cats, rv)] = rc
            table[1, np.searchsorted(cats, cv)] = cc
            p = float(chi2_contingency(table, correction=False).pvalue)
            stats[c] = p
            if p < 0.05:
                flagged.append(c)
        times.append(time.perf_counter() - t)
    tests = {c: "ks_2samp p-value (0.05)" for c in NUMERIC}
    tests.update({c: "chi2_contingency p-value (0.05)" for c in CATEGORICAL})
    return {
        "load_s": load,
        "times_s": times,
        "flagged": sorted(flagged),
        "tests": tests,
        "statistics": stats,
    }


def worker_evidently(ref_path: str, cur_path: str, repeat: int) -> dict[str, Any]:
    import evidently
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    t = time.perf_counter()
    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    load = time.perf_counter() - t
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    times = []
    result: dict[str, Any] = {}
    for _ in range(repeat):
        t = time.perf_counter()
        snapshot = Report([DataDriftPreset()]).run(
            Dataset.from_pandas(cur, data_definition=definition),
            Dataset.from_pandas(ref, data_definition=definition),
        )
        result = snapshot.dict()
        times.append(time.perf_counter() - t)
    flagged, tests, stats = [], {}, {}
    for metric in result["metrics"]:
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith("ValueDrift"):
            continue
        column, method = config["column"], str(config["method"])
        threshold, value = float(config["threshold"]), float(metric["value"])
        tests[column] = f"{method} (threshold {threshold})"
        stats[column] = value
        drifted = value < threshold if "p_value" in method else value >= threshold
        if drifted:
            flagged.append(column)
    return {
        "load_s": load,
        "times_s": times,
        "flagged": sorted(flagged),
        "tests": tests,
        "statistics": stats,
        "version": evidently.__version__,
        "pandas": pd.__version__,
    }


def worker_stream(ref_path: str, cur_path: str, repeat: int) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from loopml.monitoring.drift import compare_batches, prepare_reference
    from loopml.monitoring.summary import Summary

    t = time.perf_counter()
    # The reference is read one column at a time (as a monitor would prepare and keep it), so
    # the whole reference table is never in memory beside its sorted columns.
    reference = Summary(rows=pq.ParquetFile(ref_path).metadata.num_rows)
    for name in COLUMNS:
        one = prepare_reference(
            pq.read_table(ref_path, columns=[name]), columns=[name], prediction=None
        )
        reference.columns.update(one.columns)
    prepared = time.perf_counter() - t
    # pre_buffer=False: with it, pyarrow keeps every row group it has read (RSS grows with the
    # file); without it, one row group at a time.
    reader = pq.ParquetFile(cur_path, pre_buffer=False)
    batches = reader.iter_batches(batch_size=131_072, columns=COLUMNS)
    report = compare_batches(reference, batches, columns=COLUMNS, prediction=None)
    total = time.perf_counter() - t
    return {
        "prepare_reference_s": prepared,
        "total_s": total,
        "rows": report.current_rows,
        "flagged": sorted(report.drifted_columns),
        "note": report.note,
    }


def worker_loopml_1thread(ref_path: str, cur_path: str, repeat: int) -> dict[str, Any]:
    return worker_loopml(ref_path, cur_path, repeat, threads=1)


WORKERS = {
    "loopml": worker_loopml,
    "loopml-1thread": worker_loopml_1thread,
    "scipy": worker_scipy,
    "evidently": worker_evidently,
    "stream": worker_stream,
}


def run_child(python: str, side: str, ref: Path, cur: Path, repeat: int) -> dict[str, Any]:
    """Run one side in a fresh process; its result plus wall time and peak RSS."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryFile("w+") as out:
        t = time.perf_counter()
        proc = subprocess.Popen(
            [python, __file__, "--worker", side, str(ref), str(cur), str(repeat)],
            stdout=out,
            env=env,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}", "output": text[-2000:]}
    result = json.loads(text)
    result["process_wall_s"] = round(wall, 3)
    result["peak_rss_mib"] = round(usage.ru_maxrss / 1024, 1)  # KiB on Linux
    if "times_s" in result:
        result["best_s"] = round(min(result["times_s"]), 4)
        result["times_s"] = [round(x, 4) for x in result["times_s"]]
        result["load_s"] = round(result["load_s"], 3)
    return result


def _agreement(a: list[str], b: list[str]) -> dict[str, Any]:
    differ = sorted(set(a) ^ set(b))
    return {"same": len(COLUMNS) - len(differ), "of": len(COLUMNS), "differ": differ}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--sizes", default="100000,1000000", help="rows per table, comma list")
    p.add_argument("--stream-rows", type=int, default=10_000_000, help="0: skip the stream test")
    p.add_argument("--repeat", type=int, default=3, help="runs per side (best reported)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", default="loopml,loopml-1thread,scipy,evidently", help="sides to run")
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "bench-monitoring")
    p.add_argument("--evidently-python", default=str(DEFAULT_EVIDENTLY))
    args = p.parse_args(argv)
    sides = [s for s in args.only.split(",") if s]
    sizes = [int(s) for s in args.sizes.split(",") if s]
    args.workdir.mkdir(parents=True, exist_ok=True)
    if "evidently" in sides and not Path(args.evidently_python).exists():
        log(f"no {args.evidently_python}: run bash benchmarks/setup_monitoring_venv.sh")
        sides.remove("evidently")
    if os.getloadavg()[0] > 0.5:
        log(f"warning: load average {os.getloadavg()[0]:.2f}: other work will skew the timings")
    import numpy
    import pyarrow
    import scipy

    result: dict[str, Any] = {
        "benchmark": "monitoring drift",
        "params": {
            "sizes": sizes,
            "columns": {"numeric": NUMERIC, "categorical": CATEGORICAL},
            "shifted": SHIFTED,
            "repeat": args.repeat,
            "seed": args.seed,
            "stream_rows": args.stream_rows,
            "sides": sides,
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
        },
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": numpy.__version__,
            "scipy": scipy.__version__,
            "pyarrow": pyarrow.__version__,
        },
        "sizes": {},
    }
    pythons = {side: sys.executable for side in WORKERS}
    pythons["evidently"] = args.evidently_python
    tag = f"g{GENERATOR_VERSION}-s{args.seed}"
    for n in sizes:
        log(f"generating {n:,} rows")
        ref = make_parquet(args.workdir / f"ref-{n}-{tag}.parquet", n, args.seed, False)
        cur = make_parquet(args.workdir / f"cur-{n}-{tag}.parquet", n, args.seed + 1, True)
        entry: dict[str, Any] = {}
        for side in sides:
            log(f"{n:,} rows: {side}")
            entry[side] = run_child(pythons[side], side, ref, cur, args.repeat)
            log(f"  best {entry[side].get('best_s')} s, peak {entry[side].get('peak_rss_mib')} MiB")
        for me in ("loopml", "loopml-1thread"):
            mine = entry.get(me, {})
            if "best_s" not in mine:
                continue
            for other in ("evidently", "scipy"):
                if "best_s" in entry.get(other, {}):
                    entry[f"speedup_{me}_vs_{other}"] = round(
                        entry[other]["best_s"] / mine["best_s"], 1
                    )
            if "peak_rss_mib" in entry.get("evidently", {}):
                entry[f"peak_rss_{me}_below_evidently"] = (
                    mine["peak_rss_mib"] < entry["evidently"]["peak_rss_mib"]
                )
        flags = {s: entry[s]["flagged"] for s in sides if "flagged" in entry.get(s, {})}
        entry["agreement"] = {
            f"{s}_vs_shifted": _agreement(f, SHIFTED) for s, f in flags.items()
        } | {
            f"loopml_vs_{s}": _agreement(flags["loopml"], f)
            for s, f in flags.items()
            if s != "loopml" and "loopml" in flags
        }
        result["sizes"][str(n)] = entry
    if args.stream_rows > 0:
        ref_n = max(sizes) if sizes else 1_000_000
        log(f"generating the streamed window of {args.stream_rows:,} rows")
        ref = make_parquet(args.workdir / f"ref-{ref_n}-{tag}.parquet", ref_n, args.seed, False)
        cur = make_parquet(
            args.workdir / f"stream-{args.stream_rows}-{tag}.parquet",
            args.stream_rows,
            args.seed + 2,
            True,
        )
        log("streaming")
        stream = run_child(sys.executable, "stream", ref, cur, 1)
        stream["reference_rows"] = ref_n
        stream["limits"] = {"wall_s": 60, "peak_rss_mib": 1024}
        result["stream"] = stream
        log(f"  {stream.get('total_s')} s, peak {stream.get('peak_rss_mib')} MiB")
    result["params"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        side, ref_path, cur_path, repeat = sys.argv[2:6]
        print(json.dumps(WORKERS[side](ref_path, cur_path, int(repeat))))
    else:
        main()
