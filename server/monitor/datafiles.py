"""Training data for `naiad profile`: npz, npy, csv or parquet, read into one array per input.

- .npz: one array per input, keyed by the input's name (a single array fits a single input
  whatever its key).
- .npy: the single input's array.
- .csv (header row) and .parquet (needs pyarrow): a model with one input takes every column,
  in order, as its features (the header names them); with several inputs a column named
  `INPUT` is that input, and columns `INPUT.feature` together make up its features.
Text columns become BYTES values. Rows are the first dimension throughout.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from naiad.errors import InvalidArgument

Columns = dict[str, np.ndarray]


def read_data(
    path: Path, inputs: list[str]
) -> tuple[dict[str, np.ndarray], dict[str, tuple[str, ...]]]:
    """(array per input, feature names per input where the file names them)."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise InvalidArgument(f"{path}: no such file")
    if suffix == ".npy":
        if len(inputs) != 1:
            raise InvalidArgument(f"{path}: a .npy file fits a model with one input only")
        return {inputs[0]: _load_npy(path)}, {}
    if suffix == ".npz":
        return _npz(path, inputs), {}
    if suffix == ".csv":
        return _grouped(_csv(path), inputs, path)
    if suffix in (".parquet", ".pq"):
        return _grouped(_parquet(path), inputs, path)
    raise InvalidArgument(f"{path}: give a .npz, .npy, .csv or .parquet file")


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise InvalidArgument(f"{path}: {exc}") from None


def _npz(path: Path, inputs: list[str]) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {k: stored[k] for k in stored.files}
    except ValueError as exc:
        raise InvalidArgument(f"{path}: {exc}") from None
    if len(inputs) == 1 and len(arrays) == 1:
        return {inputs[0]: next(iter(arrays.values()))}
    missing = [i for i in inputs if i not in arrays]
    if missing:
        raise InvalidArgument(
            f"{path}: no array for input(s) {', '.join(missing)} (found {', '.join(arrays)})"
        )
    return {i: arrays[i] for i in inputs}


def _csv(path: Path) -> Columns:
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    if len(rows) < 2:
        raise InvalidArgument(f"{path}: a header row and at least one data row are needed")
    header, body = rows[0], rows[1:]
    if any(len(r) != len(header) for r in body):
        raise InvalidArgument(f"{path}: every row needs {len(header)} fields")
    columns: Columns = {}
    for number, name in enumerate(header):
        text = [r[number] for r in body]
        try:
            columns[name] = np.array([float(v) if v != "" else np.nan for v in text])
        except ValueError:
            columns[name] = np.array([v.encode() for v in text], dtype=object)
    return columns


def _parquet(path: Path) -> Columns:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InvalidArgument("reading parquet needs pyarrow: pip install pyarrow") from None
    table = pq.read_table(path)
    columns: Columns = {}
    for name in table.column_names:
        values = table.column(name).to_numpy(zero_copy_only=False)
        if values.dtype == object:
            values = np.array([str(v).encode() for v in values], dtype=object)
        columns[name] = values
    return columns


def _grouped(
    columns: Columns, inputs: list[str], path: Path
) -> tuple[dict[str, np.ndarray], dict[str, tuple[str, ...]]]:
    if len(inputs) == 1:
        return {inputs[0]: _stack(list(columns.values()))}, {inputs[0]: tuple(columns)}
    arrays, names = {}, {}
    for name in inputs:
        if name in columns:
            arrays[name] = columns[name].reshape(-1, 1)
            continue
        parts = {c[len(name) + 1 :]: v for c, v in columns.items() if c.startswith(name + ".")}
        if not parts:
            raise InvalidArgument(f"{path}: no column '{name}' or '{name}.<feature>'")
        arrays[name] = _stack(list(parts.values()))
        names[name] = tuple(parts)
    return arrays, names


def _stack(values: list[np.ndarray]) -> np.ndarray:
    if any(v.dtype == object for v in values):
        return np.stack([v.astype(object) for v in values], axis=1)
    return np.stack(values, axis=1)
