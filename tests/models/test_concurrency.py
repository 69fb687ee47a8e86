"""Version numbers stay unique and gap-free when processes register at the same time."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa

from loopml.meta.tables import events, model_versions
from loopml.sdk import Client

WORKER = """
import sys
import numpy as np
from sklearn.dummy import DummyClassifier
import loopml

worker = int(sys.argv[1])
x = np.zeros((4, 2))
model = DummyClassifier(strategy="constant", constant=worker).fit(x, [0, 1, 2, 3])
for i in range(25):
    loopml.register_model("shared", model, metrics={"worker": worker, "i": i})
"""


@pytest.mark.slow
def test_four_processes_registering_25_versions_each_get_1_to_100(
    client: Client, env: dict[str, str]
) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(w)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(4)
    ]
    for p in procs:
        _out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    with client.stores.meta.read() as conn:
        rows = conn.execute(
            sa.select(model_versions.c.version, model_versions.c.metrics).order_by(
                model_versions.c.version
            )
        ).all()
        created = conn.execute(
            sa.select(sa.func.count())
            .select_from(events)
            .where(events.c.kind == "model.version_created")
        ).scalar_one()
    assert [r.version for r in rows] == list(range(1, 101))
    per_worker = sorted((int(r.metrics["worker"]), int(r.metrics["i"])) for r in rows)
    assert per_worker == [(w, i) for w in range(4) for i in range(25)]
    assert created == 100
    # each worker's own versions are in the order it registered them
    for w in range(4):
        mine = [int(r.metrics["i"]) for r in rows if r.metrics["worker"] == w]
        assert mine == list(range(25))
    assert client.models.load("shared@100").version == 100
