"""From a chunk's columns to model input tensors, and which rows are bad and why.

An input reads one column or several (`--map INPUT=COL[,COL...]`, names or fnmatch patterns):
- one list column (list or fixed-size list, e.g. from Parquet, JSON arrays, npy rows): each
  row's values, `width` of them, become that row's tensor;
- scalar columns, one per element ("features as columns"), stacked in the order given;
- for BYTES inputs, string or binary columns.
An input left unmapped reads the column of its own name, or, for a model with one input, every
column that is not kept.

A row is bad when a column it needs is null, holds a value that is not of the input's type
(text that is not a number, 1.5 for an integer input), or a list of the wrong length; it goes to
the rejects with the first reason found. A mapping that cannot fit any row (no such column, a
list column for a scalar element) is a ValueError for the whole job.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from naiad.batch.signature import Signature, Tensor


@dataclass(frozen=True)
class Binding:
    tensor: Tensor
    columns: tuple[str, ...]


@dataclass
class Converted:
    inputs: dict[str, np.ndarray]
    """Each input's rows, (good rows, *dims), in chunk order."""
    good: np.ndarray | None
    """Mask of the chunk's good rows; None when every row is good."""
    reasons: dict[int, str]
    """Row within the chunk -> why it is bad."""


def bind(
    signature: Signature,
    column_names: list[str],
    mapping: tuple[tuple[str, tuple[str, ...]], ...],
    keep_columns: tuple[str, ...],
) -> list[Binding]:
    """Which columns feed each required input; ValueError when the mapping does not fit."""
    known = {t.name for t in signature.inputs}
    unknown = sorted(name for name, _ in mapping if name not in known)
    if unknown:
        raise ValueError(f"--map names unknown input(s) {unknown}; the model takes {sorted(known)}")
    missing_kept = [c for c in keep_columns if c not in column_names]
    if missing_kept:
        raise ValueError(f"--keep-columns {missing_kept}: not in the input ({column_names})")
    given = dict(mapping)
    required = [t for t in signature.inputs if not t.optional or t.name in given]
    bindings = []
    for tensor in required:
        if tensor.name in given:
            columns = _expand(given[tensor.name], column_names)
        elif tensor.name in column_names:
            columns = (tensor.name,)
        elif len(required) == 1:
            columns = tuple(c for c in column_names if c not in keep_columns)
        else:
            raise ValueError(
                f"input '{tensor.name}' has no column of its name; map it with "
                f"--map {tensor.name}=COLUMN[,COLUMN...] (columns: {column_names})"
            )
        if not columns:
            raise ValueError(f"input '{tensor.name}': no columns to read")
        if tensor.width < 0 and len(columns) == 1:
            raise ValueError(
                f"input '{tensor.name}' has variable dims {list(tensor.dims)}; naiad batch "
                "needs fixed dims per row (give them in config.pbtxt) or one column per element"
            )
        if tensor.width >= 0 and len(columns) > 1 and len(columns) != tensor.width:
            raise ValueError(
                f"input '{tensor.name}' takes {tensor.width} values per row; "
                f"{len(columns)} columns are mapped to it"
            )
        bindings.append(Binding(tensor, columns))
    return bindings


def text_columns(bindings: list[Binding]) -> tuple[str, ...]:
    """Columns to read as text from CSV, so that a bad value rejects a row, not a block."""
    return tuple(c for b in bindings for c in b.columns)


def convert(table: pa.Table, bindings: list[Binding]) -> Converted:
    """The chunk's tensors and bad rows; ValueError when a column is of an unusable kind."""
    rows = table.num_rows
    reasons: dict[int, str] = {}
    arrays = {}
    for binding in bindings:
        arrays[binding.tensor.name] = _tensor(table, binding, rows, reasons)
    if not reasons:
        return Converted(arrays, None, reasons)
    good = np.ones(rows, bool)
    good[list(reasons)] = False
    return Converted({n: a[good] for n, a in arrays.items()}, good, reasons)


def _expand(patterns: tuple[str, ...], column_names: list[str]) -> tuple[str, ...]:
    columns: list[str] = []
    for pattern in patterns:
        if pattern in column_names:
            matched = [pattern]
        else:
            matched = [c for c in column_names if fnmatch.fnmatchcase(c, pattern)]
        if not matched:
            raise ValueError(f"--map: no column matches {pattern!r} (columns: {column_names})")
        columns.extend(c for c in matched if c not in columns)
    return tuple(columns)


def _tensor(table: pa.Table, binding: Binding, rows: int, reasons: dict[int, str]) -> np.ndarray:
    tensor = binding.tensor
    for name in binding.columns:
        if name not in table.column_names:
            raise ValueError(f"column '{name}' (input '{tensor.name}') is not in this file")
    first = table.column(binding.columns[0]).combine_chunks()
    if len(binding.columns) == 1 and tensor.width != 1 and _is_text(first.type):
        first = _parse_lists(first, binding.columns[0], tensor, reasons)
    if len(binding.columns) == 1 and _is_list(first.type):
        flat = _list_values(first, binding.columns[0], tensor, reasons)
        return flat.reshape((rows, *tensor.dims))
    width = len(binding.columns)
    if tensor.width >= 0 and width != tensor.width:
        raise ValueError(
            f"input '{tensor.name}' takes {tensor.width} values per row; column "
            f"'{binding.columns[0]}' holds one (map {tensor.width} columns or a list column)"
        )
    out = np.empty((rows, width), tensor.datatype.numpy)
    for j, name in enumerate(binding.columns):
        column = table.column(name).combine_chunks()
        if _is_list(column.type):
            raise ValueError(f"column '{name}' holds lists; input '{tensor.name}' maps one per row")
        out[:, j] = _scalars(column, name, tensor, np.arange(rows), reasons)
    dims = tensor.dims if tensor.width >= 0 else (width,)
    return out.reshape((rows, *dims))


def _is_list(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    )


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _parse_lists(column: pa.Array, name: str, tensor: Tensor, reasons: dict[int, str]) -> pa.Array:
    # A text column where a list is expected: JSON arrays as text (CSV cells, JSON lines whose
    # values did not share one type). Parsed row by row; a row that is not a list is marked.
    wire = tensor.datatype.wire
    element = {"BYTES": pa.string(), "BOOL": pa.bool_()}.get(wire)
    if element is None:
        element = pa.int64() if wire.startswith(("INT", "UINT")) else pa.float64()
    rows: list[list[object] | None] = []
    for row, text in enumerate(column.to_pylist()):
        if text is None:
            rows.append(None)
            continue
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        if not isinstance(value, list):
            reasons.setdefault(row, f"column '{name}': {text!r} is not a list of values")
            rows.append(None)
            continue
        wrong = next((v for v in value if v is not None and not _fits(v, wire)), None)
        if wrong is not None:
            reasons.setdefault(
                row, f"column '{name}': {wrong!r} is not a {wire} value (input '{tensor.name}')"
            )
            rows.append(None)
            continue
        rows.append([v if v is None or wire == "BYTES" else _element(v, wire) for v in value])
    return pa.array(rows, pa.list_(element))


def _fits(value: object, wire: str) -> bool:
    if wire == "BYTES":
        return isinstance(value, str)
    if wire == "BOOL":
        return isinstance(value, bool)
    if wire.startswith(("INT", "UINT")):
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return isinstance(value, int | float)


def _element(value: object, wire: str) -> object:
    if wire.startswith(("INT", "UINT")):
        return int(value)  # type: ignore[call-overload]
    if wire == "BOOL":
        return value
    return float(value)  # type: ignore[arg-type]


def _list_values(
    column: pa.Array, name: str, tensor: Tensor, reasons: dict[int, str]
) -> np.ndarray:
    rows = len(column)
    width = tensor.width
    lengths = pc.fill_null(pc.list_value_length(column), -1).to_numpy(zero_copy_only=False)
    fits = lengths == width
    for row in np.flatnonzero(~fits):
        if lengths[row] < 0:
            reasons.setdefault(int(row), f"column '{name}' is null")
        else:
            reasons.setdefault(
                int(row),
                f"column '{name}' holds {lengths[row]} values; input '{tensor.name}' takes {width}",
            )
    kept = np.flatnonzero(fits)
    if len(kept) == 0:
        return np.zeros((rows, width), tensor.datatype.numpy)
    part = column.take(pa.array(kept)) if len(kept) < rows else column
    parents = np.repeat(kept, width)
    values = _scalars(part.flatten(), name, tensor, parents, reasons).reshape(len(kept), width)
    if len(kept) == rows:
        return values  # every row fits: no copy
    out = np.zeros((rows, width), tensor.datatype.numpy)
    out[kept] = values
    return out


def _scalars(
    column: pa.Array, name: str, tensor: Tensor, rows: np.ndarray, reasons: dict[int, str]
) -> np.ndarray:
    """`column` as the tensor's NumPy type; a null or unconvertible value marks its row
    (`rows[i]` is the chunk row of value i) and reads as 0."""
    datatype = tensor.datatype
    if pa.types.is_null(column.type):
        for row in rows:
            reasons.setdefault(int(row), f"column '{name}' is null")
        return np.zeros(len(column), datatype.numpy)
    if column.null_count:
        for i in np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False)):
            reasons.setdefault(int(rows[i]), f"column '{name}' is null")
        column = pc.fill_null(column, _zero(column.type))
    if datatype.wire == "BYTES":
        if not (pa.types.is_string(column.type) or pa.types.is_binary(column.type)):
            column = column.cast(pa.string())
        return column.cast(pa.binary()).to_numpy(zero_copy_only=False)
    target = pa.from_numpy_dtype(datatype.numpy)
    try:
        converted = column.cast(target) if column.type != target else column
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        converted = _one_by_one(column, name, tensor, rows, target, reasons)
    return converted.to_numpy(zero_copy_only=False)


def _one_by_one(
    column: pa.Array,
    name: str,
    tensor: Tensor,
    rows: np.ndarray,
    target: pa.DataType,
    reasons: dict[int, str],
) -> pa.Array:
    # Only for a chunk whose column did not convert as a whole: find the values that fail.
    values = []
    for i, value in enumerate(column):
        try:
            values.append(value.cast(target).as_py())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            shown = value.as_py()
            reasons.setdefault(
                int(rows[i]),
                f"column '{name}': {shown!r} is not a {tensor.datatype.wire} value "
                f"(input '{tensor.name}')",
            )
            values.append(0)
    return pa.array(values, target)


def _zero(kind: pa.DataType) -> object:
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "0"
    if pa.types.is_binary(kind):
        return b""
    if pa.types.is_boolean(kind):
        return False
    return 0
