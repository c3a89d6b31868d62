"""One job on this machine: the engine (or a server at --url), the input, the checkpoint and
the pipeline, put together; what `naiad batch` without --ray runs."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TextIO

from naiad.batch import columns, output
from naiad.batch.manifest import Checkpoint
from naiad.batch.pipeline import Pipeline
from naiad.batch.progress import Progress
from naiad.batch.runner import ChunkRunner, EngineRunner, RemoteRunner
from naiad.batch.signature import Signature, from_model_config
from naiad.batch.source import Source
from naiad.batch.spec import BatchJob
from naiad.batch.store import Folder
from naiad.engine.context import INTERNAL
from naiad.engine.engine import Engine
from naiad.engine.loader import gpu_available, load_served_model
from naiad.errors import NaiadError
from naiad.repository.manager import ModelRepository
from naiad_protocol.model_config_pb2 import ModelConfig

log = logging.getLogger("naiad.batch")


def run_job(
    job: BatchJob, stream: TextIO | None = None, clock: Callable[[], float] | None = None
) -> dict[str, Any]:
    """Runs (or resumes) `job` to the end and returns its summary.

    Raises ValueError for a job that cannot run as given (input, mapping, output folder),
    NaiadError when the model cannot be loaded or answers with an error, and
    pipeline.StrictStop for a bad row under --strict.
    """
    from naiad import event_loop

    return event_loop.run(_run(job, stream or sys.stderr, clock))


async def _run(job: BatchJob, stream: TextIO, clock: Callable[[], float] | None) -> dict[str, Any]:
    source = await asyncio.to_thread(Source, job.input, job.input_format, job.chunk_rows)
    names = await asyncio.to_thread(source.column_names)
    async with open_runner(job) as runner:
        bindings = columns.bind(runner.signature, names, job.mapping, job.keep_columns)
        output.output_names(runner.signature, job.keep_columns)
        files = [[path, source.sizes[path]] for path in source.files]
        checkpoint = await asyncio.to_thread(
            Checkpoint,
            Folder.at(job.output),
            Folder.at(job.rejects_location),
            job.fingerprint(),
            files,
            overwrite=job.overwrite,
        )
        if checkpoint.manifest.done:
            log.info("%s is complete already (--overwrite runs the job again)", job.output)
            return dict(checkpoint.manifest.summary)
        if checkpoint.resumed:
            log.info(
                "resuming %s: %d chunk(s) already committed",
                job.output,
                len(checkpoint.manifest.chunks),
            )
        total = await asyncio.to_thread(source.total_rows)
        progress = Progress(
            total,
            stream,
            total_bytes=source.total_bytes if total is None else None,
            **({"clock": clock} if clock else {}),
        )
        try:
            await Pipeline(job, source, bindings, runner, checkpoint, progress).run()
        finally:
            progress.close()
        summary: dict[str, Any] = progress.summary()
        await asyncio.to_thread(checkpoint.finish, summary)
        return summary


@asynccontextmanager
async def open_runner(job: BatchJob) -> AsyncIterator[ChunkRunner]:
    """The runner of `job`: a local engine over the repository, or a client of --url."""
    if job.url:
        async with _remote(job) as runner:
            yield runner
        return
    repository = ModelRepository(
        job.model_repository,
        factory=load_served_model,
        control_mode="explicit",
        startup_models=(job.model,),
        poll_interval_s=None,
        gpu_available=gpu_available(),
    )
    await asyncio.to_thread(repository.start)
    engine = Engine(repository)
    engine.accept(True)
    try:
        try:
            config = engine.config(job.model, job.model_version, INTERNAL)
        except NaiadError as exc:
            reasons = [e.reason for e in repository.index(scan=False) if e.reason]
            raise NaiadError(f"{exc}{': ' + '; '.join(reasons) if reasons else ''}") from None
        signature = from_model_config(config)
        rows, in_flight = _sizes(job, signature, config)
        yield EngineRunner(engine, signature, job.model_version, rows, in_flight)
    finally:
        engine.accept(False)
        await asyncio.to_thread(repository.stop)


@asynccontextmanager
async def _remote(job: BatchJob) -> AsyncIterator[ChunkRunner]:
    from naiad_client.aio import AsyncClient
    from naiad_client.errors import InferenceServerError

    client = AsyncClient(job.url)
    try:
        try:
            config = await client.model_config(job.model, job.model_version)
        except InferenceServerError as exc:
            raise NaiadError(f"{job.url}: {exc}") from None
        signature = from_model_config(config)
        rows, in_flight = _sizes(job, signature, config)
        runner = RemoteRunner(client, signature, job.model_version, rows, in_flight)
        yield runner
    finally:
        await client.close()


def _sizes(job: BatchJob, signature: Signature, config: ModelConfig) -> tuple[int, int]:
    limit = signature.rows_per_request
    rows = job.batch_size or limit
    if rows > limit:
        raise ValueError(
            f"--batch-size {rows}: model '{signature.name}' takes at most {limit} rows a request"
        )
    instances = sum(max(1, g.count) for g in config.instance_group) or 1
    # Each instance runs one batch and finds the next ones queued behind it.
    in_flight = job.max_in_flight or max(8, 4 * instances * max(1, limit // rows))
    return rows, in_flight
