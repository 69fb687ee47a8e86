"""Drift of a current window against a reference, column by column, with data-quality checks.

How a column is compared (every choice is recorded in its :class:`ColumnDrift`):

==================  ==================================  =============  ==========================
column              test                                default        drifted when
                                                        threshold
==================  ==================================  =============  ==========================
numeric, both       two-sample Kolmogorov-Smirnov       0.05           p_value < threshold
sides <= 1000       (``ks``; scipy ``ks_2samp``, auto)
numeric, larger     Wasserstein distance / reference    0.1            statistic >= threshold
                    std (``wasserstein``; std floored
                    at 0.001, so a constant reference
                    still gives a number)
categorical, both   chi-squared test of homogeneity     0.05           p_value < threshold
sides <= 1000       on the 2 x k counts (``chi2``)
categorical,        Jensen-Shannon distance, base 2     0.1            statistic >= threshold
larger              (``jensenshannon``, 0..1)
==================  ==================================  =============  ==========================

- **Kinds.** Floats and integers are numeric, except integer columns whose reference holds at
  most 5 distinct values (flags, ratings, codes), which are categorical, as are booleans and
  strings. ``ColumnOptions(kind=…)`` overrides; the current side follows the reference's kind.
- **Sizes** are the non-missing values on each side. A column with fewer than 30 (``MIN_ROWS``)
  on either side is not compared: ``drifted=None``, status ``not_enough_data`` and a note that
  says how many there were. An absent column, a column with every value missing, or numbers
  replaced by strings are not compared either (statuses ``missing_column``, ``all_missing``,
  ``type_mismatch``). A column is never reported as "not drifted" without a comparison.
- **PSI** (population stability index) is reported for every compared column, informational:
  numeric over 10 bins at the reference deciles, categorical over the categories, an empty bin
  counted as a share of 1e-4. (Rule of thumb: < 0.1 stable, 0.1-0.25 moderate, > 0.25 large.)
- **Missing** values are nulls, NaN and +/-inf; they are left out of the tests and reported
  as shares in the data-quality checks, beside new categories (not in the reference) and
  numbers outside the reference's range.
- **Dataset drift** when ``drifted_share = drifted / compared >= share_threshold`` (0.5); not
  decided (``None``) when no feature could be compared.
- **Streaming** (:func:`compare_batches`): the current window is read batch by batch. Category
  counts, row counts, missing shares, min and max stay exact; numeric columns keep a uniform
  random sample of ``sample_rows`` rows (1,000,000 by default), so the normed Wasserstein
  distance of a larger window carries a sampling error of the order of 1/sqrt(sample_rows)
  (about 0.001 against a threshold of 0.1), and PSI, histograms and out-of-range shares are
  estimated from the same sample. Below ``sample_rows`` rows nothing is sampled. (A KS test
  asked for by ``ColumnOptions`` on a sampled window tests the sample: its p-value is that of
  ``sample_rows`` values, not of the whole window.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from loopml.api.monitoring import (
    MAX_CATEGORIES,
    MAX_NEW_CATEGORIES,
    ColumnDrift,
    ColumnKind,
    ColumnOptions,
    ColumnQuality,
    DriftReport,
    DriftStatus,
    DriftTest,
    Histogram,
)
from loopml.core.errors import InvalidInput
from loopml.monitoring import stats
from loopml.monitoring.summary import (
    DEFAULT_SAMPLE_ROWS,
    CategoricalColumn,
    Column,
    NumericColumn,
    Summary,
    Unreadable,
    parallel_map,
    summarize,
    summarize_batches,
)

MIN_ROWS = 30
SMALL_SAMPLE = 1000  # both sides at most this many values: the tests with a p-value
DEFAULT_THRESHOLDS = {
    DriftTest.KS: 0.05,
    DriftTest.WASSERSTEIN: 0.1,
    DriftTest.CHI2: 0.05,
    DriftTest.JENSENSHANNON: 0.1,
}
STD_FLOOR = 0.001
HISTOGRAM_BINS = 20
_TESTS_OF = {
    ColumnKind.NUMERIC: (DriftTest.KS, DriftTest.WASSERSTEIN),
    ColumnKind.CATEGORICAL: (DriftTest.CHI2, DriftTest.JENSENSHANNON),
}


def prepare_reference(
    reference: Any,
    *,
    columns: Sequence[str],
    options: Mapping[str, ColumnOptions] | None = None,
    prediction: str | None = "prediction",
    threads: int | None = None,
) -> Summary:
    """Read and sort the reference once, to compare it with many windows."""
    return summarize(reference, _wanted(columns, prediction), options=options, threads=threads)


def compare(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str],
    options: Mapping[str, ColumnOptions] | None = None,
    share_threshold: float = 0.5,
    prediction: str | None = "prediction",
    min_rows: int = MIN_ROWS,
    threads: int | None = None,
) -> DriftReport:
    """Drift and data quality of ``current`` against ``reference`` over ``columns`` (features)
    and the ``prediction`` column when present.

    ``reference`` and ``current``: pyarrow Tables, pandas DataFrames or dicts of arrays;
    ``reference`` may also be the :func:`prepare_reference` of one. ``threads``: columns
    worked on at once (default: the cores, at most 4; 1 for none)."""
    _check(columns, options, share_threshold)
    ref = _reference(reference, columns, options, prediction, threads)
    cur = summarize(
        current, _wanted(columns, prediction), options=options, like=ref, threads=threads
    )
    return _report(ref, cur, columns, options, share_threshold, prediction, min_rows, threads)


def compare_batches(
    reference: Any,
    batches: Iterable[Any],
    *,
    columns: Sequence[str],
    options: Mapping[str, ColumnOptions] | None = None,
    share_threshold: float = 0.5,
    prediction: str | None = "prediction",
    min_rows: int = MIN_ROWS,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    seed: int = 0,
    threads: int | None = None,
) -> DriftReport:
    """:func:`compare` with the current window given as an iterable of record batches (e.g.
    ``pyarrow.parquet.ParquetFile(path).iter_batches(columns=…)``), read in bounded memory."""
    _check(columns, options, share_threshold)
    ref = _reference(reference, columns, options, prediction, threads)
    cur = summarize_batches(
        batches,
        _wanted(columns, prediction),
        ref,
        options=options,
        sample_rows=sample_rows,
        seed=seed,
    )
    return _report(ref, cur, columns, options, share_threshold, prediction, min_rows, threads)


def _wanted(columns: Sequence[str], prediction: str | None) -> list[str]:
    wanted = list(dict.fromkeys(columns))
    if prediction and prediction not in wanted:
        wanted.append(prediction)
    return wanted


def _reference(
    reference: Any,
    columns: Sequence[str],
    options: Mapping[str, ColumnOptions] | None,
    prediction: str | None,
    threads: int | None,
) -> Summary:
    if isinstance(reference, Summary):
        return reference
    return summarize(reference, _wanted(columns, prediction), options=options, threads=threads)


def _check(
    columns: Sequence[str], options: Mapping[str, ColumnOptions] | None, share_threshold: float
) -> None:
    if isinstance(columns, str):
        raise InvalidInput(f"columns must be a list of column names, not the string {columns!r}")
    if not 0.0 < share_threshold <= 1.0:
        raise InvalidInput(
            f"share_threshold must be in (0, 1], got {share_threshold}: it is the share of "
            "drifted features that means the dataset drifted"
        )
    for name, option in (options or {}).items():
        test, kind, threshold = option.test, option.kind, option.threshold
        if test is not None and kind is not None and test not in _TESTS_OF[kind]:
            raise InvalidInput(
                f"column {name!r}: test {test.value} does not apply to {kind.value} columns; "
                f"use one of {', '.join(t.value for t in _TESTS_OF[kind])}"
            )
        if threshold is not None and not threshold > 0:
            raise InvalidInput(f"column {name!r}: threshold must be above 0, got {threshold}")
        if threshold is not None and test is not None and test.uses_p_value and threshold >= 1:
            raise InvalidInput(
                f"column {name!r}: the {test.value} threshold is a p-value and must be below 1, "
                f"got {threshold}"
            )


def _report(
    ref: Summary,
    cur: Summary,
    columns: Sequence[str],
    options: Mapping[str, ColumnOptions] | None,
    share_threshold: float,
    prediction: str | None,
    min_rows: int,
    threads: int | None = None,
) -> DriftReport:
    options = options or {}
    features = [c for c in dict.fromkeys(columns) if c != prediction]

    def one(name: str) -> tuple[ColumnDrift, ColumnQuality]:
        r, c = ref.columns.get(name), cur.columns.get(name)
        return (
            column_drift(name, r, c, options.get(name), ref, cur, min_rows),
            column_quality(name, r, c, ref, cur),
        )

    done = parallel_map(one, features, threads, (ref.rows + cur.rows) * len(features))
    drifts = [d for d, _ in done]
    quality = [q for _, q in done]
    pred = None
    if prediction and (prediction in ref.columns or prediction in cur.columns):
        r, c = ref.columns.get(prediction), cur.columns.get(prediction)
        pred = column_drift(prediction, r, c, options.get(prediction), ref, cur, min_rows)
    compared = [d for d in drifts if d.drifted is not None]
    drifted = sum(1 for d in compared if d.drifted)
    share = drifted / len(compared) if compared else 0.0
    return DriftReport(
        columns=tuple(drifts),
        prediction=pred,
        quality=tuple(quality),
        drifted_share=share,
        dataset_drift=(share >= share_threshold) if compared else None,
        compared=len(compared),
        not_comparable=len(drifts) - len(compared),
        reference_rows=ref.rows,
        current_rows=cur.rows,
        share_threshold=share_threshold,
        note="; ".join(n for n in (ref.note, cur.note) if n),
    )


def _kind(r: Column | None, c: Column | None, option: ColumnOptions | None) -> ColumnKind:
    if option is not None and option.kind is not None:
        return option.kind
    for col in (r, c):
        if isinstance(col, CategoricalColumn):
            return ColumnKind.CATEGORICAL
        if isinstance(col, NumericColumn):
            return ColumnKind.NUMERIC
    return ColumnKind.NUMERIC


def _seen(col: Column | None) -> int:
    return col.seen if isinstance(col, NumericColumn | CategoricalColumn) else 0


def column_drift(
    name: str,
    r: Column | None,
    c: Column | None,
    option: ColumnOptions | None,
    ref: Summary,
    cur: Summary,
    min_rows: int = MIN_ROWS,
) -> ColumnDrift:
    """The drift decision of one column from its two summaries (``None``: absent)."""
    kind = _kind(r, c, option)
    n, m = _seen(r), _seen(c)
    if option is not None and option.test is not None:
        test = option.test
        if test not in _TESTS_OF[kind]:
            raise InvalidInput(
                f"column {name!r}: test {test.value} does not apply to {kind.value} columns; "
                f"use one of {', '.join(t.value for t in _TESTS_OF[kind])}"
            )
    else:
        small = n <= SMALL_SAMPLE and m <= SMALL_SAMPLE
        test = _TESTS_OF[kind][0 if small else 1]
    threshold = DEFAULT_THRESHOLDS[test]
    if option is not None and option.threshold is not None:
        threshold = option.threshold

    def not_compared(status: DriftStatus, note: str) -> ColumnDrift:
        return ColumnDrift(
            name, kind, test, None, None, threshold, None, n, m, status, note,
            histogram=_histogram(r, c),
        )  # fmt: skip

    problem = _not_comparable(name, r, c, cur, n, m, min_rows)
    if problem is not None:
        return not_compared(*problem)
    note = ""
    p_value: float | None = None
    if isinstance(r, NumericColumn) and isinstance(c, NumericColumn):
        a, b = r.values, c.values
        if test is DriftTest.KS:
            statistic, p_value = stats.ks(a, b)
        else:
            std = float(np.std(a))
            statistic = stats.wasserstein(a, b) / max(std, STD_FLOOR)
        psi = stats.psi(a, b)
        if c.sampled:
            note = f"current values sampled: {len(b):,} of {c.seen:,}"
    else:
        assert isinstance(r, CategoricalColumn) and isinstance(c, CategoricalColumn)
        ref_counts, cur_counts, _ = _aligned(r, c)
        if test is DriftTest.CHI2:
            statistic, p_value = stats.chi2(ref_counts, cur_counts)
        else:
            statistic = stats.jensenshannon(ref_counts, cur_counts)
        psi = stats.psi_from_counts(ref_counts, cur_counts)
    drifted = p_value < threshold if p_value is not None else statistic >= threshold
    return ColumnDrift(
        name, kind, test, float(statistic), p_value, threshold, bool(drifted), n, m,
        DriftStatus.OK, note, psi=float(psi), histogram=_histogram(r, c),
    )  # fmt: skip


def _not_comparable(
    name: str,
    r: Column | None,
    c: Column | None,
    cur: Summary,
    n: int,
    m: int,
    min_rows: int,
) -> tuple[DriftStatus, str] | None:
    """Why the column cannot be compared, or None when it can."""
    if r is None:
        return DriftStatus.MISSING_COLUMN, f"column {name!r} is not in the reference data"
    if cur.rows == 0:
        return (
            DriftStatus.NOT_ENOUGH_DATA,
            f"not enough data: the current window has no rows, need {min_rows}",
        )
    if c is None:
        return (
            DriftStatus.MISSING_COLUMN,
            f"column {name!r} is missing from the current data ({cur.rows:,} rows)",
        )
    if isinstance(r, NumericColumn) and not isinstance(c, NumericColumn):
        found = c.type_name if isinstance(c, Unreadable) else "categories"
        return DriftStatus.TYPE_MISMATCH, f"expected numbers like the reference, found {found}"
    for side, col in (("reference", r), ("current", c)):
        if isinstance(col, Unreadable):
            return (
                DriftStatus.TYPE_MISMATCH,
                f"{side} values of {name!r} are {col.type_name}, neither numbers nor categories",
            )
    for side, col, k in (("reference", r, n), ("current", c, m)):
        if k == 0 and col.rows > 0:
            return DriftStatus.ALL_MISSING, f"all {col.rows:,} {side} values are missing"
    for side, k in (("reference", n), ("current", m)):
        if k < min_rows:
            return (
                DriftStatus.NOT_ENOUGH_DATA,
                f"not enough data: {k:,} {side} value{'s' if k != 1 else ''}, need {min_rows}",
            )
    return None


def _aligned(r: CategoricalColumn, c: CategoricalColumn) -> tuple[Any, Any, list[str]]:
    """Reference and current counts over the union of categories, ordered by reference count
    (then current count), most frequent first."""
    index = {cat: i for i, cat in enumerate(r.categories)}
    extra = [cat for cat in c.categories if cat not in index]
    names = list(r.categories) + extra
    for i, cat in enumerate(extra):
        index[cat] = len(r.categories) + i
    ref_counts = np.zeros(len(names), dtype=np.int64)
    ref_counts[: len(r.categories)] = r.counts
    cur_counts = np.zeros(len(names), dtype=np.int64)
    cur_counts[[index[cat] for cat in c.categories]] = c.counts
    order = np.lexsort((-cur_counts, -ref_counts))
    return ref_counts[order], cur_counts[order], [names[i] for i in order]


def _histogram(r: Column | None, c: Column | None) -> Histogram | None:
    present = [x for x in (r, c) if isinstance(x, NumericColumn | CategoricalColumn)]
    if present and all(isinstance(x, CategoricalColumn) for x in present):
        empty = CategoricalColumn([], np.zeros(0, np.int64), 0, 0)
        rc = r if isinstance(r, CategoricalColumn) else empty
        cc = c if isinstance(c, CategoricalColumn) else empty
        ref_counts, cur_counts, names = _aligned(rc, cc)
        top = MAX_CATEGORIES
        return Histogram(
            reference=tuple(int(x) for x in ref_counts[:top]),
            current=tuple(int(x) for x in cur_counts[:top]),
            categories=tuple(names[:top]),
            other_reference=int(ref_counts[top:].sum()),
            other_current=int(cur_counts[top:].sum()),
        )
    nums = [x for x in present if isinstance(x, NumericColumn) and x.seen]
    if not nums or len(nums) != len([x for x in present if x.seen]):
        return None
    lo = min(x.minimum for x in nums)
    hi = max(x.maximum for x in nums)
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, HISTOGRAM_BINS + 1)

    def counts(col: Column | None) -> tuple[int, ...]:
        if not isinstance(col, NumericColumn) or not len(col.values):
            return (0,) * HISTOGRAM_BINS
        cuts = np.searchsorted(col.values, edges[1:-1], side="left")
        per_bin = np.diff(np.concatenate([[0], cuts, [len(col.values)]]))
        if col.sampled:
            per_bin = np.round(per_bin * (col.seen / len(col.values)))
        return tuple(int(x) for x in per_bin)

    return Histogram(reference=counts(r), current=counts(c), edges=tuple(float(e) for e in edges))


def column_quality(
    name: str, r: Column | None, c: Column | None, ref: Summary, cur: Summary
) -> ColumnQuality:
    """Missing shares, new categories, out-of-range numbers and type problems of one column."""

    def missing(col: Column | None, rows: int) -> float | None:
        if col is None or rows == 0:
            return None
        if isinstance(col, Unreadable):
            return 0.0
        return col.missing / rows

    violation = None
    if r is not None and c is None and cur.rows > 0:
        violation = "missing from the current data"
    elif isinstance(r, NumericColumn) and isinstance(c, CategoricalColumn | Unreadable):
        found = c.type_name if isinstance(c, Unreadable) else "categories"
        violation = f"expected numbers like the reference, found {found}"
    elif isinstance(c, Unreadable):
        violation = f"expected numbers or categories, found {c.type_name}"
    new: tuple[str, ...] = ()
    new_share = None
    out_of_range = None
    if isinstance(r, CategoricalColumn) and isinstance(c, CategoricalColumn) and c.seen:
        known = set(r.categories)
        unseen = sorted(
            ((n, cat) for cat, n in zip(c.categories, c.counts.tolist(), strict=True)
             if cat not in known),
            key=lambda x: (-x[0], x[1]),
        )  # fmt: skip
        new = tuple(cat for _, cat in unseen[:MAX_NEW_CATEGORIES])
        new_share = sum(n for n, _ in unseen) / c.seen
    if isinstance(r, NumericColumn) and isinstance(c, NumericColumn) and r.seen and len(c.values):
        b = c.values
        below = np.searchsorted(b, r.minimum, side="left")
        above = len(b) - np.searchsorted(b, r.maximum, side="right")
        out_of_range = float((below + above) / len(b))
    return ColumnQuality(
        column=name,
        missing_share_reference=missing(r, ref.rows),
        missing_share_current=missing(c, cur.rows),
        new_categories=new,
        new_category_share=new_share,
        out_of_range_share=out_of_range,
        type_violation=violation,
    )
