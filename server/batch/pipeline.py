"""Reading, computing and writing a job's chunks at the same time, in bounded memory.

Three stages joined by bounded queues: a reader (on a worker thread: read, then convert the
columns and find bad rows), the compute stage (on the event loop: a chunk's requests go to the
runner as soon as it arrives, while the previous chunk's are still being answered), and a
writer (on a worker thread: write the part file and the rejects, then commit the manifest).
At most `depth` chunks wait between two stages, so memory holds about 2 * depth + 3 chunks
whatever the input's size. Chunks are committed in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from naiad.batch import columns, output
from naiad.batch.manifest import PART_PREFIX, Checkpoint, ChunkRecord
from naiad.batch.progress import Progress
from naiad.batch.runner import ChunkRunner
from naiad.batch.signature import Signature
from naiad.batch.source import Chunk, Source
from naiad.batch.spec import BatchJob
from naiad.batch.store import Folder


class StrictStop(Exception):
    """--strict and a bad row: the job stops; what was committed before it stays."""


@dataclass
class Prepared:
    chunk: Chunk
    inputs: dict[str, np.ndarray]
    kept: pa.Table
    """The good rows' kept columns."""
    rejects: list[tuple[int, str, Any]]
    """(row within the chunk, reason, the row's values)."""
    rows: int
    """Good rows: those the model answers."""


class Pipeline:
    def __init__(
        self,
        job: BatchJob,
        source: Source,
        bindings: list[columns.Binding],
        runner: ChunkRunner,
        checkpoint: Checkpoint,
        progress: Progress,
        *,
        depth: int = 2,
    ) -> None:
        self._job = job
        self._source = source
        self._bindings = bindings
        self._runner = runner
        self._signature: Signature = runner.signature
        self._checkpoint = checkpoint
        self._progress = progress
        self._depth = depth
        self._output = Folder.at(job.output)
        self._rejects = Folder.at(job.rejects_location)
        self._text = columns.text_columns(bindings) if source.format == "csv" else ()

    async def run(self) -> None:
        """Processes every chunk not yet committed; raises StrictStop or the first error."""
        prepared: asyncio.Queue[Prepared | None] = asyncio.Queue(self._depth)
        computing: asyncio.Queue[tuple[Prepared, asyncio.Task[Any]] | None] = asyncio.Queue(
            self._depth
        )
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._read(prepared))
                group.create_task(self._compute(prepared, computing))
                group.create_task(self._write(computing))
        except BaseExceptionGroup as failed:
            # One stage failed and the others were cancelled: its error is the job's.
            raise _first(failed) from None

    async def _read(self, out: asyncio.Queue[Prepared | None]) -> None:
        chunks = self._pending_chunks()
        while True:
            item = await asyncio.to_thread(self._next_prepared, chunks)
            await out.put(item)
            if item is None:
                return

    async def _compute(
        self,
        source: asyncio.Queue[Prepared | None],
        out: asyncio.Queue[tuple[Prepared, asyncio.Task[Any]] | None],
    ) -> None:
        while (item := await source.get()) is not None:
            task = asyncio.ensure_future(self._runner.run(item.inputs, item.rows))
            await out.put((item, task))
        await out.put(None)

    async def _write(
        self, source: asyncio.Queue[tuple[Prepared, asyncio.Task[Any]] | None]
    ) -> None:
        while (entry := await source.get()) is not None:
            item, task = entry
            outputs = await task
            written = await asyncio.to_thread(self._commit, item, outputs)
            chunk = item.chunk
            self._progress.advance(chunk.num_rows, written, len(item.rejects), chunk.bytes_done)

    def _pending_chunks(self) -> Iterator[Chunk]:
        manifest = self._checkpoint.manifest
        for file_index in range(len(self._source.files)):
            if self._checkpoint.file_done(file_index):
                prefix = f"{file_index:05d}-"
                self._progress.skipped(
                    sum(r.rows for n, r in manifest.chunks.items() if n.startswith(prefix))
                )
                continue
            for chunk in self._source.chunks(file_index, self._text):
                if self._checkpoint.committed(chunk.name):
                    self._progress.skipped(chunk.num_rows)
                    continue
                yield chunk

    def _next_prepared(self, chunks: Iterator[Chunk]) -> Prepared | None:
        chunk = next(chunks, None)
        if chunk is None:
            return None
        chunk.bytes_done = self._source.bytes_done
        table = chunk.table
        if table.num_rows == 0:
            return Prepared(chunk, {}, pa.table({}), self._broken(chunk), 0)
        converted = columns.convert(table, self._bindings)
        kept_names = list(self._job.keep_columns)
        kept = table.select(kept_names)
        rejects = self._broken(chunk)
        if converted.good is not None:
            kept = kept.filter(pa.array(converted.good))
            rows_in_chunk = _table_rows(chunk)
            for row, reason in sorted(converted.reasons.items()):
                values = table.slice(row, 1).to_pylist()[0]
                rejects.append((rows_in_chunk[row], reason, values))
            rejects.sort(key=lambda r: r[0])
        if rejects and self._job.strict:
            row, reason, _ = rejects[0]
            where = self._source.files[chunk.file_index]
            raise StrictStop(f"row {chunk.first_row + row} of {where}: {reason} (--strict)")
        rows = table.num_rows - len(converted.reasons)
        return Prepared(chunk, converted.inputs, kept, rejects, rows)

    def _broken(self, chunk: Chunk) -> list[tuple[int, str, Any]]:
        return [(row, reason, text) for row, reason, text in chunk.broken]

    def _commit(self, item: Prepared, outputs: dict[str, np.ndarray]) -> int:
        chunk = item.chunk
        written = 0
        if item.rows:
            table = output.output_table(item.kept, outputs, self._signature)
            written = table.num_rows
            if written:
                fmt = self._job.output_format
                name = f"{PART_PREFIX}{chunk.name}{output.extension(fmt)}"
                self._output.write_atomic(name, lambda f: output.write(table, fmt, f))
        if item.rejects:
            data = output.reject_lines(
                self._source.files[chunk.file_index], chunk.first_row, item.rejects
            )
            self._rejects.write_atomic(f"{PART_PREFIX}{chunk.name}.jsonl", lambda f: f.write(data))
        record = ChunkRecord(chunk.num_rows, written, len(item.rejects))
        self._checkpoint.commit(
            chunk.name, record, last_of_file=chunk.file_index if chunk.last else None
        )
        return written


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    error = group.exceptions[0]
    return _first(error) if isinstance(error, BaseExceptionGroup) else error


def _table_rows(chunk: Chunk) -> list[int]:
    """Chunk row of each table row (they differ when JSON lines could not be parsed)."""
    if not chunk.broken:
        return list(range(chunk.table.num_rows))
    broken = {row for row, _, _ in chunk.broken}
    return [row for row in range(chunk.num_rows) if row not in broken]
