"""What a chunk writes: its output table (kept columns, then one column per model output) in
Parquet, CSV or JSON lines, and its rejects as JSON lines.

An output of one element per row is a scalar column; a wider one is a fixed-size list column
of the row's values in row-major order (in CSV: one column per element, NAME_0, NAME_1, ...).
BYTES outputs are text columns when they are UTF-8, binary otherwise.
"""

from __future__ import annotations

import json
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from naiad.batch.signature import Signature


def output_table(kept: pa.Table, outputs: dict[str, np.ndarray], signature: Signature) -> pa.Table:
    """`kept` (the good rows' kept columns) with the predictions appended."""
    predicted = {t.name: _column(outputs[t.name]) for t in signature.outputs}
    if kept.num_columns == 0:
        return pa.table(predicted)
    table = kept
    for name, column in predicted.items():
        table = table.append_column(name, column)
    return table


def output_names(signature: Signature, keep_columns: tuple[str, ...]) -> list[str]:
    """The output's columns; ValueError when a kept column has an output's name."""
    clash = sorted({t.name for t in signature.outputs} & set(keep_columns))
    if clash:
        raise ValueError(f"--keep-columns {clash}: the model has outputs of the same name")
    return [*keep_columns, *(t.name for t in signature.outputs)]


def write(table: pa.Table, output_format: str, file: BinaryIO) -> None:
    if output_format == "parquet":
        pq.write_table(table, file, use_dictionary=dictionary_columns(table.schema))
    elif output_format == "csv":
        pacsv.write_csv(flat_columns(table), file)
    else:
        file.write(_json_lines(table.to_pylist()))


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """The columns worth Parquet's dictionary encoding: all but floating-point ones (scalars or
    lists). Predictions and scores are continuous, so a dictionary of them only grows until
    the writer gives up on it: on a 10-float output per row it made writing 7x dearer in CPU
    and the file half again as large (bench/README.md, issue 16)."""
    return [field.name for field in schema if not _floating(field.type)]


def _floating(kind: pa.DataType) -> bool:
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _floating(kind.value_type)
    return bool(pa.types.is_floating(kind))


def extension(output_format: str) -> str:
    return {"parquet": ".parquet", "csv": ".csv", "jsonl": ".jsonl"}[output_format]


def reject_lines(
    source_path: str, first_row: int, rows: list[tuple[int, str, dict[str, Any] | str]]
) -> bytes:
    """JSON lines of the rejects: file, row (0-based, within the file), reason, values."""
    records = [
        {"file": source_path, "row": first_row + row, "reason": reason, "values": values}
        for row, reason, values in rows
    ]
    return _json_lines(records)


def _column(data: np.ndarray) -> pa.Array:
    rows = data.shape[0]
    width = int(np.prod(data.shape[1:])) if data.ndim > 1 else 1
    flat = data.reshape(rows * width) if width != 1 else data.reshape(rows)
    if flat.dtype == object:
        values = pa.array(list(flat), pa.binary())
        try:
            values = values.cast(pa.string())
        except pa.ArrowInvalid:
            pass  # not UTF-8: stays binary
    else:
        values = pa.array(flat)
    if width == 1:
        return values
    return pa.FixedSizeListArray.from_arrays(values, width)


def flat_columns(table: pa.Table) -> pa.Table:
    """List columns as CSV can hold them: fixed-size lists one column per element, others
    as JSON text."""
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_fixed_size_list(column.type):
            width = column.type.list_size
            values = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
            matrix = values.reshape(-1, width)
            for j in range(width):
                columns[f"{name}_{j}"] = pa.array(matrix[:, j])
        elif pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            columns[name] = pa.array(
                [json.dumps(v) if v is not None else None for v in column.to_pylist()],
                pa.string(),
            )
        else:
            columns[name] = column
    return pa.table(columns)


def _json_lines(records: list[dict[str, Any]]) -> bytes:
    return b"".join(
        json.dumps(r, separators=(",", ":"), default=_plain).encode() + b"\n" for r in records
    )


def _plain(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
