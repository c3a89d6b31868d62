"""Small tritonclient helpers shared by the end-to-end tests."""

from __future__ import annotations

import http.client
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

PERF_ANALYZER = Path(__file__).resolve().parents[3] / "shared" / "tools" / "perf-analyzer"
PERF_ANALYZER_BINARY = (
    Path(os.environ.get("PERF_ANALYZER_HOME", Path.home() / ".cache" / "perf-analyzer-2.50.0"))
    / "tritonclient-2.50.0.data/data/bin/perf_analyzer"
)
needs_perf_analyzer = pytest.mark.skipif(
    not (PERF_ANALYZER.exists() and PERF_ANALYZER_BINARY.exists()),
    reason="perf_analyzer is not installed (../shared/tools/perf-analyzer installs it)",
)


def run_perf_analyzer(*args: str) -> str:
    """Runs perf_analyzer with `args` in count windows of 50 requests, at most 3 trials, and
    returns its output once it exited 0 and printed no error."""
    command = [
        str(PERF_ANALYZER), *args,
        "--measurement-mode", "count_windows", "--measurement-request-count", "50",
        "--stability-percentage", "999", "--max-trials", "3",
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "Unable to" not in output and "error" not in output.lower(), output
    return output


"""Marks a test that runs Triton's perf_analyzer (DESIGN.md section 7)."""

NUMPY = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
    "UINT64": np.uint64, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
    "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
    "BYTES": np.object_,
}  # fmt: skip


def sample(datatype: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if datatype == "BYTES":
        flat = [f"s{i}-é".encode() * (i % 3) for i in range(int(np.prod(shape)))]
        return np.array(flat, dtype=np.object_).reshape(shape)
    if datatype == "BOOL":
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    dtype = np.dtype(NUMPY[datatype])
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)


def tensor(name: str, array: np.ndarray, datatype: str) -> grpcclient.InferInput:
    tensor = grpcclient.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    return tensor


def wait_until(holds: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """Polls `holds` until it is true; fails the test saying `what` never happened."""
    deadline = time.monotonic() + timeout_s
    while not holds():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s} s")
        time.sleep(0.005)


def status_of(call: Callable[[], object]) -> tuple[str, str]:
    """Runs `call`, expecting it to fail; returns (status name, message)."""
    try:
        call()
    except InferenceServerException as exc:
        return str(exc.status()).replace("StatusCode.", ""), exc.message() or ""
    raise AssertionError("the call succeeded but was expected to fail")


def http_call(
    address: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP request to host:port; returns (status, lower-cased headers, body)."""
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        reply = connection.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
    finally:
        connection.close()
