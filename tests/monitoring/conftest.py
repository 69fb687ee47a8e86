"""Fixtures of the monitoring tests: a classifier trained on a registered dataset version
(so its lineage names the reference), and helpers that write the prediction log as the
endpoint does (through its own logger)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopml.sdk import Client
from loopml.serving.model import ServedModel, quiet_feature_name_warnings
from loopml.serving.predlog import PredictionLogger
from loopml.serving.schema import Batch

FEATURES = ["age", "income", "visits"]


def make_data(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Three numeric features and a 0/1 label; ``shift`` moves age and income (the label
    still follows the original rule, so a model trained without shift gets it wrong)."""
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, n)
    income = rng.normal(50, 15, n)
    visits = rng.poisson(3, n).astype(np.float64)
    label = ((age - 40) / 10 + (income - 50) / 15 + rng.normal(0, 0.5, n) > 0).astype(int)
    return pd.DataFrame(
        {"age": age + shift * 10, "income": income + shift * 15, "visits": visits, "label": label}
    )


def train(client: Client, name: str = "churn", seed: int = 1) -> tuple[Any, pd.DataFrame]:
    """``name-data@1`` and ``name@1`` trained on it (lineage), aliased production."""
    from sklearn.linear_model import LogisticRegression

    data = make_data(600, seed)
    client.datasets.push(f"{name}-data", data)
    model = LogisticRegression(max_iter=500).fit(data[FEATURES], data["label"])
    with client.tracking.start_run("monitoring") as run:
        run.log_input(f"{name}-data@1")
        run.log_metric("accuracy", float(model.score(data[FEATURES], data["label"])))
    client.models.register(name, model, run=run.id, input_example=data[FEATURES].head(5))
    client.models.set_alias(name, "production", 1)
    return model, data


@pytest.fixture
def trained(client: Client) -> tuple[Any, pd.DataFrame]:
    return train(client)


def log_traffic(
    client: Client,
    frame: pd.DataFrame,
    ref: str = "churn@1",
    prefix: str = "r",
    per_request: int = 4,
    labels: list[Any] | None = None,
    unknown_labels: int = 0,
) -> list[tuple[str, int]]:
    """Send ``frame`` through the endpoint's logger as requests of ``per_request`` rows (and
    ``labels`` as feedback addressing each row); returns the (request id, row) of each row."""
    quiet_feature_name_warnings()  # as the endpoint does (it predicts on arrays)
    served = ServedModel(client.models.load(ref))
    logger = PredictionLogger(client.settings.monitoring_url, served.name, flush_s=60)
    logger.start()
    keys = []
    try:
        names = tuple(served.schema.names)
        for i in range(0, len(frame), per_request):
            part = frame.iloc[i : i + per_request]
            batch = Batch(len(part), [part[n].to_numpy() for n in names])
            rid = f"{prefix}{i}"
            logger.log_prediction(rid, served.version, names, batch, served.predict(batch), served)
            keys.extend((rid, j) for j in range(len(part)))
        if labels is not None:
            items = [(rid, lab, row) for (rid, row), lab in zip(keys, labels, strict=True)]
            items += [(f"nobody-{k}", 1, 0) for k in range(unknown_labels)]
            logger.log_feedback(items)
    finally:
        logger.close()
    assert logger.failed_rows == 0
    return keys


@pytest.fixture
def clock() -> Iterator[float]:
    yield time.time()
