"""Shared pieces of the batch tests: generated inputs, ONNX Runtime as the reference, the
`naiad batch` command in a subprocess, and reading an output folder back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import modelgen
import numpy as np
import onnxruntime as ort
import pyarrow as pa
import pyarrow.dataset as ds

NUM_IN = 4
NUM_OUT = 3
CONFIG = "max_batch_size: 64\ndynamic_batching { max_queue_delay_microseconds: 500 }\n"


def write_repository(root: Path) -> Path:
    """`clf`: FP32 [4] -> softmax [3], batching up to 64 rows, two instances (the default)."""
    return modelgen.write_repository(
        root, {"clf": {1: lambda p: modelgen.mlp(p, NUM_IN, 8, NUM_OUT)}}, {"clf": CONFIG}
    )


def features(rows: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, NUM_IN)).astype(np.float32)


def feature_table(x: np.ndarray, first_id: int = 0) -> pa.Table:
    """An `id` column and one column per feature, f0..f3."""
    columns: dict[str, object] = {"id": np.arange(first_id, first_id + len(x))}
    columns.update({f"f{i}": x[:, i] for i in range(x.shape[1])})
    return pa.table(columns)


def reference(repository: Path, x: np.ndarray) -> np.ndarray:
    """What in-process ONNX Runtime answers for the rows of `x`, all in one run."""
    session = ort.InferenceSession(
        str(repository / "clf" / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {"INPUT0": x})[0]


def read_output(folder: Path) -> pa.Table:
    """Every part file of an output folder (pyarrow skips `_` and `.` names), sorted by id."""
    table = ds.dataset(str(folder), format="parquet").to_table()
    return table.sort_by("id") if "id" in table.column_names else table


def predictions(table: pa.Table, name: str = "OUTPUT0") -> np.ndarray:
    column = table.column(name).combine_chunks()
    return column.flatten().to_numpy().reshape(len(column), -1)


def rejects(folder: Path) -> list[dict[str, object]]:
    lines = []
    for path in sorted(folder.glob("part-*.jsonl")):
        lines.extend(json.loads(line) for line in path.read_text().splitlines())
    return lines


def batch_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "naiad.cli", "batch", *args]


def run_batch(*args: str, timeout_s: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        batch_command(*args), capture_output=True, text=True, timeout=timeout_s, check=False
    )
