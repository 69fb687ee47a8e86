"""Small trained models and helpers shared by the model-registry tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from loopml.meta.engine import MetaStore
from loopml.meta.tables import events


@pytest.fixture(scope="session")
def cancer() -> tuple[pd.DataFrame, np.ndarray]:
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return x, y.to_numpy()


@pytest.fixture(scope="session")
def clf(cancer: tuple[pd.DataFrame, np.ndarray]) -> Any:
    """A classifier fitted on a DataFrame (it knows its feature names)."""
    x, y = cancer
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)


@pytest.fixture(scope="session")
def iris() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    return x.astype(np.float32), y


@pytest.fixture(scope="session")
def array_clf(iris: tuple[np.ndarray, np.ndarray]) -> Any:
    """A classifier fitted on a plain array (no feature names)."""
    x, y = iris
    return LogisticRegression(max_iter=1000).fit(x, y)


@pytest.fixture(scope="session")
def regressor(iris: tuple[np.ndarray, np.ndarray]) -> Any:
    x, y = iris
    return Ridge().fit(x, y)


def event_rows(meta: MetaStore, kind: str) -> list[Any]:
    with meta.read() as conn:
        return list(
            conn.execute(
                sa.select(events.c.subject, events.c.payload)
                .where(events.c.kind == kind)
                .order_by(events.c.id)
            )
        )


def count_rows(meta: MetaStore, table: sa.Table) -> int:
    with meta.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
