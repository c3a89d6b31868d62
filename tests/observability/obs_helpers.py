"""Helpers for observability tests: an in-process server, a raw HTTP GET, a /metrics parser."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import modelgen
from live_server import running  # noqa: F401  (re-exported for the tests here)

from naiad.app import NaiadServer

FAST_CONFIG = """
name: "fast"
max_batch_size: 8
input [{ name: "INPUT0" data_type: TYPE_FP32 dims: [4] }]
output [{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [4] }]
dynamic_batching { }
"""

HELD_CONFIG = """
name: "held"
max_batch_size: 8
input [{ name: "INPUT0" data_type: TYPE_FP32 dims: [4] }]
output [{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [4] }]
dynamic_batching {
  max_queue_delay_microseconds: 5000000
  default_queue_policy { max_queue_size: 1 allow_timeout_override: true }
}
parameters { key: "queue_delay_mode" value { string_value: "fixed" } }
"""
"""A small request waits the whole 5 s (a fixed delay) for company, in a queue of one: queue
full, cancellation and queue timeouts without depending on how fast the machine runs a model."""


def fast_model(path: Path) -> Path:
    return modelgen.identity(path, "FP32", [4])


def broken_model(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not an onnx model")
    return path


async def http_get(address: str, path: str, method: str = "GET") -> tuple[int, bytes]:
    """One request on its own connection: (status, body)."""
    host, _, port = address.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Samples:
    """Parsed /metrics samples, looked up by name and a subset of labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.types: dict[str, str] = {}
        self.rows: list[tuple[str, dict[str, str], float]] = []
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ")
                self.types[name] = kind
            elif line and not line.startswith("#"):
                match = _SAMPLE.match(line)
                assert match, f"bad sample line: {line!r}"
                labels = dict(_LABEL.findall(match.group(2) or ""))
                self.rows.append((match.group(1), labels, float(match.group(3))))

    def find(self, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
        return [
            (have, value)
            for sample, have, value in self.rows
            if sample == name and all(have.get(k) == v for k, v in labels.items())
        ]

    def value(self, name: str, **labels: str) -> float:
        found = self.find(name, **labels)
        assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
        return found[0][1]


async def scrape(server: NaiadServer) -> Samples:
    status, body = await http_get(server.addresses["metrics"], "/metrics")
    assert status == 200
    return Samples(body.decode())
