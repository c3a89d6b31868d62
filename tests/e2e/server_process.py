"""Starts a real `naiad serve` process on 127.0.0.1:0 and waits for its ready line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

READY_PREFIX = "naiad ready grpc="


class ServerProcess:
    def __init__(self, process: subprocess.Popen[str], url: str, log: list[str]) -> None:
        self.process = process
        self.url = url
        self.log = log

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout_s)

    def output(self) -> str:
        return "".join(self.log)

    def address(self, front_end: str) -> str:
        """host:port of a front end (grpc, http, metrics) as the ready line announced it."""
        ready = next(line for line in self.log if line.startswith(READY_PREFIX))
        return dict(pair.split("=", 1) for pair in ready.split()[2:])[front_end]

    @property
    def http_url(self) -> str:
        """host:port of the HTTP/REST front end, the form tritonclient.http takes."""
        return self.address("http")

    def metric(self, name: str, model: str | None = None, version: str | None = None) -> float:
        """One series of the server's Prometheus metrics for `model` (and `version`), or the
        unlabelled series when `model` is None; 0 when absent."""
        address = self.address("metrics")
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as reply:
            text = reply.read().decode()
        for line in text.splitlines():
            if model is None:
                if line.startswith(name + " "):
                    return float(line.rsplit(" ", 1)[1])
                continue
            if not line.startswith(name + "{") or f'model="{model}"' not in line:
                continue
            if version is None or f'version="{version}"' in line:
                return float(line.rsplit(" ", 1)[1])
        return 0.0


@contextmanager
def naiad_server(repository: Path, *args: str, timeout_s: float = 120) -> Iterator[ServerProcess]:
    """Starts `naiad serve` on a free port; yields once it printed its ready line."""
    command = [
        sys.executable, "-m", "naiad.cli", "serve",
        "--model-repository", str(repository), "--grpc-host", "127.0.0.1", "--grpc-port", "0",
        "--http-port", "0", "--metrics-port", "0",
        *args,
    ]  # fmt: skip
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    log: list[str] = []
    ready = threading.Event()
    url: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            log.append(line)
            if line.startswith(READY_PREFIX) and not url:
                url.append(line[len(READY_PREFIX) :].split()[0])
                ready.set()
        ready.set()

    pumper = threading.Thread(target=pump, daemon=True)
    pumper.start()
    if not ready.wait(timeout_s) or not url:
        process.kill()
        process.wait()
        pumper.join(10)
        if process.stdout is not None:
            process.stdout.close()
        pytest.fail("naiad did not become ready:\n" + "".join(log))
    server = ServerProcess(process, url[0], log)
    try:
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        pumper.join(10)
        if process.stdout is not None:
            process.stdout.close()
