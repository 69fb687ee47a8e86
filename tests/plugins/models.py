"""Small trained models (session-scoped fixtures) shared by the model tests of the contract
suite and tests/models. scikit-learn loads on first use, not at collection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


@pytest.fixture(scope="session")
def cancer() -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return x, y.to_numpy()


@pytest.fixture(scope="session")
def clf(cancer: tuple[pd.DataFrame, np.ndarray]) -> Any:
    """A classifier fitted on a DataFrame (it knows its feature names)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = cancer
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)


@pytest.fixture(scope="session")
def iris() -> tuple[np.ndarray, np.ndarray]:
    import numpy as np
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    return x.astype(np.float32), y


@pytest.fixture(scope="session")
def array_clf(iris: tuple[np.ndarray, np.ndarray]) -> Any:
    """A classifier fitted on a plain array (no feature names)."""
    from sklearn.linear_model import LogisticRegression

    x, y = iris
    return LogisticRegression(max_iter=1000).fit(x, y)


@pytest.fixture(scope="session")
def regressor(iris: tuple[np.ndarray, np.ndarray]) -> Any:
    from sklearn.linear_model import Ridge

    x, y = iris
    return Ridge().fit(x, y)
