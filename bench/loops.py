"""The load loops: closed loop (fixed concurrency) and open loop (fixed arrival rate).

Each loop sends pre-encoded payloads through a ``call`` until ``stop`` is set and reports every
completion to a Recorder. Open-loop latency runs from each request's *intended* send time, so a
server (or generator) that falls behind shows its queueing instead of hiding it.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Awaitable, Callable, Sequence
from time import perf_counter_ns
from typing import Any

from bench.http_client import HttpStatusError
from bench.recorder import Recorder
from naiad_client import InferenceServerError


def status_name(error: BaseException) -> str:
    """How an error is counted: its gRPC status name or HTTP_<status>, else its exception
    type."""
    if isinstance(error, InferenceServerError):
        return error.status.name
    if isinstance(error, HttpStatusError):
        return f"HTTP_{error.status}"
    return type(error).__name__


async def closed_async(
    call: Callable[[Any], Awaitable[Any]],
    payloads: Sequence[Any],
    concurrency: int,
    recorder: Recorder,
    stop: threading.Event,
) -> None:
    """``concurrency`` coroutines, each sending its next request when the last one returns."""

    async def user(first: int) -> None:
        i = first
        while not stop.is_set():
            payload = payloads[i % len(payloads)]
            i += concurrency
            start = perf_counter_ns()
            try:
                await call(payload)
            except Exception as error:  # noqa: BLE001 - every failure is counted, none is fatal
                recorder.error(status_name(error))
                # A call can fail before it awaits anything (a broken stream); yield anyway.
                await asyncio.sleep(0)
                continue
            recorder.ok(perf_counter_ns() - start)

    await asyncio.gather(*(user(k) for k in range(concurrency)))


def closed_threads(
    call: Callable[[Any], Any],
    payloads: Sequence[Any],
    concurrency: int,
    recorder: Recorder,
    stop: threading.Event,
) -> None:
    """The closed loop with blocking calls, one thread per concurrent request."""

    def user(first: int) -> None:
        i = first
        while not stop.is_set():
            payload = payloads[i % len(payloads)]
            i += concurrency
            start = perf_counter_ns()
            try:
                call(payload)
            except Exception as error:  # noqa: BLE001
                recorder.error(status_name(error))
                continue
            recorder.ok(perf_counter_ns() - start)

    threads = [threading.Thread(target=user, args=(k,), daemon=True) for k in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def arrival_gaps(rate: float, arrival: str, seed: int) -> Callable[[], int]:
    """Next inter-arrival gap in ns: fixed 1/rate, or exponential (Poisson arrivals)."""
    if arrival == "constant":
        gap = int(1e9 / rate)
        return lambda: gap
    rng = random.Random(seed)
    return lambda: int(rng.expovariate(rate) * 1e9)


async def open_async(
    call: Callable[[Any], Awaitable[Any]],
    payloads: Sequence[Any],
    rate: float,
    arrival: str,
    recorder: Recorder,
    stop: threading.Event,
    seed: int = 0,
    offset_s: float = 0.0,
    max_inflight: int = 4096,
    drain_s: float = 5.0,
) -> None:
    """Sends at ``rate`` per second on a schedule fixed in advance, whatever the answers do."""
    next_gap = arrival_gaps(rate, arrival, seed)
    slots = asyncio.Semaphore(max_inflight)
    inflight: set[asyncio.Task[None]] = set()

    async def one(payload: Any, intended_ns: int) -> None:
        try:
            recorder.lag(perf_counter_ns() - intended_ns)
            await call(payload)
            recorder.ok(perf_counter_ns() - intended_ns)
        except Exception as error:  # noqa: BLE001
            recorder.error(status_name(error))
        finally:
            slots.release()

    intended = perf_counter_ns() + int(offset_s * 1e9)
    i = 0
    while not stop.is_set():
        wait_ns = intended - perf_counter_ns()
        if wait_ns > 0:
            await asyncio.sleep(wait_ns / 1e9)
            continue
        # At the in-flight cap the send waits, but its latency still starts at ``intended``.
        if slots.locked():
            recorder.capped()
        await slots.acquire()
        task = asyncio.ensure_future(one(payloads[i % len(payloads)], intended))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
        i += 1
        intended += next_gap()
        # Behind schedule the loop never sleeps; yielding lets the sent requests progress.
        await asyncio.sleep(0)
    if inflight:
        await asyncio.wait(inflight, timeout=drain_s)
        for task in inflight:
            task.cancel()
