"""A model version takes its metrics, params and training datasets from the run it was
registered in (the active run, or ``run=`` by id or prefix), through the public API."""

from __future__ import annotations

from typing import Any

import pytest

from loopml import Client, NotFound

pytestmark = pytest.mark.services("models", "datasets", "runs", "search", "maintenance")


def _push_dataset(client: Client, tmp_path: Any) -> str:
    path = tmp_path / "train.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    return client.datasets.push("churn", path).version.ref


def test_registering_inside_an_active_run_links_it(
    client: Client, array_clf: Any, tmp_path: Any
) -> None:
    ref = _push_dataset(client, tmp_path)
    with client.tracking.start_run(experiment="exp", params={"C": 0.5}) as run:
        run.log_metric("auc", 0.5, step=0)
        run.log_metric("auc", 0.9, step=1)
        run.log_input(ref)
        v = client.models.register("m", array_clf)
    assert v.run_id == run.id
    assert v.metrics == {"auc": 0.9}  # the latest point
    assert v.params == {"C": "0.5"}
    assert v.datasets == ("churn@1",)
    assert client.models.show("m") == v


def test_run_given_by_id_prefix_after_it_ended(client: Client, array_clf: Any) -> None:
    with client.tracking.start_run(experiment="exp") as run:
        run.log_metric("loss", 0.25)
    v = client.models.register("m", array_clf, run=run.id[:8], metrics={"auc": 0.7})
    assert v.run_id == run.id
    assert v.metrics == {"auc": 0.7} and v.params == {}


def test_unknown_run_id_is_not_found_and_nothing_is_written(client: Client, array_clf: Any) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        client.models.register("m", array_clf, run="0" * 32)
    assert client.models.list() == []


def test_an_active_run_of_another_store_is_not_linked(
    client: Client, array_clf: Any, tmp_path: Any
) -> None:
    other = Client(home=str(tmp_path / "other"))
    try:
        with other.tracking.start_run(experiment="exp"):
            v = client.models.register("m", array_clf)
        assert v.run_id is None
    finally:
        other.close()


@pytest.mark.usefixtures("sdk_env")
def test_module_level_api_links_the_active_run() -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    import loopml

    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.8], [0.9, 0.1]])
    model = LogisticRegression().fit(x, [0, 1, 0, 1])
    with loopml.start_run(experiment="sdk") as run:
        loopml.log_param("C", 1.0)
        loopml.log_metric("auc", 0.8)
        v = loopml.register_model("m", model, input_example=x[:2])
    loopml.set_alias("m", "production", v.version)
    loaded = loopml.load_model("m@production")
    assert v.run_id == run.id
    assert v.metrics == {"auc": 0.8} and v.params == {"C": "1.0"}
    assert bool((loaded.predict(x) == model.predict(x)).all())
    assert loopml.best_version("m", "auc").version == 1
    assert [s.name for s in loopml.list_models()] == ["m"]
