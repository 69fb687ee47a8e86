"""Value objects of model monitoring: per-column drift and data quality of one window against a
reference, the realized quality of a model from feedback labels, and the quality estimated
before the labels arrive.

Plain frozen dataclasses that round-trip through :mod:`loopml.api.codec`; the computation that
fills them lives in :mod:`loopml.monitoring`. No value here holds NaN: a number that could not
be computed is ``None``, and a decision that could not be made is ``None`` too, with a
``status`` and a ``note`` that say why (never a silent "no drift")."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

#: Most bins of a numeric histogram and most categories of a categorical one (the rest are
#: counted together as "other").
MAX_BINS = 30
MAX_CATEGORIES = 30
#: Most new categories listed by name in a quality check (all are counted).
MAX_NEW_CATEGORIES = 20


class ColumnKind(StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


class DriftTest(StrEnum):
    """The statistical test behind a drift decision."""

    KS = "ks"  # two-sample Kolmogorov-Smirnov; drifted when p_value < threshold
    WASSERSTEIN = "wasserstein"  # normed by the reference std; drifted when statistic >= threshold
    CHI2 = "chi2"  # chi-squared on the category counts; drifted when p_value < threshold
    JENSENSHANNON = "jensenshannon"  # distance (base 2); drifted when statistic >= threshold

    @property
    def uses_p_value(self) -> bool:
        return self in (DriftTest.KS, DriftTest.CHI2)


class DriftStatus(StrEnum):
    """Whether a column could be compared, and if not, why."""

    OK = "ok"  # compared: ``drifted`` is True or False
    NOT_ENOUGH_DATA = "not_enough_data"  # fewer non-missing rows than the minimum on a side
    MISSING_COLUMN = "missing_column"  # the column is absent from the current (or reference) data
    ALL_MISSING = "all_missing"  # every value is missing on a side
    TYPE_MISMATCH = "type_mismatch"  # e.g. strings now where the reference had numbers


class Task(StrEnum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


@dataclass(frozen=True)
class Histogram:
    """Reference and current counts of one column, for a chart.

    Numeric: ``edges`` has one more entry than the counts (equal-width bins over the range of
    both samples). Categorical: ``categories`` names each count (most frequent in the reference
    first, at most ``MAX_CATEGORIES``); the rest are summed in ``other_reference`` /
    ``other_current``."""

    reference: tuple[int, ...]
    current: tuple[int, ...]
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    other_reference: int = 0
    other_current: int = 0


@dataclass(frozen=True)
class ColumnOptions:
    """Per-column overrides of the automatic choices (``None``: keep the default)."""

    test: DriftTest | None = None
    threshold: float | None = None
    kind: ColumnKind | None = None


@dataclass(frozen=True)
class ColumnDrift:
    """The drift decision of one column (a feature, or the prediction).

    ``drifted`` is ``None`` when the column could not be compared (``status`` says why and
    ``note`` how much data there was). ``p_value`` is ``None`` for the distance tests, ``psi``
    for categorical columns and whenever it could not be computed."""

    column: str
    kind: ColumnKind
    test: DriftTest
    statistic: float | None
    p_value: float | None
    threshold: float
    drifted: bool | None
    reference_rows: int  # non-missing values compared
    current_rows: int
    status: DriftStatus = DriftStatus.OK
    note: str = ""
    psi: float | None = None
    histogram: Histogram | None = None

    @property
    def comparable(self) -> bool:
        return self.drifted is not None


@dataclass(frozen=True)
class ColumnQuality:
    """Data-quality checks of one column of the current window against the reference."""

    column: str
    missing_share_reference: float | None  # None: the column is absent on that side
    missing_share_current: float | None
    new_categories: tuple[str, ...] = ()  # at most MAX_NEW_CATEGORIES, most frequent first
    new_category_share: float | None = None  # share of current values in unseen categories
    out_of_range_share: float | None = None  # numeric: share outside [reference min, max]
    type_violation: str | None = None  # what was expected and found, e.g. "expected numbers"


@dataclass(frozen=True)
class DriftReport:
    """Drift and data quality of one current window against the reference."""

    columns: tuple[ColumnDrift, ...]
    prediction: ColumnDrift | None
    quality: tuple[ColumnQuality, ...]
    drifted_share: float  # drifted / compared (0.0 when nothing could be compared)
    dataset_drift: bool | None  # None: no feature could be compared
    compared: int  # features with a decision
    not_comparable: int  # features without one
    reference_rows: int = 0
    current_rows: int = 0
    share_threshold: float = 0.5
    note: str = ""  # e.g. that the current window was summarised by a sketch

    @property
    def drifted_columns(self) -> tuple[str, ...]:
        return tuple(c.column for c in self.columns if c.drifted)


@dataclass(frozen=True)
class QualityMetrics:
    """Realized quality of a model on the rows of a window that have labels.

    Classification: ``accuracy``, ``precision``, ``recall``, ``f1`` (binary for two classes with
    ``positive`` as the positive class, macro averages otherwise) and ``roc_auc`` when scores
    were given. Regression: ``mae``, ``rmse``, ``r2``."""

    task: Task
    metrics: dict[str, float]
    rows: int  # predictions in the window
    labelled_rows: int  # of those, the ones with a label
    coverage: float  # labelled_rows / rows (0.0 for no rows)
    unknown_labels: int = 0  # labels whose request id matched no prediction
    positive: str | None = None  # binary classification: the positive class
    note: str = ""


@dataclass(frozen=True)
class QualityEstimate:
    """Quality of a classifier estimated from its class probabilities alone (no labels),
    calibrated on the reference. ``reliable`` is False when the reference says the estimate
    cannot be trusted; ``note`` says why."""

    metrics: dict[str, float]
    reliable: bool
    calibration_error: float | None  # expected calibration error after calibration, reference
    note: str = ""
    rows: int = 0
    reference_rows: int = 0


@dataclass(frozen=True)
class ReportWindow:
    """One window of a monitoring report: its bounds (ISO 8601) and what was computed."""

    start: str
    end: str
    drift: DriftReport | None = None
    quality: QualityMetrics | None = None
    estimate: QualityEstimate | None = None
    registered: dict[str, float] = field(default_factory=dict)  # metrics of the served version
