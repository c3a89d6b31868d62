"""The same job on a Ray cluster with Ray Data: parallel reads, an actor pool of model
instances (one ONNX Runtime session per actor, intra-op threads = the actor's CPUs, GPU actors
with --gpus-per-actor), parallel writes.

Resume on Ray works per input file rather than per chunk: Ray Data splits and orders a file's
blocks as it likes, so chunk numbers would not name the same rows twice. Each pending file is
one dataset, written into OUTPUT/_ray/<file>/; once all of it is written its part files move
into OUTPUT (as part-<file>-ray-*.parquet) and the manifest marks the file done. A killed job
loses at most the files in progress; a rerun (locally or on Ray) skips the files marked done,
and removes the part files of any file not marked done. Rejects are written by the actors to
the rejects folder, named after their file, and removed the same way.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from naiad.batch import columns, offline_model, output
from naiad.batch.manifest import PART_PREFIX, Checkpoint, ChunkRecord
from naiad.batch.pipeline import StrictStop
from naiad.batch.progress import Progress
from naiad.batch.signature import from_model_config
from naiad.batch.source import Source
from naiad.batch.spec import BatchJob
from naiad.batch.store import Folder

log = logging.getLogger("naiad.batch")
STAGING = "_ray"


@dataclass(frozen=True)
class RayOptions:
    address: str = "local"
    """A cluster address (ray://..., HOST:PORT, "auto"), or "local" to start one here."""
    num_actors: int = 0
    """Model actors; 0: the cluster's CPUs (or GPUs) divided by what one actor takes."""
    cpus_per_actor: float = 1.0
    gpus_per_actor: float = 0.0


class Predictor:
    """A Ray Data actor: one model instance; turns a block of input rows into output rows."""

    def __init__(self, job: BatchJob, bindings: list[columns.Binding], cpus: float, gpus: float):
        self._job = job
        self._bindings = bindings
        self._prepared = offline_model.prepare(
            job.model_repository, job.model, job.model_version, gpu_available=gpus > 0
        )
        self._signature = from_model_config(self._prepared.config)
        self._model = offline_model.single_instance(self._prepared, int(cpus), gpus > 0)
        self._rejects = Folder.at(job.rejects_location)

    def __call__(self, batch: pa.Table) -> pa.Table:
        path = batch.column("path")[0].as_py() if batch.num_rows else ""
        file_index = batch.column("__naiad_file")[0].as_py() if batch.num_rows else 0
        table = batch.drop_columns([c for c in ("path", "__naiad_file") if c in batch.column_names])
        converted = columns.convert(table, self._bindings)
        kept = table.select(list(self._job.keep_columns))
        if converted.good is not None:
            if self._job.strict:
                row, reason = min(converted.reasons.items())
                raise StrictStop(f"a row of {path}: {reason} (--strict)")
            kept = kept.filter(pa.array(converted.good))
            lines = [
                (row, reason, table.slice(row, 1).to_pylist()[0])
                for row, reason in sorted(converted.reasons.items())
            ]
            data = output.reject_lines(path, 0, lines)
            name = f"{PART_PREFIX}{file_index:05d}-ray-{uuid.uuid4().hex[:12]}.jsonl"
            self._rejects.write_atomic(name, lambda f: f.write(data))
        rows = table.num_rows - len(converted.reasons)
        outputs = offline_model.run_rows(self._model, self._prepared, converted.inputs, rows)
        result = output.output_table(kept, outputs, self._signature)
        if self._job.output_format == "csv":
            result = output.flat_columns(result)
        return result


def run_on_ray(job: BatchJob, options: RayOptions) -> dict[str, Any]:
    """Runs (or resumes) `job` on Ray; returns its summary like local.run_job."""
    import ray

    source = Source(job.input, job.input_format, job.chunk_rows)
    if source.format not in ("parquet", "csv", "jsonl"):
        raise ValueError(f"--ray reads parquet, csv and jsonl inputs, not {source.format}")
    prepared = offline_model.prepare(job.model_repository, job.model, job.model_version)
    signature = from_model_config(prepared.config)
    bindings = columns.bind(signature, source.column_names(), job.mapping, job.keep_columns)
    output.output_names(signature, job.keep_columns)
    out = Folder.at(job.output)
    rejects = Folder.at(job.rejects_location)
    files = [[path, source.sizes[path]] for path in source.files]
    checkpoint = Checkpoint(out, rejects, job.fingerprint(), files, overwrite=job.overwrite)
    if checkpoint.manifest.done:
        return dict(checkpoint.manifest.summary)
    started_here = False
    if not ray.is_initialized():
        started_here = True
        if options.address == "local":
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=options.address, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # naiad's own progress reports the job
    progress = Progress(source.total_rows(), sys.stderr)
    try:
        for file_index, path in enumerate(source.files):
            if checkpoint.file_done(file_index):
                prefix = f"{file_index:05d}-"
                done = checkpoint.manifest.chunks
                progress.skipped(sum(r.rows for n, r in done.items() if n.startswith(prefix)))
                continue
            record = _one_file(job, options, source, bindings, out, file_index, path)
            checkpoint.commit(f"{file_index:05d}-ray", record, last_of_file=file_index)
            progress.advance(record.rows, record.written, record.rejected)
    except Exception as exc:
        strict = _strict_stop(exc)
        if strict is not None:
            raise strict from None
        raise
    finally:
        progress.close()
        if started_here:
            ray.shutdown()
    _clear(Folder(out.filesystem, f"{out.root}/{STAGING}"))
    summary: dict[str, Any] = progress.summary()
    checkpoint.finish(summary)
    return summary


def _one_file(
    job: BatchJob,
    options: RayOptions,
    source: Source,
    bindings: list[columns.Binding],
    out: Folder,
    file_index: int,
    path: str,
) -> ChunkRecord:
    import ray

    staging = Folder(out.filesystem, f"{out.root}/{STAGING}/{file_index:05d}")
    _clear(staging)
    staging.make()
    fs = source.filesystem
    if source.format == "parquet":
        dataset = ray.data.read_parquet(path, filesystem=fs, include_paths=True)
    elif source.format == "csv":
        import pyarrow.csv as pacsv

        text = {c: pa.string() for c in columns.text_columns(bindings)}
        convert = pacsv.ConvertOptions(column_types=text, strings_can_be_null=True)
        dataset = ray.data.read_csv(
            path, filesystem=fs, include_paths=True, convert_options=convert
        )
    else:
        dataset = ray.data.read_json(path, filesystem=fs, include_paths=True, lines=True)
    dataset = dataset.map_batches(
        lambda b: b.append_column("__naiad_file", pa.array([file_index] * b.num_rows, pa.int32())),
        batch_format="pyarrow",
    )
    actors = options.num_actors or _default_actors(options)
    predicted = dataset.map_batches(
        Predictor,
        fn_constructor_kwargs={
            "job": job,
            "bindings": bindings,
            "cpus": options.cpus_per_actor,
            "gpus": options.gpus_per_actor,
        },
        batch_size=max(1, job.batch_size or 4096),
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=options.cpus_per_actor,
        num_gpus=options.gpus_per_actor or None,
    )
    target = staging.root
    if job.output_format == "parquet":
        predicted.write_parquet(target, filesystem=out.filesystem)
    elif job.output_format == "csv":
        predicted.write_csv(target, filesystem=out.filesystem)
    else:
        predicted.write_json(target, filesystem=out.filesystem)
    written = 0
    for name in staging.names():
        final = f"{PART_PREFIX}{file_index:05d}-ray-{name}"
        written += _rows_in(out, staging, name, job.output_format)
        out.filesystem.move(staging.path(name), out.path(final))
    _clear(staging)
    rejected = _rejects_of(Folder.at(job.rejects_location), file_index)
    return ChunkRecord(written + rejected, written, rejected)


def _rejects_of(rejects: Folder, file_index: int) -> int:
    prefix = f"{PART_PREFIX}{file_index:05d}-ray-"
    return sum(rejects.read_bytes(n).count(b"\n") for n in rejects.names() if n.startswith(prefix))


def _rows_in(out: Folder, staging: Folder, name: str, fmt: str) -> int:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with out.filesystem.open_input_file(staging.path(name)) as file:
            return int(pq.ParquetFile(file).metadata.num_rows)
    data = staging.read_bytes(name)
    lines = data.count(b"\n")
    return lines - 1 if fmt == "csv" and lines else lines


def _clear(folder: Folder) -> None:
    info = folder.filesystem.get_file_info(folder.root)
    if info.type.name == "Directory":
        folder.filesystem.delete_dir(folder.root)


def _default_actors(options: RayOptions) -> int:
    import ray

    resources = ray.cluster_resources()
    if options.gpus_per_actor > 0:
        return max(1, int(resources.get("GPU", 0) / options.gpus_per_actor))
    # One CPU stays free for the read and write tasks: actors holding every CPU would wait
    # forever for blocks nobody can read.
    cpus = resources.get("CPU", 1)
    free = cpus - 1 if cpus > 1 else cpus
    return max(1, int(free / max(options.cpus_per_actor, 0.01)))


def _strict_stop(exc: BaseException) -> StrictStop | None:
    # Ray wraps an actor's exception; --strict's message is the one the user needs.
    text = str(exc)
    marker = "(--strict)"
    if marker not in text:
        return None
    line = next((ln for ln in text.splitlines() if marker in ln), text)
    return StrictStop(line.split("StrictStop: ")[-1].strip())
