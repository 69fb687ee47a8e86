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


@pytest.fixture(scope="session")
def tiny_model() -> Any:
    """A one-feature classifier fitted on four points (for registries where the model's
    behaviour does not matter)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    return LogisticRegression().fit(x, [0, 0, 1, 1])


def fill_gate_registry(client: Any, model: Any) -> Any:
    """Model m: v1 accuracy 0.80 rmse 3 (production), v2 accuracy 0.90 rmse 2, v3 'val loss' 0.1
    and no accuracy: what the deploy-gate tests judge."""
    for metrics in (
        {"accuracy": 0.80, "rmse": 3.0},
        {"accuracy": 0.90, "rmse": 2.0},
        {"val loss": 0.1, "rmse": 1.0},
    ):
        client.models.register("m", model, metrics=metrics)
    client.models.set_alias("m", "production", 1)
    return client
