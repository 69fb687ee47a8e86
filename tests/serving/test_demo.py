"""The serving part of ``loopml demo`` end to end."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loopml.sdk import Client
from loopml.serving.demo import run_serving_demo
from tests.serving.conftest import register_versions


def test_demo_switches_versions_without_failed_requests(
    client: Client, cancer: tuple[pd.DataFrame, np.ndarray], two_models: list[Any]
) -> None:
    register_versions(client, cancer, two_models)
    x, y = cancer
    out = run_serving_demo(client.services, "cancer", x.head(60), y[:60], burst=40)
    assert out["burst"]["failed"] == 0 and out["burst"]["requests"] == 40
    assert out["feedback"] == 40
    assert out["deployment"]["status"] == "deployed" and out["deployment"]["version"] == 2
    assert out["during_deployment"]["failed"] == 0
    assert out["during_deployment"]["versions_seen"] == [1, 2]
    assert out["served_before"] == 1 and out["served_after"] == 2
    assert out["log"]["prediction_rows"] > 0 and out["log"]["feedback_rows"] == 40
