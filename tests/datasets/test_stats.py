from __future__ import annotations

import gzip
import json
import pathlib
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopml.core.errors import InvalidInput, NotFound
from loopml.datasets.stats import ScanLimits, diff_stats, is_table, table_stats

TOP_COUNTS = {"alpha": 40, "beta": 25, "gamma": 15, "delta": 10, "eps": 6, "zeta": 4}
STREAMED = ScanLimits(in_memory_bytes=0, batch_bytes=64 * 2**10)


def _frame(rows: int = 120, seed: int = 7) -> pd.DataFrame:
    """Ints (with and without nulls), floats with NaN, strings with nulls, bools, timestamps."""
    rng = np.random.default_rng(seed)
    words: list[str | None] = [w for w, n in TOP_COUNTS.items() for _ in range(n)]
    words += [None] * (rows - len(words))
    rng.shuffle(words)
    floats = rng.normal(10.0, 3.0, rows).round(6)
    floats[::9] = np.nan
    counted = pd.array(rng.integers(-50, 50, rows), dtype="Int64")
    counted[::13] = pd.NA
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "level": np.repeat([3, 1, 2], [rows // 2, rows // 3, rows - rows // 2 - rows // 3]),
            "counted": counted,
            "score": floats,
            "word": pd.Series(words, dtype=object),
            "flag": np.arange(rows) % 3 == 0,
            "at": pd.date_range("2024-03-01 06:00", periods=rows, freq="37min"),
        }
    )


def _write_csv(frame: pd.DataFrame, path: pathlib.Path) -> pathlib.Path:
    frame.to_csv(path, index=False)
    return path


def _write_parquet(frame: pd.DataFrame, path: pathlib.Path) -> pathlib.Path:
    frame.to_parquet(path, index=False)
    return path


WRITERS: dict[str, tuple[str, Callable[[pd.DataFrame, pathlib.Path], pathlib.Path]]] = {
    "csv": ("data.csv", _write_csv),
    "parquet": ("data.parquet", _write_parquet),
}


def _columns(stats: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {column["name"]: column for column in stats["columns"]}


@pytest.mark.parametrize("file_format", sorted(WRITERS))
def test_stats_match_pandas_for_each_column_type(tmp_path: pathlib.Path, file_format: str) -> None:
    frame = _frame()
    name, write = WRITERS[file_format]
    stats = table_stats(write(frame, tmp_path / name))

    assert stats["format"] == file_format
    assert stats["rows"] == len(frame)
    columns = _columns(stats)
    assert list(columns) == list(frame.columns)
    for name in ("id", "level", "counted", "score"):
        column, series = columns[name], frame[name].astype("float64")
        assert column["nulls"] == int(series.isna().sum()), name
        assert column["min"] == pytest.approx(series.min()), name
        assert column["max"] == pytest.approx(series.max()), name
        assert column["mean"] == pytest.approx(series.mean(), rel=1e-12), name
        assert column["std"] == pytest.approx(series.std(), rel=1e-12), name
        assert column["distinct"] == series.nunique(), name
    assert columns["id"]["dtype"] == "int64"
    assert columns["counted"]["dtype"] == "int64"
    assert columns["score"]["dtype"] == "float64"
    assert columns["word"]["dtype"] == "string"
    assert columns["flag"]["dtype"] == "bool"
    assert columns["at"]["dtype"].startswith("timestamp[")


@pytest.mark.parametrize("file_format", sorted(WRITERS))
def test_top_values_are_the_five_most_frequent(tmp_path: pathlib.Path, file_format: str) -> None:
    frame = _frame()
    name, write = WRITERS[file_format]
    columns = _columns(table_stats(write(frame, tmp_path / name)))

    expected_words = [[word, count] for word, count in frame["word"].value_counts().items()][:5]
    assert columns["word"]["top"] == expected_words
    assert columns["word"]["nulls"] == 20
    assert columns["word"]["distinct"] == len(TOP_COUNTS)
    assert columns["flag"]["top"] == [[False, 80], [True, 40]]
    assert columns["level"]["top"] == [[3, 60], [1, 40], [2, 20]]


def test_float_and_text_columns_have_no_top_and_text_has_no_numbers(
    tmp_path: pathlib.Path,
) -> None:
    columns = _columns(table_stats(_write_csv(_frame(), tmp_path / "data.csv")))

    assert columns["score"]["top"] is None
    assert columns["id"]["top"] is None  # 120 distinct integers is not low-cardinality
    for name in ("word", "flag"):
        assert columns[name]["mean"] is None
        assert columns[name]["min"] is None
        assert columns[name]["std"] is None


@pytest.mark.parametrize("file_format", sorted(WRITERS))
def test_timestamp_bounds_are_iso_strings(tmp_path: pathlib.Path, file_format: str) -> None:
    frame = _frame()
    name, write = WRITERS[file_format]
    column = _columns(table_stats(write(frame, tmp_path / name)))["at"]

    assert column["min"] == frame["at"].min().isoformat()
    assert column["max"] == frame["at"].max().isoformat()
    assert column["distinct"] == len(frame)
    assert column["mean"] is None


def test_timezone_aware_timestamps_are_rendered_in_utc(tmp_path: pathlib.Path) -> None:
    at = pd.date_range("2024-06-01 12:00", periods=3, freq="h", tz="Europe/Paris")
    path = _write_parquet(pd.DataFrame({"at": at}), tmp_path / "zoned.parquet")

    column = table_stats(path)["columns"][0]

    assert column["dtype"] == f"timestamp[{at.unit}, tz=Europe/Paris]"
    assert column["min"] == "2024-06-01T10:00:00Z"
    assert column["max"] == "2024-06-01T12:00:00Z"


def test_categorical_column_reports_dictionary_type_and_top(tmp_path: pathlib.Path) -> None:
    colors = pd.Categorical(["red"] * 5 + ["blue"] * 3 + ["green"])
    path = _write_parquet(pd.DataFrame({"color": colors}), tmp_path / "cat.parquet")

    column = table_stats(path)["columns"][0]

    assert column["dtype"] == "dictionary<string>"
    assert column["top"] == [["red", 5], ["blue", 3], ["green", 1]]
    assert column["distinct"] == 3


def test_gzipped_csv_and_tsv_are_read(tmp_path: pathlib.Path) -> None:
    frame = _frame()
    gzipped = tmp_path / "data.csv.gz"
    with gzip.open(gzipped, "wt") as stream:
        frame.to_csv(stream, index=False)
    tsv = tmp_path / "data.tsv"
    frame.to_csv(tsv, index=False, sep="\t")

    for path in (gzipped, tsv):
        for limits in (None, STREAMED):
            stats = table_stats(path, limits=limits)
            assert stats["rows"] == len(frame), (path, limits)
            assert [c["name"] for c in stats["columns"]] == list(frame.columns), (path, limits)
            assert _columns(stats)["word"]["top"][0] == ["alpha", 40], (path, limits)


def test_stats_are_json_serializable_without_nan_or_infinity(tmp_path: pathlib.Path) -> None:
    frame = _frame()
    frame["all_missing"] = np.nan
    frame["infinite"] = np.where(np.arange(len(frame)) % 2 == 0, np.inf, 1.0)
    frame["one_value"] = 1.5
    path = _write_parquet(frame, tmp_path / "data.parquet")

    stats = table_stats(path)

    json.dumps(stats, allow_nan=False)
    columns = _columns(stats)
    assert columns["all_missing"]["nulls"] == len(frame)
    assert columns["all_missing"]["mean"] is None
    assert columns["infinite"]["max"] is None
    assert columns["infinite"]["min"] == 1.0
    assert columns["one_value"]["std"] == 0.0


def test_nan_in_float_column_counts_as_null(tmp_path: pathlib.Path) -> None:
    path = _write_parquet(
        pd.DataFrame({"x": [1.0, float("nan"), 3.0, None]}), tmp_path / "nan.parquet"
    )

    column = table_stats(path)["columns"][0]

    assert column["nulls"] == 2
    assert column["mean"] == 2.0
    assert column["distinct"] == 2


def test_header_only_csv_has_zero_rows(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("a,b\n")

    stats = table_stats(path)

    assert stats["rows"] == 0
    assert [(c["name"], c["nulls"], c["distinct"]) for c in stats["columns"]] == [
        ("a", 0, 0),
        ("b", 0, 0),
    ]


def test_ragged_csv_returns_parse_error_with_line_number(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,c\n1,2,3\n4,5,6\n7,8,9,10,11\n")

    stats = table_stats(path)

    assert stats == {
        "format": "csv",
        "error": "CSV parse error: Expected 3 columns, got 5 on line 4: 7,8,9,10,11",
    }


def test_ragged_row_in_a_large_csv_is_reported_by_the_streamed_scan(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "ragged.csv"
    lines = ["a,b"] + [f"{i},{i * 2}" for i in range(20_000)] + ["1,2,3"]
    path.write_text("\n".join(lines) + "\n")

    stats = table_stats(path, limits=STREAMED)

    assert stats["error"].startswith("CSV parse error: Expected 2 columns, got 3 on line 20002")


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("junk.csv", bytes(range(256)) * 40, "not a text file"),
        ("empty.csv", b"", "Empty CSV file"),
        ("broken.csv.gz", b"not gzip at all", "cannot read file"),
    ],
)
def test_unparseable_csv_returns_a_one_line_reason(
    tmp_path: pathlib.Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)

    stats = table_stats(path)

    assert set(stats) == {"format", "error"}
    assert stats["format"] == "csv"
    assert reason in stats["error"]
    assert "\n" not in stats["error"]


def test_corrupt_parquet_returns_a_reason(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1" + b"\x00garbage" * 50)

    stats = table_stats(path)

    assert stats["format"] == "parquet"
    assert stats["error"].startswith("Parquet read error:")


def test_file_over_the_size_limit_is_skipped_with_a_reason(tmp_path: pathlib.Path) -> None:
    path = _write_csv(_frame(), tmp_path / "data.csv")

    stats = table_stats(path, limits=ScanLimits(max_bytes=100))

    assert stats["format"] == "csv"
    assert stats["error"].startswith("statistics skipped:")


def test_non_table_path_and_missing_file_are_user_errors(tmp_path: pathlib.Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")

    with pytest.raises(InvalidInput, match=r"notes\.txt"):
        table_stats(notes)
    with pytest.raises(NotFound):
        table_stats(tmp_path / "absent.csv")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.csv", True),
        ("A.CSV", True),
        ("a.tsv", True),
        ("a.csv.gz", True),
        ("a.parquet", True),
        ("a.pq", True),
        ("a.json", False),
        ("a.gz", False),
        ("csv", False),
    ],
)
def test_is_table_decides_by_extension(name: str, expected: bool) -> None:
    assert is_table(pathlib.Path("dir") / name) is expected


@pytest.mark.parametrize("file_format", sorted(WRITERS))
def test_streamed_scan_gives_the_same_stats_as_reading_whole(
    tmp_path: pathlib.Path, file_format: str
) -> None:
    frame = _frame(rows=30_000, seed=3)
    name, write = WRITERS[file_format]
    path = write(frame, tmp_path / name)

    whole, streamed = table_stats(path), table_stats(path, limits=STREAMED)

    assert streamed["rows"] == whole["rows"] == len(frame)
    for before, after in zip(whole["columns"], streamed["columns"], strict=True):
        for stat in ("name", "dtype", "nulls", "min", "max", "distinct", "top", "approximate"):
            assert after[stat] == before[stat], (before["name"], stat)
        for stat in ("mean", "std"):
            expected = before[stat] if before[stat] is None else pytest.approx(before[stat])
            assert after[stat] == expected, (before["name"], stat)


def test_streamed_scan_widens_a_column_whose_type_changes_after_the_first_batch(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "late.csv"
    rows = [f"{i},{i}" for i in range(20_000)] + ["2.5,x"]
    path.write_text("n,code\n" + "\n".join(rows) + "\n")

    stats = table_stats(path, limits=STREAMED)

    columns = _columns(stats)
    assert stats["rows"] == 20_001
    assert columns["n"]["dtype"] == "float64"
    assert columns["n"]["max"] == 19_999
    assert columns["code"]["dtype"] == "string"
    assert columns["code"]["distinct"] == 20_001


def test_distinct_becomes_an_estimate_above_the_exact_limit(tmp_path: pathlib.Path) -> None:
    rows = 60_000
    frame = pd.DataFrame(
        {
            "key": [f"k{i % 50_000}" for i in range(rows)],
            "n": np.arange(rows) % 40_000,
            "x": (np.arange(rows) % 30_000) / 7.0 - 100.0,
        }
    )
    path = _write_parquet(frame, tmp_path / "keys.parquet")

    limits = ScanLimits(in_memory_bytes=0, batch_bytes=32 * 2**10, exact_distinct=1_000)
    columns = _columns(table_stats(path, limits=limits))

    assert columns["key"]["distinct"] == pytest.approx(50_000, rel=0.03)
    assert columns["n"]["distinct"] == pytest.approx(40_000, rel=0.03)
    assert columns["x"]["distinct"] == pytest.approx(30_000, rel=0.03)
    assert all("distinct" in columns[c]["approximate"] for c in ("key", "n", "x"))
    assert "top" in columns["key"]["approximate"]
    assert columns["key"]["top"][0][1] == 2


def test_diff_reports_added_removed_and_retyped_columns_and_row_change(
    tmp_path: pathlib.Path,
) -> None:
    old_frame = _frame()
    new_frame = _frame(rows=150).drop(columns=["flag"])
    new_frame["extra"] = 1
    new_frame["level"] = new_frame["level"].astype("float64") + 0.5
    old = table_stats(_write_parquet(old_frame, tmp_path / "old.parquet"))
    new = table_stats(_write_parquet(new_frame, tmp_path / "new.parquet"))

    diff = diff_stats(old, new)

    assert diff["rows"] == {"old": 120, "new": 150, "change": 30}
    assert diff["columns_added"] == ["extra"]
    assert diff["columns_removed"] == ["flag"]
    assert diff["dtype_changes"] == [{"column": "level", "old": "int64", "new": "float64"}]
    assert diff["errors"] == {"old": None, "new": None}
    changes = {(c["column"], c["stat"]): (c["old"], c["new"]) for c in diff["column_changes"]}
    level_mean = (old_frame["level"].mean(), new_frame["level"].mean())
    assert changes[("level", "mean")] == pytest.approx(level_mean)
    assert ("id", "max") in changes
    json.dumps(diff, allow_nan=False)


def test_diff_reports_only_the_stats_that_changed(tmp_path: pathlib.Path) -> None:
    frame = _frame()
    old = table_stats(_write_csv(frame, tmp_path / "old.csv"))
    frame.loc[1, "score"] = 1000.0
    new = table_stats(_write_csv(frame, tmp_path / "new.csv"))

    diff = diff_stats(old, new)

    assert diff["rows"]["change"] == 0
    assert {(c["column"], c["stat"]) for c in diff["column_changes"]} == {
        ("score", "max"),
        ("score", "mean"),
        ("score", "std"),
    }
    assert diff["columns_added"] == diff["columns_removed"] == diff["dtype_changes"] == []


def test_diff_ignores_float_noise_below_the_tolerance() -> None:
    column = {"name": "x", "dtype": "float64", "nulls": 0, "mean": 0.1 + 0.2, "std": 1.0}
    noisy = {**column, "mean": 0.3, "std": 1.0 + 1e-13}

    diff = diff_stats(
        {"format": "csv", "rows": 3, "columns": [column]},
        {"format": "csv", "rows": 3, "columns": [noisy]},
    )

    assert diff["column_changes"] == []


def test_diff_with_an_unparseable_side_reports_the_error_and_no_columns(
    tmp_path: pathlib.Path,
) -> None:
    good = table_stats(_write_csv(_frame(), tmp_path / "good.csv"))
    bad = {"format": "csv", "error": "CSV parse error: Expected 3 columns, got 5 on line 4"}

    diff = diff_stats(bad, good)

    assert diff["rows"] == {"old": None, "new": 120, "change": None}
    assert diff["errors"] == {"old": bad["error"], "new": None}
    assert diff["columns_added"] == diff["columns_removed"] == diff["column_changes"] == []


def test_importing_the_module_does_not_load_pyarrow() -> None:
    code = "import sys, loopml.datasets.stats; print('pyarrow' in sys.modules)"

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert done.stdout.strip() == "False"
