"""The demo's training pipeline: prepare → train → evaluate → register → deploy_if → deploy,
on a churn dataset. ``run_training_demo`` runs it twice; the second run is all cache."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from loopml.pipelines import (
    current_step,
    deploy,
    deploy_if,
    load_dataset,
    pipeline,
    register_model,
    step,
)

if TYPE_CHECKING:
    from loopml.sdk import Client

SOURCE = "loopml.demo.training_pipeline:training"
FEATURES = ["tenure_months", "monthly_charges", "support_calls", "plan", "contract"]


@step(outputs=("train", "test"))
def prepare(df: Any, test_fraction: float = 0.25, seed: int = 7) -> tuple[Any, Any]:
    """One-hot encode the categories and split rows into a training and a test set."""
    import pandas as pd

    table = pd.get_dummies(df[[*FEATURES, "churned"]], columns=["plan", "contract"], dtype=float)
    test = table.sample(frac=test_fraction, random_state=seed)
    return table.drop(test.index), test


@step
def train(table: Any, C: float = 1.0) -> Any:
    """A scaled logistic regression on the prepared features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=500))
    return model.fit(table.drop(columns="churned"), table["churned"])


@step
def evaluate(model: Any, table: Any) -> dict[str, float]:
    """Accuracy and ROC AUC on the test set, logged to the pipeline's tracked run."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    x, y = table.drop(columns="churned"), table["churned"]
    scores = {
        "accuracy": float(accuracy_score(y, model.predict(x))),
        "auc": float(roc_auc_score(y, model.predict_proba(x)[:, 1])),
    }
    current_step().log_metrics(scores)
    print(f"accuracy={scores['accuracy']:.3f} auc={scores['auc']:.3f}")
    return scores


@step
def example_rows(table: Any, rows: int = 5) -> Any:
    """A few input rows (no label): the registry infers the model's signature from them."""
    return table.drop(columns="churned").head(rows)


@pipeline
def training(dataset: str = "churn", C: float = 1.0, model_name: str = "churn") -> None:
    """Train on ``dataset`` and deploy the model if it beats the current production one."""
    train_set, test_set = prepare(load_dataset(dataset))
    model = train(train_set, C=C)
    metrics = evaluate(model, test_set)
    version = register_model(
        model, name=model_name, metrics=metrics, input_example=example_rows(test_set)
    )
    deploy(deploy_if(version, metric="auc", better_than="production"), alias="production")


def _summary(run: Any, seconds: float) -> dict[str, Any]:
    return {
        "run": run.id,
        "status": run.status.value,
        "seconds": round(seconds, 3),
        "steps": {s.name: s.status.value for s in run.steps},
        "fully_cached": all(s.status.value == "cached" for s in run.steps),
    }


def _origin(step: Any, meaning: str) -> str:
    """Where a step's result came from, when the step was served from the cache."""
    if not step.cached_from:
        return ""
    return f" (reused from run {step.cached_from[:12]}: {meaning})"


def run_training_demo(
    client: Client, params: dict[str, Any] | None = None, quiet: bool = False
) -> dict[str, Any]:
    """Run the training pipeline twice (on the dataset ``params`` names); the second run is all cache."""
    from rich.console import Console

    c = Console(quiet=quiet, highlight=False)
    out: dict[str, Any] = {"source": SOURCE}
    for label in ("first", "second"):
        t0 = time.perf_counter()
        run = client.pipelines.run(SOURCE, params or {})
        out[label] = _summary(run, time.perf_counter() - t0)
        steps = ", ".join(f"{n} {st}" for n, st in out[label]["steps"].items())
        c.print(f"  {label} run {run.id[:12]}: {run.status.value} in {out[label]['seconds']} s")
        c.print(f"    {steps}")
        if run.status.value != "succeeded":
            c.print(f"    [red]{run.error}[/]")
            break
    last = client.pipelines.get_run(out["first"]["run"])
    if last.status.value == "succeeded":
        out["model"] = client.pipelines.load_output(last.id, "register_model")
        out["decision"] = last.step("deploy_if").decision or {}
        reg, gate, dep = (last.step(n) for n in ("register_model", "deploy_if", "deploy"))
        c.print(f"  register_model: {out['model']}{_origin(reg, 'no new version')}")
        c.print(f"  deploy_if: {out['decision'].get('reason')}{_origin(gate, 'decided then')}")
        c.print(f"  deploy: {dep.status.value}{_origin(dep, 'nothing deployed now')}")
    return out
