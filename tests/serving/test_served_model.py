"""How a registered version is called: numeric scikit-learn models on one float array, and
models that pick their columns by name (a ColumnTransformer) on a DataFrame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.core.settings import load_settings
from loopml.sdk import Client
from loopml.serving.model import ServedModel, quiet_feature_name_warnings
from loopml.serving.schema import Batch


@pytest.mark.parametrize("by_name", [True, False])
def test_a_numeric_model_predicts_what_it_predicts_outside(tmp_path: Path, by_name: bool) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    quiet_feature_name_warnings()  # as the server process does (pytest restores the filters)
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    y = (x.a + x.b > 0).astype(int)
    first = (
        ColumnTransformer([("s", StandardScaler(), ["a", "b"])]) if by_name else StandardScaler()
    )
    model = make_pipeline(first, LogisticRegression()).fit(x, y)
    client = Client(load_settings(env={}, home=str(tmp_path / "home")))
    try:
        client.models.register("m", model, input_example=x.head(3))
        served = ServedModel(client.models.load("m@1"))
    finally:
        client.close()
    batch = Batch(len(x), [x[c].to_numpy() for c in x.columns])
    assert served.predict(batch).tolist() == model.predict(x).tolist()
