"""Load-generator processes and the pool that drives them window by window.

Each worker runs one load loop on a background thread and answers the coordinator's "collect"
(hand over the window recorded so far) and "stop" over a pipe. Workers are separate processes
so load generation never shares a GIL with the coordinator, and several can spread the load.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import multiprocessing
import os
import threading
import traceback
from dataclasses import dataclass
from typing import Any

from bench import event_loop, http_client, loops, security
from bench.recorder import Recorder, Window
from naiad_client import AsyncClient, Client

STOP_GRACE_S = 10.0


@dataclass
class Job:
    """What one worker process sends, where, and how fast."""

    engine: str
    """"sync", "async", "stream" (to ``url``), or "inprocess" (ONNX Runtime)."""
    payloads: list[Any]
    """Serialized requests (gRPC), whole HTTP requests (http), or feed dicts (inprocess)."""
    url: str | None = None
    onnx_path: str | None = None
    concurrency: int = 1
    rate: float | None = None
    """Requests per second for an open loop; None means closed loop at ``concurrency``."""
    arrival: str = "constant"
    seed: int = 0
    offset_s: float = 0.0
    max_inflight: int = 4096
    timeout_s: float | None = None
    access: security.Access = security.PLAIN
    """TLS root and token for the gRPC engines' channel and calls (http payloads carry the
    token already; the TLS root still comes from here)."""
    protocol: str = "grpc"
    """"grpc" (naiad_client over grpcio) or "http" (bench.http_client, sync and async)."""
    connections: int = 1
    """gRPC connections (async and stream engines); see LoadSpec.connections."""


OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]
"""Without it, grpc gives channels to the same address one shared connection."""


async def _run_async(job: Job, recorder: Recorder, stop: threading.Event) -> None:
    if job.connections <= 1:
        async with AsyncClient(job.url or "", **job.access.client_args()) as client:
            await _drive_client(client, job, recorder, stop)
        return
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                AsyncClient(
                    job.url or "", channel_options=OWN_CONNECTION, **job.access.client_args()
                )
            )
            for _ in range(job.connections)
        ]
        if job.engine == "stream":
            sessions = [await stack.enter_async_context(c.stream()) for c in clients]
            await _drive(_in_turn([s.send for s in sessions]), job, recorder, stop)
            for session in sessions:
                session.cancel()
        else:
            calls = [functools.partial(c.infer_prepared, timeout_s=job.timeout_s) for c in clients]
            await _drive(_in_turn(calls), job, recorder, stop)


def _in_turn(calls: list[Any]) -> Any:
    turn = itertools.cycle(calls)

    def call(payload: Any) -> Any:
        return next(turn)(payload)

    return call


async def _drive_client(
    client: AsyncClient, job: Job, recorder: Recorder, stop: threading.Event
) -> None:
    if job.engine == "stream":
        async with client.stream() as session:
            await _drive(session.send, job, recorder, stop)
            session.cancel()
    else:
        call = functools.partial(client.infer_prepared, timeout_s=job.timeout_s)
        await _drive(call, job, recorder, stop)


async def _drive(call: Any, job: Job, recorder: Recorder, stop: threading.Event) -> None:
    if job.rate is None:
        await loops.closed_async(call, job.payloads, job.concurrency, recorder, stop)
    else:
        await loops.open_async(
            call,
            job.payloads,
            job.rate,
            job.arrival,
            recorder,
            stop,
            seed=job.seed,
            offset_s=job.offset_s,
            max_inflight=job.max_inflight,
        )


async def _run_http_async(job: Job, recorder: Recorder, stop: threading.Event) -> None:
    tls = http_client.client_tls(job.access.root_certificates)
    client = http_client.AsyncHttpClient(job.url or "", tls, job.timeout_s)
    try:
        await _drive(client.post, job, recorder, stop)
    finally:
        await client.close()


def _run_http_sync(job: Job, recorder: Recorder, stop: threading.Event) -> None:
    tls = http_client.client_tls(job.access.root_certificates)
    client = http_client.SyncHttpClient(job.url or "", tls, job.timeout_s)
    try:
        loops.closed_threads(client.post, job.payloads, job.concurrency, recorder, stop)
    finally:
        client.close()


def run_load(job: Job, recorder: Recorder, stop: threading.Event) -> None:
    """Runs ``job`` until ``stop`` is set; a crash is recorded as the recorder's ``fatal``."""
    try:
        if job.protocol == "http" and job.engine == "async":
            event_loop.run(_run_http_async(job, recorder, stop))
        elif job.protocol == "http" and job.engine == "sync":
            _run_http_sync(job, recorder, stop)
        elif job.protocol == "http":
            raise ValueError(f"http has no {job.engine!r} mode")
        elif job.engine in ("async", "stream"):
            event_loop.run(_run_async(job, recorder, stop))
        elif job.engine == "sync":
            with Client(job.url or "", **job.access.client_args()) as client:
                call = functools.partial(client.infer_prepared, timeout_s=job.timeout_s)
                loops.closed_threads(call, job.payloads, job.concurrency, recorder, stop)
        elif job.engine == "inprocess":
            from bench.ort import InprocessRunner  # onnxruntime loads in in-process workers only

            runner = InprocessRunner(job.onnx_path or "")
            loops.closed_threads(runner, job.payloads, job.concurrency, recorder, stop)
        else:
            raise ValueError(f"unknown engine {job.engine!r}")
    except BaseException:  # noqa: BLE001 - reported to the coordinator, which raises it
        recorder.fatal = traceback.format_exc()


def worker_main(job: Job, conn: Any) -> None:
    recorder = Recorder()
    stop = threading.Event()
    thread = threading.Thread(target=run_load, args=(job, recorder, stop), daemon=True)
    thread.start()
    conn.send("started")
    while True:
        command = conn.recv()
        if command == "collect":
            conn.send(recorder.snapshot())
        elif command == "stop":
            stop.set()
            thread.join(STOP_GRACE_S + (job.timeout_s or 0))
            conn.send(recorder.snapshot())
            break
    conn.close()
    # Skips interpreter teardown: a load thread still waiting on a stuck server must not hang us.
    os._exit(0)


class WorkerPool:
    """Starts one process per job; ``collect`` returns each one's latest Window."""

    def __init__(self, jobs: list[Job], start_timeout_s: float = 120.0) -> None:
        context = multiprocessing.get_context("spawn")
        self._conns = []
        self._processes = []
        for job in jobs:
            parent, child = context.Pipe()
            process = context.Process(target=worker_main, args=(job, child), daemon=True)
            process.start()
            child.close()
            self._conns.append(parent)
            self._processes.append(process)
        for conn in self._conns:
            if not conn.poll(start_timeout_s):
                self.close()
                raise RuntimeError("a load-generator process did not start")
            conn.recv()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes if p.pid is not None]

    def _ask(self, command: str) -> list[Window]:
        for conn in self._conns:
            conn.send(command)
        windows = [conn.recv() for conn in self._conns]
        for window in windows:
            if window.fatal:
                raise RuntimeError(f"load generator failed:\n{window.fatal}")
        return windows

    def collect(self) -> list[Window]:
        """Each process's window since the last collection."""
        return self._ask("collect")

    def stop(self) -> list[Window]:
        """Stops the load and returns the last windows."""
        windows = self._ask("stop")
        self.close()
        return windows

    def close(self) -> None:
        for process in self._processes:
            process.join(STOP_GRACE_S)
            if process.is_alive():
                process.kill()
                process.join()
        for conn in self._conns:
            conn.close()
        self._processes, self._conns = [], []

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        # After a failure the workers may still be sending; drain them so none blocks on a pipe.
        for conn in self._conns:
            try:
                conn.send("stop")
                while conn.poll(STOP_GRACE_S) and conn.recv() == "started":
                    pass
            except (OSError, EOFError):
                pass
        self.close()
