"""The one load generator: closed loop over raw asyncio streams, one keep-alive HTTP/1.1
connection per concurrent caller, one request in flight per connection (no pipelining), the
same pre-encoded request bytes every time. Completions are timestamped and cut into windows
afterwards, so the warm-up and the windows are one continuous run."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from bench.http_stacks import payload


class ProtocolError(Exception):
    """The server answered something the generator does not accept (status, framing)."""


def parse_head(head: bytes) -> tuple[int, int]:
    """Status and Content-Length of a response head (ending in a blank line). A chunked or
    unframed response raises ProtocolError: every candidate must send Content-Length."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ProtocolError(f"not an HTTP/1.x status line: {lines[0]!r}")
    status = int(parts[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            raise ProtocolError("chunked response; candidates must send Content-Length")
    if length is None:
        raise ProtocolError("response without Content-Length")
    return status, length


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status, length = parse_head(head)
    return status, await reader.readexactly(length)


@dataclass
class Plan:
    warmup_s: float = 1.0
    windows: int = 3
    window_s: float = 3.0

    @property
    def total_s(self) -> float:
        return self.warmup_s + self.windows * self.window_s


@dataclass
class LevelResult:
    concurrency: int
    window_rates: list[float] = field(default_factory=list)
    """Completed requests per second in each measured window."""
    latencies_ms: list[float] = field(default_factory=list)
    """Latency of every request that completed inside a measured window."""


def cut_windows(
    samples: list[tuple[float, float]], start: float, plan: Plan, concurrency: int
) -> LevelResult:
    """Bucket (completion time, latency s) samples into the plan's windows after the warm-up."""
    result = LevelResult(concurrency)
    counts = [0] * plan.windows
    first = start + plan.warmup_s
    for done, latency in samples:
        index = int((done - first) // plan.window_s)
        if 0 <= index < plan.windows:
            counts[index] += 1
            result.latencies_ms.append(latency * 1000.0)
    result.window_rates = [n / plan.window_s for n in counts]
    return result


async def _caller(
    host: str,
    port: int,
    request: bytes,
    stop_at: float,
    samples: list[tuple[float, float]],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    clock = time.perf_counter
    try:
        while True:
            sent = clock()
            if sent >= stop_at:
                return
            writer.write(request)
            status, _ = await read_response(reader)
            done = clock()
            if status != 200:
                raise ProtocolError(f"infer answered {status}")
            samples.append((done, done - sent))
    finally:
        writer.close()


async def measure_level(host: str, port: int, concurrency: int, plan: Plan) -> LevelResult:
    request = payload.infer_request(host, port, payload.request_body())
    samples: list[tuple[float, float]] = []
    start = time.perf_counter()
    stop_at = start + plan.total_s
    await asyncio.gather(
        *(_caller(host, port, request, stop_at, samples) for _ in range(concurrency))
    )
    return cut_windows(samples, start, plan, concurrency)


async def check_once(host: str, port: int) -> bytes:
    """One infer call; its body, which the caller compares with the fixed response."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(payload.infer_request(host, port, payload.request_body()))
        status, body = await read_response(reader)
    finally:
        writer.close()
    if status != 200:
        raise ProtocolError(f"infer answered {status}")
    return body


async def wait_ready(host: str, port: int, timeout_s: float, alive: object = None) -> None:
    """Poll GET /v2/health/ready until 200; TimeoutError after timeout_s. ``alive`` is an
    optional callable that returns False once the server process has died."""
    deadline = time.monotonic() + timeout_s
    while True:
        if callable(alive) and not alive():
            raise RuntimeError("server exited before it was ready")
        try:
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(payload.ready_request(host, port))
                status, _ = await read_response(reader)
            finally:
                writer.close()
            if status == 200:
                return
        except (OSError, asyncio.IncompleteReadError, ProtocolError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"not ready on {host}:{port} after {timeout_s:.0f} s")
        await asyncio.sleep(0.1)
