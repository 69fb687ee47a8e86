"""Synthetic churn data, deterministic from a seed, with a knob that shifts it (drift)."""

from __future__ import annotations

from typing import Any


def make_churn(rows: int = 2000, seed: int = 7, drift: float = 0.0) -> Any:
    """A customer table with a ``churned`` label. ``drift`` in [0, 1] moves the feature
    distributions (older customers, higher bills, more support calls) and the label rate."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    tenure = rng.gamma(2.0 + drift, 12.0, rows).round().astype("int64") + 1
    monthly = rng.normal(65 + 25 * drift, 18, rows).clip(10, 200).round(2)
    calls = rng.poisson(1.2 + 2.0 * drift, rows).astype("int64")
    plan = rng.choice(["basic", "plus", "pro"], rows, p=[0.5 - 0.2 * drift, 0.3, 0.2 + 0.2 * drift])
    contract = rng.choice(["monthly", "yearly"], rows, p=[0.6, 0.4])
    logit = -1.2 - 0.04 * tenure + 0.02 * (monthly - 65) + 0.45 * calls
    logit += np.where(contract == "monthly", 0.9, -0.6)
    churned = rng.random(rows) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, rows + 1, dtype="int64"),
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "support_calls": calls,
            "plan": plan,
            "contract": contract,
            "churned": churned.astype("int64"),
        }
    )
