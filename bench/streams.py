"""Streaming inference from a broker: `naiad stream` (batched through the engine) vs a plain
consumer -> ONNX Runtime -> producer loop (one message per run), on each model of a scenario.

    python -m bench.streams [streams] [--scale 0.5] [--latency-s 3] [--json out.json]

Redis Streams is the broker (redis-server, started here on 127.0.0.1). For each model, each
system is started on fresh streams and measured twice, in alternating order:
- throughput: after a warm-up, a backlog of `messages` inputs is written at once; messages/s =
  inputs / (last answer's arrival - first write);
- latency: inputs at a constant rate (`rate_fraction` of the slower system's throughput) for
  `latency_s`; end-to-end = an answer's arrival - its input's scheduled send time (carried in
  a `sent_at` field both systems copy to the answer), so falling behind shows as latency.
Prints one line per (model, system) and the naiad/plain ratios.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import redis

from bench import models, scenario
from bench.stream_loop import READY as LOOP_READY

NAIAD_READY = "naiad stream ready"
SYSTEMS = ("naiad", "plain")
WARMUP = 64


@dataclass
class Measured:
    messages_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    rate: float = 0.0


@contextmanager
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("bench.streams needs redis-server (apt-get install redis-server)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="naiad-bench-redis-")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}"
    try:
        client = redis.Redis.from_url(url)
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield url
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def system(
    kind: str, url: str, spec: scenario.ModelSpec, repository: str, topics: tuple[str, str]
) -> Iterator[None]:
    source, answers = topics
    if kind == "naiad":
        command = [models.naiad_executable(), "stream", "--model-repository", repository,
                   "--model", spec.name, "--broker", url, "--input-topic", source,
                   "--output-topic", answers, "--group", "bench",
                   "--consumer", "bench"]  # fmt: skip
        ready = NAIAD_READY
    else:
        onnx = str(Path(repository) / spec.name / "1" / "model.onnx")
        command = [sys.executable, "-m", "bench.stream_loop", "--broker", url,
                   "--input-topic", source, "--output-topic", answers, "--onnx", onnx]  # fmt: skip
        ready = LOOP_READY
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith(ready):
            break
    else:
        raise SystemExit(f"{kind} did not start:\n{''.join(lines)}")
    drain = threading.Thread(target=lambda: [None for _ in process.stdout or []], daemon=True)
    drain.start()
    try:
        yield
    finally:
        process.terminate()
        process.wait(60)


class Answers:
    """Reads the answer stream, recording each answer's arrival and its input's send time."""

    def __init__(self, url: str, topic: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._topic = topic
        self._last = b"0"
        self.arrivals: list[tuple[float, float]] = []

    def until(self, count: int, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.arrivals) < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(self.arrivals)} of {count} answers arrived")
            reply: Any = self._client.xread({self._topic: self._last}, count=1000, block=100)
            now = time.time()
            for entry_id, fields in reply[0][1] if reply else []:
                self._last = entry_id
                self.arrivals.append((float(fields[b"sent_at"]), now))


def send(
    client: redis.Redis,
    topic: str,
    payloads: list[bytes],
    count: int,
    start: int,
    rate: float | None,
) -> None:
    """Writes `count` inputs: all at once (rate None) or one every 1/rate s on a fixed schedule."""
    pipe = client.pipeline(transaction=False)
    begin = time.time()
    for i in range(count):
        due = begin + i / rate if rate else time.time()
        if rate:
            wait_s = due - time.time()
            if wait_s > 0:
                time.sleep(wait_s)
        payload = payloads[(start + i) % len(payloads)]
        fields = {b"value": payload, b"sent_at": repr(due).encode()}
        if rate:
            client.xadd(topic, fields)  # type: ignore[arg-type]
        else:
            pipe.xadd(topic, fields)  # type: ignore[arg-type]
    if not rate:
        pipe.execute()


def measure(
    kind: str,
    url: str,
    spec: scenario.ModelSpec,
    repository: str,
    payloads: list[bytes],
    messages: int,
    rate: float | None,
    seconds: float,
) -> Measured:
    tag = uuid.uuid4().hex[:8]
    topics = (f"bench-in-{tag}", f"bench-out-{tag}")
    client = redis.Redis.from_url(url)
    with system(kind, url, spec, repository, topics):
        answers = Answers(url, topics[1])
        send(client, topics[0], payloads, WARMUP, 0, None)
        answers.until(WARMUP)
        answers.arrivals.clear()
        if rate is None:
            start = time.time()
            send(client, topics[0], payloads, messages, WARMUP, None)
            answers.until(messages)
            return Measured(messages_per_s=messages / (answers.arrivals[-1][1] - start))
        count = max(1, int(rate * seconds))
        sender = threading.Thread(
            target=send, args=(client, topics[0], payloads, count, WARMUP, rate), daemon=True
        )
        sender.start()
        answers.until(count)
        sender.join()
    latencies = np.array([arrived - sent for sent, arrived in answers.arrivals]) * 1000
    return Measured(
        p50_ms=float(np.percentile(latencies, 50)),
        p99_ms=float(np.percentile(latencies, 99)),
        rate=rate,
    )


def model_spec(table: dict[str, Any]) -> tuple[scenario.ModelSpec, dict[str, Any]]:
    run = {k: table.pop(k) for k in ("messages",) if k in table}
    table["hidden"] = tuple(table.get("hidden", (64,)))
    return scenario.ModelSpec(**table), run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.streams", description=__doc__)
    parser.add_argument("scenario", nargs="?", default="streams")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every message count")
    parser.add_argument("--latency-s", type=float, help="seconds of the constant-rate phase")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    with scenario.resolve_path(args.scenario).open("rb") as f:
        settings = tomllib.load(f)
    latency_s = args.latency_s or settings.get("latency_s", 3.0)
    fraction = settings.get("rate_fraction", 0.5)
    report: dict[str, dict[str, Any]] = {}
    with redis_server() as url:
        for number, table in enumerate(settings["models"]):
            spec, run = model_spec(dict(table))
            signature = models.ensure_generated(spec)
            assert signature.repository is not None
            rng = np.random.default_rng(0)
            payloads = [
                json.dumps(rng.standard_normal(spec.num_in).astype(np.float32).tolist()).encode()
                for _ in range(128)
            ]
            messages = max(1, int(run.get("messages", 1000) * args.scale))
            order = SYSTEMS if number % 2 == 0 else SYSTEMS[::-1]
            found = {kind: Measured() for kind in SYSTEMS}
            for kind in order:
                found[kind] = measure(kind, url, spec, signature.repository, payloads, messages,
                                      None, 0)  # fmt: skip
            rate = fraction * min(m.messages_per_s for m in found.values())
            for kind in order[::-1]:
                timed = measure(kind, url, spec, signature.repository, payloads, 0, rate, latency_s)
                found[kind].p50_ms, found[kind].p99_ms, found[kind].rate = (
                    timed.p50_ms, timed.p99_ms, timed.rate)  # fmt: skip
            for kind in SYSTEMS:
                m = found[kind]
                print(f"{spec.name:12s} {kind:6s} {m.messages_per_s:9.0f} msg/s (backlog of"
                      f" {messages})   at {m.rate:7.0f} msg/s: p50 {m.p50_ms:7.2f} ms"
                      f"  p99 {m.p99_ms:7.2f} ms")  # fmt: skip
            naiad, plain = found["naiad"], found["plain"]
            speedup = naiad.messages_per_s / plain.messages_per_s
            p50 = naiad.p50_ms / plain.p50_ms
            p99 = naiad.p99_ms / plain.p99_ms
            print(f"{spec.name:12s} naiad/plain: throughput x{speedup:.2f}, p50 x{p50:.2f},"
                  f" p99 x{p99:.2f}")  # fmt: skip
            report[spec.name] = {k: vars(v) for k, v in found.items()}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
