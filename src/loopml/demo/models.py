"""The demo's experiment-tracking and registry part: two scikit-learn models trained in
tracked runs on one dataset version, both registered, the better one put in production."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopml.sdk import Client

FEATURES = ["tenure_months", "monthly_charges", "support_calls", "plan", "contract"]


def features(df: Any) -> Any:
    """The model inputs of a churn table: numbers plus one-hot plan and contract."""
    import pandas as pd

    return pd.get_dummies(df[FEATURES], columns=["plan", "contract"], dtype=float)


def train_and_register(
    client: Client, dataset: str, model_name: str = "churn", quiet: bool = False
) -> dict[str, Any]:
    """Train a logistic regression and a random forest on ``dataset``, each in a tracked run;
    register both versions and set ``production`` on the one with the higher ROC AUC."""
    from rich.console import Console
    from rich.table import Table
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    c = Console(quiet=quiet, highlight=False)
    df = client.datasets.load(dataset)
    x, y = features(df), df["churned"]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=7)
    candidates = {
        "logreg": (
            make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=500)),
            {"model": "logreg", "C": 0.5},
        ),
        "forest": (
            RandomForestClassifier(n_estimators=60, max_depth=6, random_state=7),
            {"model": "forest", "n_estimators": 60, "max_depth": 6},
        ),
    }
    versions = {}
    for name, (estimator, params) in candidates.items():
        with client.tracking.start_run("churn", name, params=params) as run:
            run.log_input(dataset)
            estimator.fit(x_train, y_train)
            for step, frac in enumerate((0.25, 0.5, 1.0), start=1):
                # a learning curve: quality on a growing share of the test set
                n = max(10, int(len(x_test) * frac))
                run.log_metric(
                    "auc_curve",
                    roc_auc_score(y_test[:n], estimator.predict_proba(x_test[:n])[:, 1]),
                    step=step,
                )
            run.log_metrics(
                {
                    "accuracy": float(accuracy_score(y_test, estimator.predict(x_test))),
                    "auc": float(roc_auc_score(y_test, estimator.predict_proba(x_test)[:, 1])),
                }
            )
            run.flush()
            version = client.models.register(
                model_name, estimator, run=run.id, input_example=x_test.head(5)
            )
        versions[name] = version
    best = client.models.best_version(model_name, "auc")
    change = client.models.set_alias(model_name, "production", best.version)

    title = f"{model_name}: candidates, registered as new versions"
    table = Table("model", "run", "version", "accuracy", "auc", title=title)
    for name, v in versions.items():
        table.add_row(
            name,
            (v.run_id or "")[:8],
            str(v.version),
            f"{v.metrics['accuracy']:.3f}",
            f"{v.metrics['auc']:.3f}",
        )
    c.print(table)
    why = f"the best auc of all {model_name} versions: {best.metrics['auc']:.3f}"
    if not change.changed:
        c.print(f"  production: already {model_name}@{best.version} ({why})")
    elif change.previous_version is None:
        c.print(f"  production: set to {model_name}@{best.version} ({why})")
    else:
        c.print(
            f"  production: moved from {model_name}@{change.previous_version} to "
            f"{model_name}@{best.version} ({why})"
        )
    return {
        "versions": {k: v.version for k, v in versions.items()},
        "runs": {k: v.run_id for k, v in versions.items()},
        "production": best.version,
        "production_changed": change.changed,
        "metrics": {k: v.metrics for k, v in versions.items()},
    }
