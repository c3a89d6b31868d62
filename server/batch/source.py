"""The input: a file or a folder of files, read as numbered chunks of exactly `chunk_rows` rows.

Chunk k of file f always holds rows [k * chunk_rows, (k + 1) * chunk_rows) of that file (the
last one fewer), however the file's row groups or blocks fall: that is what lets a rerun skip
the chunks a manifest lists. Files stream: a chunk is read when the pipeline asks for it, so
memory holds a few chunks, never a file.

CSV columns a model input reads come in as text (converted, and bad values rejected, in
columns.py), so one bad value cannot fail a whole block. JSON lines are parsed a chunk of lines
at a time by pyarrow; a chunk pyarrow refuses is parsed line by line, and a line that is not
JSON becomes a reject.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.json as pajson
import pyarrow.parquet as pq

from naiad.batch.spec import EXTENSIONS
from naiad.batch.store import open_filesystem

NPY_COLUMN = "data"
"""The column an .npy file's array becomes."""
_LINE_BLOCK_BYTES = 1 << 20


@dataclass
class Chunk:
    """Rows [first_row, first_row + table.num_rows) of input file `file_index`."""

    file_index: int
    index: int
    first_row: int
    table: pa.Table
    broken: list[tuple[int, str, str]] = field(default_factory=list)
    """(row within the chunk, reason, raw text) of rows that could not even be parsed; they
    are not in `table`, whose rows are the others in order."""
    last: bool = False
    """The file's last chunk."""
    bytes_done: int = 0
    """Input bytes read when this chunk was (about: readers read ahead), over all files."""

    @property
    def name(self) -> str:
        return f"{self.file_index:05d}-{self.index:06d}"

    @property
    def num_rows(self) -> int:
        return self.table.num_rows + len(self.broken)


class Source:
    """The input files of a job, sorted by path; ValueError when there are none."""

    def __init__(self, location: str, input_format: str, chunk_rows: int) -> None:
        self.filesystem, root = open_filesystem(location)
        info = self.filesystem.get_file_info(root)
        if info.type == pafs.FileType.NotFound:
            raise ValueError(f"input {location} does not exist")
        if info.type == pafs.FileType.Directory:
            found = self.filesystem.get_file_info(pafs.FileSelector(root, recursive=True))
            files = [
                f
                for f in found
                if f.type == pafs.FileType.File
                and not f.base_name.startswith((".", "_"))
                and (not input_format or _format_of(f.base_name) == input_format)
                and _format_of(f.base_name)
            ]
            if not files:
                raise ValueError(f"input folder {location} holds no input files")
        else:
            files = [info]
        self.files = sorted(f.path for f in files)
        self.sizes = {f.path: f.size for f in files}
        formats = {input_format or _format_of(p) for p in self.files}
        if "" in formats or len(formats) != 1:
            raise ValueError(
                f"cannot tell the input format of {location} ({sorted(formats)}): "
                "give --input-format"
            )
        self.format = formats.pop()
        self.chunk_rows = chunk_rows
        self.total_bytes = sum(self.sizes.values())
        self.bytes_done = 0
        """Input bytes read so far (CSV and JSON lines), over all files in order."""

    def column_names(self) -> list[str]:
        """The first file's columns, in file order."""
        path = self.files[0]
        if self.format == "parquet":
            with self.filesystem.open_input_file(path) as file:
                return list(pq.ParquetFile(file).schema_arrow.names)
        if self.format == "csv":
            with self.filesystem.open_input_stream(path) as stream:
                return list(pacsv.open_csv(stream).schema.names)
        if self.format == "npy":
            return [NPY_COLUMN]
        if self.format == "npz":
            with self.filesystem.open_input_file(path) as file, np.load(file) as archive:
                return list(archive.files)
        first = next(iter(self.chunks(0, text_columns=())), None)
        return list(first.table.column_names) if first is not None else []

    def total_rows(self) -> int | None:
        """Every file's row count where the format keeps it in metadata (Parquet), else None."""
        if self.format != "parquet":
            return None
        total = 0
        for path in self.files:
            with self.filesystem.open_input_file(path) as file:
                total += pq.ParquetFile(file).metadata.num_rows
        return total

    def chunks(self, file_index: int, text_columns: tuple[str, ...]) -> Iterator[Chunk]:
        """The chunks of one file, in order; `text_columns` are read as text (CSV)."""
        path = self.files[file_index]
        base = sum(self.sizes[p] for p in self.files[:file_index])
        if self.format == "parquet":
            tables = self._parquet(path)
        elif self.format == "csv":
            tables = self._csv(path, text_columns, base)
        elif self.format in ("npy", "npz"):
            tables = self._arrays(path)
        else:
            yield from self._json_lines(file_index, path, base)
            return
        yield from _numbered(file_index, _rebatch(tables, self.chunk_rows))

    def _parquet(self, path: str) -> Iterator[pa.Table]:
        with self.filesystem.open_input_file(path) as file:
            # pre_buffer (pyarrow's default) caches every column chunk read so far until the
            # file is closed: memory would grow with the file instead of the chunk.
            reader = pq.ParquetFile(file, pre_buffer=False)
            for batch in reader.iter_batches(batch_size=self.chunk_rows):
                yield pa.Table.from_batches([batch])

    def _csv(self, path: str, text_columns: tuple[str, ...], base: int) -> Iterator[pa.Table]:
        convert = pacsv.ConvertOptions(
            column_types={c: pa.string() for c in text_columns}, strings_can_be_null=True
        )
        with self.filesystem.open_input_file(path) as file:  # seekable: tell() says how far
            reader = pacsv.open_csv(file, convert_options=convert)
            for batch in reader:
                self.bytes_done = base + file.tell()
                yield pa.Table.from_batches([batch])
        self.bytes_done = base + self.sizes[path]

    def _arrays(self, path: str) -> Iterator[pa.Table]:
        arrays: dict[str, np.ndarray]
        if self.format == "npy" and isinstance(self.filesystem, pafs.LocalFileSystem):
            # Memory-mapped: a chunk's rows are paged in when it is converted, never the file.
            arrays = {NPY_COLUMN: np.load(path, mmap_mode="r")}
        else:
            with self.filesystem.open_input_file(path) as file:
                if self.format == "npy":
                    arrays = {NPY_COLUMN: np.load(file)}
                else:
                    with np.load(file) as archive:
                        arrays = {name: archive[name] for name in archive.files}
        lengths = {name: len(a) for name, a in arrays.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"{path}: arrays of different lengths {lengths}")
        rows = next(iter(lengths.values()), 0)
        for start in range(0, rows, self.chunk_rows):
            stop = min(rows, start + self.chunk_rows)
            yield pa.table({n: _column(a[start:stop]) for n, a in arrays.items()})

    def _json_lines(self, file_index: int, path: str, base: int) -> Iterator[Chunk]:
        index = 0
        lines: list[bytes] = []
        self.bytes_done = base
        with self.filesystem.open_input_stream(path) as stream:
            for line in _lines(stream):
                self.bytes_done += len(line) + 1
                if line.strip():
                    lines.append(line)
                if len(lines) == self.chunk_rows:
                    yield _json_chunk(file_index, index, self.chunk_rows, lines, last=False)
                    index += 1
                    lines = []
        self.bytes_done = base + self.sizes[path]
        if lines or index == 0:
            yield _json_chunk(file_index, index, self.chunk_rows, lines, last=True)
        else:
            # The file ended exactly on a chunk boundary: an empty last chunk marks its end.
            yield Chunk(file_index, index, index * self.chunk_rows, pa.table({}), last=True)


def _format_of(name: str) -> str:
    lower = name.lower()
    for ending, fmt in EXTENSIONS.items():
        if lower.endswith(ending):
            return fmt
    return ""


def _rebatch(tables: Iterator[pa.Table], rows: int) -> Iterator[pa.Table]:
    pending: list[pa.Table] = []
    held = 0
    for table in tables:
        while table.num_rows:
            take = min(rows - held, table.num_rows)
            pending.append(table.slice(0, take))
            held += take
            table = table.slice(take)
            if held == rows:
                yield pa.concat_tables(pending).combine_chunks()
                pending, held = [], 0
    if held or not pending:
        yield pa.concat_tables(pending).combine_chunks() if pending else pa.table({})


def _numbered(file_index: int, tables: Iterator[pa.Table]) -> Iterator[Chunk]:
    first_row = 0
    previous: Chunk | None = None
    for index, table in enumerate(tables):
        if previous is not None:
            yield previous
        previous = Chunk(file_index, index, first_row, table)
        first_row += table.num_rows
    if previous is not None:
        previous.last = True
        yield previous


def _json_chunk(
    file_index: int, index: int, chunk_rows: int, lines: list[bytes], *, last: bool
) -> Chunk:
    chunk = Chunk(file_index, index, index * chunk_rows, pa.table({}), last=last)
    if not lines:
        return chunk
    try:
        chunk.table = pajson.read_json(io.BytesIO(b"\n".join(lines)))
        return chunk
    except pa.ArrowInvalid:
        pass
    rows: list[dict[str, object]] = []
    for i, line in enumerate(lines):
        try:
            value = json.loads(line)
        except ValueError as exc:
            chunk.broken.append((i, f"malformed JSON: {exc}", line.decode("utf-8", "replace")))
            continue
        if not isinstance(value, dict):
            chunk.broken.append((i, "a JSON line is an object", line.decode("utf-8", "replace")))
            continue
        rows.append(value)
    chunk.table = _mixed_table(rows)
    return chunk


def _mixed_table(rows: list[dict[str, object]]) -> pa.Table:
    # Rows pyarrow would not type as one table: a column whose values do not share a type is
    # kept as their JSON text, which columns.py converts (and rejects) value by value.
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    columns = {}
    for name in names:
        values = [row.get(name) for row in rows]
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns[name] = pa.array(
                [v if v is None or isinstance(v, str) else json.dumps(v) for v in values],
                pa.string(),
            )
    return pa.table(columns) if columns else pa.table({"": pa.nulls(len(rows))})


def _lines(stream: pa.NativeFile) -> Iterator[bytes]:
    rest = b""
    while True:
        block = stream.read(_LINE_BLOCK_BYTES)
        if not block:
            break
        parts = (rest + block).split(b"\n")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def _column(array: np.ndarray) -> pa.Array:
    if array.ndim == 1:
        return pa.array(array)
    width = int(np.prod(array.shape[1:]))
    flat = pa.array(np.ascontiguousarray(array).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, width)
