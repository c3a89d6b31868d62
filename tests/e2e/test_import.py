"""`naiad import` end to end: models trained here, saved with joblib, imported by the CLI,
served, and called through tritonclient. The churn pipeline takes a tensor per column; XGBoost
and LightGBM classifiers take one feature tensor. Each answers as the original does within
float32's rounding."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from helpers import tensor
from server_process import naiad_server

sys.path.insert(0, str(Path(__file__).parent.parent / "importer"))
pd = pytest.importorskip("pandas", reason="the churn pipeline is fitted on a DataFrame")
joblib = pytest.importorskip("joblib", reason="needs naiad[import]")
import churn  # noqa: E402

TOLERANCE = 1e-5
"""Probabilities: ONNX Runtime computes in float32, the originals in float64."""


def test_an_imported_pipeline_serves_the_originals_answers(tmp_path: Path) -> None:
    model = churn.train_pipeline()
    joblib.dump(model, tmp_path / "churn.joblib")
    sample = churn.write_csv(tmp_path / "sample.csv", churn.customers(100, seed=1))
    repo = tmp_path / "models"
    repo.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "naiad.cli", "import", str(tmp_path / "churn.joblib"),
         "--model-repository", str(repo), "--name", "churn", "--sample", str(sample)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "result: agree" in done.stdout

    customers = churn.customers(12, seed=5)
    with naiad_server(repo) as server:
        client = grpcclient.InferenceServerClient(server.url)
        inputs = []
        for name, values in customers.items():
            if name in churn.NUMERIC:
                inputs.append(tensor(name, values.astype(np.float32).reshape(-1, 1), "FP32"))
            else:
                inputs.append(tensor(name, values.reshape(-1, 1), "BYTES"))
        result = client.infer("churn", inputs)
    table = pd.DataFrame(customers)
    np.testing.assert_allclose(
        result.as_numpy("probabilities"), model.predict_proba(table), atol=TOLERANCE
    )
    labels = [v.decode() for v in result.as_numpy("label").ravel()]
    assert labels == list(model.predict(table))


def train_boosters(x: np.ndarray, y: np.ndarray) -> dict[str, object]:
    """An XGBoost and a LightGBM classifier fitted here, keyed by the name each is served as."""
    xgboost = pytest.importorskip("xgboost", reason="needs naiad[import]")
    lightgbm = pytest.importorskip("lightgbm", reason="needs naiad[import]")
    return {
        "xgb": xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(x, y),
        "lgbm": lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(x, y),
    }


def test_imported_gradient_boosting_models_serve_their_originals_answers(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int)
    np.save(tmp_path / "sample.npy", x[:40])
    repo = tmp_path / "models"
    repo.mkdir()
    models = train_boosters(x, y)
    for name, model in models.items():
        joblib.dump(model, tmp_path / f"{name}.joblib")
        done = subprocess.run(
            [sys.executable, "-m", "naiad.cli", "import", str(tmp_path / f"{name}.joblib"),
             "--model-repository", str(repo), "--name", name,
             "--sample", str(tmp_path / "sample.npy")],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "result: agree" in done.stdout

    rows = x[200:223]  # rows the models were fitted on but the sample did not hold
    with naiad_server(repo) as server:
        client = grpcclient.InferenceServerClient(server.url)
        for name, model in models.items():
            result = client.infer(name, [tensor("input", rows, "FP32")])
            np.testing.assert_allclose(
                result.as_numpy("probabilities"), model.predict_proba(rows), atol=TOLERANCE
            )
            np.testing.assert_array_equal(result.as_numpy("label").ravel(), model.predict(rows))
