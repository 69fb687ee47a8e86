"""Drift decisions: found on shifted data, rare on same-distribution data, and never a
"no drift" where the data could not be compared."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from loopml.api import codec
from loopml.api.monitoring import (
    ColumnKind,
    ColumnOptions,
    DriftReport,
    DriftStatus,
    DriftTest,
)
from loopml.core.errors import InvalidInput
from loopml.monitoring.drift import compare, compare_batches, prepare_reference

NUM = ["x1", "x2", "x3"]
CAT = ["color", "grade"]


def _table(n: int, seed: int, *, shift: float = 0.0, tilt: bool = False) -> pa.Table:
    rng = np.random.default_rng(seed)
    p = [0.2, 0.3, 0.5] if tilt else [0.5, 0.3, 0.2]
    return pa.table(
        {
            "x1": rng.normal(shift, 1.0, n),
            "x2": rng.exponential(2.0, n),
            "x3": rng.uniform(-1, 1, n),
            "color": rng.choice(np.array(["red", "green", "blue"]), n, p=p),
            "grade": rng.integers(1, 4, n),  # three distinct integers: categorical
            "prediction": rng.normal(shift, 1.0, n),
        }
    )


def _by_name(report: DriftReport) -> dict:
    return {c.column: c for c in report.columns}


def test_small_samples_use_ks_and_chi2_and_find_the_shifted_columns() -> None:
    report = compare(_table(500, 1), _table(400, 2, shift=0.6, tilt=True), columns=NUM + CAT)
    cols = _by_name(report)
    assert cols["x1"].test is DriftTest.KS and cols["x1"].p_value is not None
    assert cols["color"].test is DriftTest.CHI2 and cols["color"].kind is ColumnKind.CATEGORICAL
    assert cols["grade"].kind is ColumnKind.CATEGORICAL  # integers with few values
    assert set(report.drifted_columns) == {"x1", "color"}
    assert cols["x1"].drifted and cols["x1"].p_value < 0.05
    assert cols["x1"].psi is not None and cols["x1"].psi > 0.1
    assert report.prediction is not None and report.prediction.drifted
    assert report.compared == 5 and report.not_comparable == 0
    assert report.drifted_share == pytest.approx(2 / 5) and report.dataset_drift is False
    assert report.reference_rows == 500 and report.current_rows == 400


def test_large_samples_use_normed_wasserstein_and_jensen_shannon() -> None:
    report = compare(_table(20_000, 3), _table(15_000, 4, shift=0.3, tilt=True), columns=NUM + CAT)
    cols = _by_name(report)
    assert cols["x1"].test is DriftTest.WASSERSTEIN and cols["x1"].p_value is None
    assert cols["x1"].statistic == pytest.approx(0.3, abs=0.03)  # a shift of 0.3 std
    assert cols["color"].test is DriftTest.JENSENSHANNON
    assert set(report.drifted_columns) == {"x1", "color"}
    assert cols["x2"].statistic < 0.05 and cols["grade"].statistic < 0.05


def test_same_distribution_false_positive_rate_is_bounded_over_50_seeds() -> None:
    # 50 seeds x 5 columns of small samples (KS and chi-squared at 5%): 250 decisions whose
    # false positives are about Binomial(250, 0.05) (mean 12.5, sd 3.4; KS on exact p-values is
    # a little conservative). More than 10% would be 3.7 sd above the mean: a real defect.
    # The distance tests on 3,000 rows should never fire: the normed Wasserstein distance and
    # the Jensen-Shannon distance of two such samples are about 0.02, a fifth of 0.1.
    small = large = 0
    for seed in range(50):
        report = compare(_table(300, seed), _table(250, 1000 + seed), columns=NUM + CAT)
        small += len(report.drifted_columns)
        assert report.dataset_drift is False
        report = compare(_table(3000, seed), _table(3000, 1000 + seed), columns=NUM + CAT)
        large += len(report.drifted_columns)
    assert small / 250 <= 0.10
    assert large == 0


def test_a_reference_prepared_once_gives_the_same_report() -> None:
    ref, cur = _table(2000, 5), _table(1500, 6, shift=0.2)
    prepared = prepare_reference(ref, columns=NUM + CAT)
    assert compare(prepared, cur, columns=NUM + CAT) == compare(ref, cur, columns=NUM + CAT)


def test_pandas_and_dicts_of_arrays_are_accepted() -> None:
    ref, cur = _table(600, 7), _table(600, 8, shift=1.0)
    want = compare(ref, cur, columns=NUM + CAT)
    assert compare(ref.to_pandas(), cur.to_pandas(), columns=NUM + CAT) == want
    as_dict = {name: cur.column(name).to_numpy() for name in cur.column_names}
    assert compare(ref, as_dict, columns=NUM + CAT) == want


def test_options_override_test_threshold_and_kind() -> None:
    ref, cur = _table(5000, 9), _table(5000, 10, shift=0.05)
    options = {
        "x1": ColumnOptions(test=DriftTest.KS, threshold=0.01),
        "x2": ColumnOptions(threshold=0.5),
        "grade": ColumnOptions(kind=ColumnKind.NUMERIC),
    }
    cols = _by_name(compare(ref, cur, columns=NUM + CAT, options=options))
    assert cols["x1"].test is DriftTest.KS and cols["x1"].threshold == 0.01
    assert cols["x1"].p_value is not None
    assert cols["x2"].threshold == 0.5
    assert cols["grade"].kind is ColumnKind.NUMERIC and cols["grade"].test is DriftTest.WASSERSTEIN
    with pytest.raises(InvalidInput, match=r"test chi2 does not apply to numeric"):
        compare(
            ref,
            cur,
            columns=NUM,
            options={"x1": ColumnOptions(DriftTest.CHI2, None, ColumnKind.NUMERIC)},
        )
    with pytest.raises(InvalidInput, match=r"p-value and must be below 1"):
        compare(ref, cur, columns=NUM, options={"x1": ColumnOptions(DriftTest.KS, 5.0)})
    with pytest.raises(InvalidInput, match=r"share_threshold"):
        compare(ref, cur, columns=NUM, share_threshold=0)


def test_bad_data_gives_clear_results_never_no_drift() -> None:
    n = 200
    rng = np.random.default_rng(11)
    ref = pa.table(
        {
            "nan": rng.normal(size=n),
            "const": np.full(n, 3.0),
            "const2": np.full(n, 3.0),
            "single": ["a"] * n,
            "gone": rng.normal(size=n),
            "few": rng.normal(size=n),
            "typed": rng.normal(size=n),
            "new": rng.choice(np.array(["a", "b"]), n),
        }
    )
    m = 150
    cur = pa.table(
        {
            "nan": np.full(m, np.nan),
            "const": np.full(m, 3.0),
            "const2": np.full(m, 4.0),
            "single": ["a"] * m,
            "few": np.concatenate([rng.normal(size=3), np.full(m - 3, np.nan)]),
            "typed": pa.array(["1.5"] * m),
            "new": rng.choice(np.array(["a", "b", "<c>"]), m),
        }
    )
    report = compare(ref, cur, columns=list(ref.column_names))
    cols = _by_name(report)
    assert cols["nan"].drifted is None and cols["nan"].status is DriftStatus.ALL_MISSING
    assert cols["nan"].note == "all 150 current values are missing"
    assert cols["const"].drifted is False and cols["const2"].drifted is True
    assert cols["single"].drifted is False and cols["single"].statistic == 0.0
    assert cols["gone"].drifted is None and cols["gone"].status is DriftStatus.MISSING_COLUMN
    assert "missing from the current data (150 rows)" in cols["gone"].note
    assert cols["few"].status is DriftStatus.NOT_ENOUGH_DATA
    assert cols["few"].note == "not enough data: 3 current values, need 30"
    assert cols["typed"].status is DriftStatus.TYPE_MISMATCH and cols["typed"].drifted is None
    quality = {q.column: q for q in report.quality}
    assert quality["nan"].missing_share_current == 1.0
    assert quality["gone"].type_violation == "missing from the current data"
    assert quality["typed"].type_violation == "expected numbers like the reference, found strings"
    assert quality["new"].new_categories == ("<c>",) and 0 < quality["new"].new_category_share < 1
    assert quality["const2"].out_of_range_share == 1.0
    assert report.not_comparable == 4 and report.compared == 4
    # Every value survives JSON: no NaN anywhere.
    assert codec.decode(codec.encode(report), DriftReport) == report


def test_an_empty_window_compares_nothing_and_says_so() -> None:
    ref = _table(500, 12)
    empty = ref.slice(0, 0)
    report = compare(ref, empty, columns=NUM + CAT)
    assert report.dataset_drift is None and report.compared == 0 and report.drifted_share == 0.0
    for col in report.columns:
        assert col.drifted is None and col.status is DriftStatus.NOT_ENOUGH_DATA
        assert col.note == "not enough data: the current window has no rows, need 30"
    assert all(q.missing_share_current is None for q in report.quality)
    streamed = compare_batches(ref, iter([]), columns=NUM + CAT)
    assert [c.note for c in streamed.columns] == [c.note for c in report.columns]
    assert streamed.quality == report.quality


def test_streamed_window_equals_the_whole_one_below_the_sample_size() -> None:
    ref, cur = _table(3000, 13), _table(5000, 14, shift=0.2, tilt=True)
    whole = compare(ref, cur, columns=NUM + CAT)
    streamed = compare_batches(ref, cur.to_batches(max_chunksize=700), columns=NUM + CAT)
    assert streamed == whole


def test_streamed_window_larger_than_the_sample_is_close_and_exact_where_promised() -> None:
    ref, cur = _table(4000, 15), _table(40_000, 16, shift=0.2, tilt=True)
    whole = compare(ref, cur, columns=NUM + CAT)
    batches = [b.drop_columns(["x3"]) if i == 3 else b for i, b in enumerate(cur.to_batches(4000))]
    streamed = compare_batches(ref, batches, columns=NUM + CAT, sample_rows=10_000)
    assert "sample of 10,000 of its 40,000 rows" in streamed.note
    assert streamed.drifted_columns == whole.drifted_columns
    s, w = _by_name(streamed), _by_name(whole)
    assert s["x1"].statistic == pytest.approx(w["x1"].statistic, abs=0.03)
    assert s["x1"].current_rows == 40_000 and "sampled" in s["x1"].note
    assert s["color"] == w["color"]  # categories are counted exactly
    quality = {q.column: q for q in streamed.quality}
    assert quality["x3"].missing_share_current == pytest.approx(0.1)  # one batch lacked it
    # One batch far larger than the sample is taken in slices; the result stays close.
    small = compare_batches(ref, [cur], columns=NUM + CAT, sample_rows=3000, seed=1)
    assert small.drifted_columns == whole.drifted_columns
    assert _by_name(small)["x1"].statistic == pytest.approx(w["x1"].statistic, abs=0.06)


def test_pandas_nullable_and_float_integer_columns() -> None:
    ref = pd.DataFrame({"k": pd.array([1, 2, 3, None] * 50, dtype="Int64")})
    cur = pd.DataFrame({"k": [1.0, 2.0, 3.0, np.nan] * 40})
    (col,) = compare(ref, cur, columns=["k"]).columns
    assert col.kind is ColumnKind.CATEGORICAL and col.drifted is False
    assert col.histogram is not None and set(col.histogram.categories) == {"1", "2", "3"}
