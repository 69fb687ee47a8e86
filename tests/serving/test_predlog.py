"""The prediction log never drops silently: a record the Parquet writer cannot store is counted
and logged with the reason, and the rest of its batch is written."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loopml.serving.predlog import LogTallies, PredictionLogger, read_log
from loopml.serving.schema import Batch


class Tally:
    """Counts what the logger reports (the endpoint passes prometheus counters instead)."""

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def set(self, value: float) -> None:
        self.value = value


def _logger(root: Path) -> tuple[PredictionLogger, dict[str, Tally]]:
    tallies = {"dropped": Tally(), "written": Tally(), "failed": Tally(), "queued": Tally()}
    logger = PredictionLogger(root, "m", flush_s=60, tallies=LogTallies(**tallies))  # at close
    logger.start()
    return logger, tallies


def _texts(*values: Any) -> Batch:
    column = np.empty(len(values), dtype=object)
    column[:] = list(values)
    return Batch(len(values), [column])


def _predict(logger: PredictionLogger, rid: str, batch: Batch) -> None:
    logger.log_prediction(rid, 1, ("city",), batch, np.arange(batch.n))


@pytest.mark.parametrize(
    "bad",
    ["\ud800", "x\udfff", "\ud83d!", object(), 1 + 2j, {"a": {1, 2}}],
    ids=["lone-high", "lone-low", "high-then-bang", "object", "complex", "set-in-dict"],
)
def test_a_record_that_cannot_be_stored_is_counted_and_the_rest_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, bad: Any
) -> None:
    logger, tallies = _logger(tmp_path)
    with caplog.at_level(logging.ERROR, logger="loopml.serving"):
        _predict(logger, "a", _texts("Paris", "Lyon"))
        _predict(logger, "b", _texts("Nice", bad))
        _predict(logger, "c", _texts("Brest"))
        logger.close()
    rows = read_log(tmp_path, "predictions", "m").to_pydict()
    assert sorted(zip(rows["request_id"], rows["city"], strict=True)) == [
        ("a", "Lyon"),
        ("a", "Paris"),
        ("c", "Brest"),
    ]
    assert logger.failed_rows == 2 and tallies["failed"].value == 2
    assert logger.written_rows == 3 and tallies["written"].value == 3
    assert "could not store 2 row(s)" in caplog.text


def test_records_that_only_fail_together_are_all_written(tmp_path: Path) -> None:
    logger, _ = _logger(tmp_path)
    _predict(logger, "a", _texts(1, 2))
    _predict(logger, "b", _texts("three"))  # an object column: numbers, then text
    logger.close()
    assert logger.failed_rows == 0 and logger.written_rows == 3
    assert len(list(tmp_path.rglob("*.parquet"))) == 2


def test_feedback_that_cannot_be_stored_is_counted_and_the_rest_kept(tmp_path: Path) -> None:
    logger, tallies = _logger(tmp_path)
    logger.log_feedback([("r1", 1, 0), ("r2", "\ud800", 0), ("r3\udc00", 0, 0), ("r4", "yes", 2)])
    logger.close()
    table = read_log(tmp_path, "feedback", "m")
    assert table.column("request_id").to_pylist() == ["r1", "r4"]
    assert table.column("row").to_pylist() == [0, 2]
    assert tallies["failed"].value == 2


def test_a_write_that_fails_counts_its_rows_and_logging_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    logger = PredictionLogger(blocked, "m", flush_s=0.01)
    logger.start()
    with caplog.at_level(logging.ERROR, logger="loopml.serving"):
        _predict(logger, "a", _texts("Paris", "Lyon"))
        _predict(logger, "b", _texts("Nice"))
        logger.close()
    assert logger.failed_rows == 3 and logger.written_rows == 0
    assert "could not store" in caplog.text and not list(tmp_path.rglob("*.tmp"))


def test_a_full_queue_drops_and_counts_and_keeps_what_it_held(tmp_path: Path) -> None:
    tallies = {"dropped": Tally(), "written": Tally(), "failed": Tally(), "queued": Tally()}
    logger = PredictionLogger(
        tmp_path, "m", queue_size=3, flush_s=60, tallies=LogTallies(**tallies)
    )  # not started yet: nothing drains, so the queue fills
    for rid in "abcde":
        _predict(logger, rid, _texts("Paris"))
    assert logger.queued == 3
    assert logger.log_feedback([("a", 1, 0), ("b", 0, 0)]) == 0
    assert logger.dropped == 4 and tallies["dropped"].value == 4
    logger.start()
    logger.close()
    assert logger.written_rows == 3 and logger.queued == 0
    rows = read_log(tmp_path, "predictions", "m").to_pydict()
    assert sorted(rows["request_id"]) == ["a", "b", "c"]
