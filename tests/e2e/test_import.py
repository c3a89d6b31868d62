"""`naiad import` end to end: the churn pipeline trained here, saved with joblib, imported by the
CLI, served, and called through tritonclient with a tensor per column, answering as
scikit-learn does within float32's rounding."""

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
