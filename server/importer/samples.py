"""Sample data for the parity check and the warm-up: a CSV with a header (a table of named
columns), a .npy array (one input) or a .npz file (one array per input name)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from naiad.importer.sources import ImportFailure

MAX_SAMPLE_ROWS = 10_000
"""Rows a parity check compares at most (the first ones)."""


@dataclass(frozen=True)
class Sample:
    """Rows to run both models on: named columns (a table) or arrays by input name."""

    columns: dict[str, np.ndarray] | None = None
    """Column name -> 1-D array (float64 for numbers, object of str otherwise); CSV samples."""
    arrays: dict[str, np.ndarray] | None = None
    """Input name ("" for the only input of a .npy sample) -> array with the batch first."""

    @property
    def rows(self) -> int:
        first = next(iter((self.columns or self.arrays or {}).values()))
        return int(first.shape[0])

    def table(self) -> Any:
        """The columns as a pandas DataFrame (what a model fitted on one expects)."""
        try:
            import pandas
        except ImportError:
            raise ImportFailure(
                "a model fitted on a DataFrame needs pandas: pip install pandas"
            ) from None
        assert self.columns is not None
        return pandas.DataFrame(self.columns)

    def matrix(self) -> np.ndarray:
        """All numeric columns side by side, or the single array: FP32 [rows, features]."""
        if self.columns is not None:
            try:
                return np.column_stack([c.astype(np.float32) for c in self.columns.values()])
            except ValueError:
                raise ImportFailure(
                    "the sample has text columns, but this model takes numbers"
                ) from None
        assert self.arrays is not None
        if len(self.arrays) != 1:
            raise ImportFailure("this model takes one input; the sample holds several arrays")
        return next(iter(self.arrays.values())).astype(np.float32)


def read_sample(path: Path) -> Sample:
    """Reads a .csv, .npy or .npz sample; raises ImportFailure for anything else."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return Sample(columns=_read_csv(path))
        if suffix == ".npy":
            return Sample(arrays={"": np.load(path, allow_pickle=False)[:MAX_SAMPLE_ROWS]})
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                return Sample(arrays={k: data[k][:MAX_SAMPLE_ROWS] for k in data.files})
    except (OSError, ValueError) as exc:
        raise ImportFailure(f"cannot read the sample {path}: {exc}") from None
    raise ImportFailure(f"a sample is a .csv (with a header), .npy or .npz file, not {path.name}")


def _read_csv(path: Path) -> dict[str, np.ndarray]:
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.reader(file)
        header = next(reader, None)
        if not header:
            raise ImportFailure(f"the sample {path} has no header row")
        rows = [row for _, row in zip(range(MAX_SAMPLE_ROWS), reader, strict=False)]
    if not rows:
        raise ImportFailure(f"the sample {path} has no rows")
    columns: dict[str, np.ndarray] = {}
    for index, name in enumerate(header):
        values = [row[index] for row in rows]
        try:
            columns[name] = np.array([float(v) for v in values], np.float64)
        except ValueError:
            columns[name] = np.array(values, dtype=np.object_)
    return columns
