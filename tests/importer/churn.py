"""The churn example: a scikit-learn pipeline over mixed numeric and categorical columns,
trained at test time on synthetic customers (what the README walks through)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

NUMERIC = ("tenure_months", "monthly_charges", "support_calls")
CATEGORICAL = ("contract", "payment")


def customers(rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    contract = rng.choice(["monthly", "yearly", "two-year"], rows)
    payment = rng.choice(["card", "transfer", "cheque"], rows)
    tenure = rng.integers(1, 72, rows).astype(np.float64)
    charges = rng.uniform(20, 120, rows).round(2)
    calls = rng.poisson(2, rows).astype(np.float64)
    return {
        "tenure_months": tenure,
        "monthly_charges": charges,
        "support_calls": calls,
        "contract": contract.astype(object),
        "payment": payment.astype(object),
    }


def churned(columns: dict[str, np.ndarray]) -> np.ndarray:
    score = (
        (columns["contract"] == "monthly") * 1.5
        + columns["support_calls"] * 0.4
        - columns["tenure_months"] * 0.05
        + (columns["payment"] == "cheque") * 0.5
    )
    return np.where(score > 0.5, "yes", "no")


def train_pipeline(rows: int = 400):  # type: ignore[no-untyped-def]
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = customers(rows)
    table = pd.DataFrame(columns)
    model = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [
                        ("numbers", StandardScaler(), list(NUMERIC)),
                        ("categories", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL)),
                    ]
                ),
            ),
            ("classify", LogisticRegression(max_iter=500)),
        ]
    )
    model.fit(table, churned(columns))
    return model


def write_csv(path: Path, columns: dict[str, np.ndarray]) -> Path:
    names = list(columns)
    lines = [",".join(names)]
    for i in range(len(columns[names[0]])):
        lines.append(",".join(str(columns[n][i]) for n in names))
    path.write_text("\n".join(lines) + "\n")
    return path
