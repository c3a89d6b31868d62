"""Execution seen from clients: a model from `naiad quantize` serves, warm-up runs before ready."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient
from helpers import tensor
from modelgen import mlp, mlp_reference, write_repository
from server_process import naiad_server

WARMUP = """
max_batch_size: 8
model_warmup [
  { name: "random_rows" batch_size: 4 count: 2
    inputs { key: "INPUT0" value: { data_type: TYPE_FP32 dims: [ 32 ] random_data: true } } }
]
"""


def copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def test_quantized_model_serves_close_to_fp32(tmp_path) -> None:
    fp32 = mlp(tmp_path / "fp32.onnx", 32, 256, 10, seed=5)
    int8 = tmp_path / "int8.onnx"
    report = subprocess.run(
        [sys.executable, "-m", "naiad.cli", "quantize", str(fp32), str(int8), "--mode", "dynamic"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int8.stat().st_size < fp32.stat().st_size, report.stdout
    repo = write_repository(
        tmp_path / "repo",
        {"fp32": {1: lambda p: copy(fp32, p)}, "int8": {1: lambda p: copy(int8, p)}},
    )
    x = np.random.default_rng(1).standard_normal((4, 32)).astype(np.float32)
    with naiad_server(repo) as server, grpcclient.InferenceServerClient(server.url) as client:
        full = client.infer("fp32", [tensor("INPUT0", x, "FP32")]).as_numpy("OUTPUT0")
        quantized = client.infer("int8", [tensor("INPUT0", x, "FP32")]).as_numpy("OUTPUT0")
    np.testing.assert_allclose(full, mlp_reference(x, 32, 256, 10, seed=5), rtol=1e-4, atol=1e-6)
    assert np.abs(quantized - full).max() < 0.05
    assert (quantized.argmax(axis=1) == full.argmax(axis=1)).mean() >= 0.75


def test_warmup_runs_before_the_model_is_ready(tmp_path) -> None:
    repo = write_repository(
        tmp_path / "repo",
        {"warm": {1: lambda p: mlp(p, 32, 16, 4)}},
        configs={"warm": WARMUP},
    )
    with naiad_server(repo) as server, grpcclient.InferenceServerClient(server.url) as client:
        assert client.is_model_ready("warm")
        log = server.output()
    warmed = log.index("warm-up 'random_rows' ran 2 time(s)")
    assert warmed < log.index("naiad ready")


def test_failing_warmup_keeps_the_model_unavailable(tmp_path) -> None:
    broken = WARMUP.replace("random_data: true", 'input_data_file: "missing.bin"')
    repo = write_repository(
        tmp_path / "repo",
        {"warm": {1: lambda p: mlp(p, 32, 16, 4)}, "other": {1: lambda p: mlp(p, 32, 16, 4)}},
        configs={"warm": broken},
    )
    with naiad_server(repo) as server, grpcclient.InferenceServerClient(server.url) as client:
        assert not client.is_model_ready("warm")
        assert client.is_model_ready("other")
        reasons = [m.reason for m in client.get_model_repository_index().models if m.name == "warm"]
    assert reasons and "missing.bin" in reasons[0]
