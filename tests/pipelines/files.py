"""Pipeline files the tests write into a temp folder and run by path, as a user would."""

from __future__ import annotations

import textwrap
from pathlib import Path

BASIC = """
import os
from pathlib import Path

import numpy as np
import pandas as pd

import helper
from loopml.pipelines import current_step, pipeline, step

FAIL_AT = os.environ.get("TEST_FAIL_AT", "")


@step
def prepare(rows: int):
    print(f"preparing {rows} rows")
    return pd.DataFrame({"x": np.arange(rows, dtype="float64"), "y": np.arange(rows) % 2})


@step(outputs=("features", "labels"))
def split(df):
    return df[["x"]].to_numpy(), df["y"].to_numpy()


@step
def train(features, labels, C: float):
    if FAIL_AT == "train":
        raise ValueError("training diverged")
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C).fit(features, labels)


@step
def evaluate(model, features, labels):
    score = helper.score(model, features, labels)
    current_step().log_metric("accuracy", score)
    return {"accuracy": score}


@step
def summary(df, folder_name: str):
    out = Path(os.environ["TEST_SCRATCH"]) / folder_name
    out.mkdir(parents=True, exist_ok=True)
    (out / "rows.txt").write_text(str(len(df)))
    (out / "sub").mkdir(exist_ok=True)
    (out / "sub" / "cols.txt").write_text(",".join(df.columns))
    return out


@pipeline
def training(C: float = 1.0, rows: int = 40):
    df = prepare(rows)
    features, labels = split(df)
    model = train(features, labels, C=C)
    evaluate(model, features, labels)
    summary(df, "report")
"""

HELPER = """
def score(model, features, labels):
    return float(model.score(features, labels))
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def basic(folder: Path) -> Path:
    write(folder, "helper.py", HELPER)
    return write(folder, "train_pipeline.py", BASIC)
