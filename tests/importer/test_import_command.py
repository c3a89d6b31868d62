"""`naiad import` on models trained here: converted, written, loaded by the server's own code
and answering as the original does; the parity gate and the refusals."""

from __future__ import annotations

import asyncio
import pickle
import sys
import warnings
from pathlib import Path

import churn
import joblib
import numpy as np
import pytest

from naiad.cli import main
from naiad.config.parse import read_config_file
from naiad.datatypes import BY_WIRE
from naiad.engine.context import INTERNAL
from naiad.engine.engine import Engine
from naiad.engine.loader import load_served_model
from naiad.engine.request import InferInput, InferRequest
from naiad.repository.manager import ModelRepository
from naiad.repository.types import ModelState

sys.path.insert(0, str(Path(__file__).parent))
pytest.importorskip("pandas", reason="the churn pipeline is fitted on a DataFrame")

TOLERANCE = 1e-5
"""Probabilities: ONNX Runtime computes in float32, scikit-learn in float64."""


async def serve_once(repo: Path, name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    repository = ModelRepository(str(repo), factory=load_served_model)
    await asyncio.to_thread(repository.start)
    try:
        [row] = [e for e in repository.index() if e.name == name]
        assert row.state is ModelState.READY, row.reason
        tensors = []
        for key, array in inputs.items():
            datatype = BY_WIRE["BYTES" if array.dtype == object else "FP32"]
            tensors.append(InferInput(key, datatype, tuple(array.shape), array))
        answer = await Engine(repository).submit(InferRequest(name, "", "t", tensors), INTERNAL)
        return {o.name: o.data for o in answer.outputs}
    finally:
        await asyncio.to_thread(repository.stop)


async def test_the_churn_pipeline_imports_with_a_column_per_input_and_answers_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = churn.train_pipeline()
    source = tmp_path / "model.joblib"
    joblib.dump(model, source)
    sample = churn.write_csv(tmp_path / "sample.csv", churn.customers(50, seed=3))
    repo = tmp_path / "repo"
    repo.mkdir()
    args = ["import", str(source), "--model-repository", str(repo), "--name", "churn"]
    assert main([*args, "--sample", str(sample)]) == 0
    printed = capsys.readouterr()
    assert "unpickles it, which runs any code the file contains" in printed.err
    assert "label: label agreement 100.00%" in printed.out
    assert "probabilities: max abs diff" in printed.out and "result: agree" in printed.out

    config = read_config_file(repo / "churn", model="churn")
    assert config is not None
    assert [(t.name, t.data_type, list(t.dims)) for t in config.input] == [
        ("tenure_months", 11, [1]), ("monthly_charges", 11, [1]), ("support_calls", 11, [1]),
        ("contract", 13, [1]), ("payment", 13, [1]),
    ]  # fmt: skip
    assert [t.name for t in config.output] == ["label", "probabilities"]
    assert config.max_batch_size == 64 and config.HasField("dynamic_batching")
    assert sorted(config.model_warmup[0].inputs) == sorted(churn.NUMERIC + churn.CATEGORICAL)
    assert (repo / "churn" / "warmup" / "contract").read_bytes()[4:] in (
        b"monthly", b"yearly", b"two-year",
    )  # fmt: skip

    customers = churn.customers(8, seed=9)
    inputs = {
        name: (values.astype(np.float32) if name in churn.NUMERIC else values).reshape(-1, 1)
        for name, values in customers.items()
    }
    served = await serve_once(repo, "churn", inputs)
    import pandas as pd

    table = pd.DataFrame(customers)
    np.testing.assert_allclose(served["probabilities"], model.predict_proba(table), atol=TOLERANCE)
    assert [v.decode() for v in served["label"].ravel()] == list(model.predict(table))


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm"])
async def test_gradient_boosting_imports_and_answers_alike(tmp_path: Path, framework: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int)
    if framework == "xgboost":
        import xgboost

        model = xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(x, y)
    else:
        import lightgbm

        model = lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(x, y)
    source = tmp_path / "model.pkl"
    source.write_bytes(pickle.dumps(model))
    np.save(tmp_path / "sample.npy", x[:40])
    repo = tmp_path / "repo"
    repo.mkdir()
    args = ["import", str(source), "--model-repository", str(repo), "--name", "gbm"]
    assert main([*args, "--sample", str(tmp_path / "sample.npy")]) == 0
    config = read_config_file(repo / "gbm", model="gbm")
    assert config is not None and [t.name for t in config.input] == ["input"]
    served = await serve_once(repo, "gbm", {"input": x[:16]})
    np.testing.assert_allclose(served["probabilities"], model.predict_proba(x[:16]), atol=TOLERANCE)
    np.testing.assert_array_equal(served["label"].ravel(), model.predict(x[:16]))


def test_a_copy_beyond_the_threshold_is_not_written_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "model.joblib"
    joblib.dump(churn.train_pipeline(), source)
    sample = churn.write_csv(tmp_path / "sample.csv", churn.customers(50, seed=3))
    repo = tmp_path / "repo"
    repo.mkdir()
    args = ["import", str(source), "--model-repository", str(repo), "--name", "churn",
            "--sample", str(sample), "--max-abs-diff", "0"]  # fmt: skip
    # float32 against float64 probabilities always differ a little: 0 cannot hold.
    assert main(args) == 1
    assert "DISAGREE" in capsys.readouterr().out
    assert not (repo / "churn").exists()
    assert main([*args, "--force"]) == 0
    assert (repo / "churn" / "1" / "model.onnx").is_file()


def test_bad_sources_and_names_are_refused_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    not_a_model = tmp_path / "thing.pkl"
    not_a_model.write_bytes(pickle.dumps({"weights": [1, 2]}))
    base = ["--model-repository", str(repo)]
    assert main(["import", str(not_a_model), *base, "--name", "m"]) == 1
    assert "cannot tell which framework a builtins.dict belongs to" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "missing.pkl"), *base, "--name", "m"]) == 1
    assert "is not a file" in capsys.readouterr().err
    source = tmp_path / "model.joblib"
    joblib.dump(churn.train_pipeline(), source)
    assert main(["import", str(source), *base, "--name", "../escape"]) == 1
    assert "escape" in capsys.readouterr().err
    assert main(["import", str(source), *base, "--name", "m", "--framework", "xgboost"]) == 1
    assert "which is sklearn, not xgboost" in capsys.readouterr().err
    assert not any(repo.iterdir())


@pytest.mark.parametrize("kind", ["torchscript", "torch"])
async def test_a_torch_module_exports_with_a_dynamic_batch_and_answers_alike(
    tmp_path: Path, kind: str
) -> None:
    torch = pytest.importorskip(
        "torch", reason="torch is not in the test extra (its wheel is GBs); install it to run this"
    )
    import torch_scorer

    module = torch_scorer.build()
    source = tmp_path / "model.pt"
    if kind == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated upstream
            torch.jit.save(torch.jit.script(module), str(source))
    else:
        torch.save(module, str(source))
    x = np.random.default_rng(2).standard_normal((32, 5)).astype(np.float32)
    np.save(tmp_path / "sample.npy", x)
    repo = tmp_path / "repo"
    repo.mkdir()
    args = ["import", str(source), "--model-repository", str(repo), "--name", "scorer"]
    assert main([*args, "--sample", str(tmp_path / "sample.npy"), "--framework", kind]) == 0
    config = read_config_file(repo / "scorer", model="scorer")
    assert config is not None and config.max_batch_size == 64
    assert [(t.name, list(t.dims)) for t in config.input] == [("input", [5])]
    served = await serve_once(repo, "scorer", {"input": x[:7]})
    with torch.no_grad():
        want = module(torch.from_numpy(x[:7])).numpy()
    np.testing.assert_allclose(served["output"], want, atol=TOLERANCE)
