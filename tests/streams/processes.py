"""`naiad stream` and `naiad serve --stream` as real subprocesses, ready once they print so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


class NaiadProcess:
    def __init__(self, process: subprocess.Popen[str], log: list[str], ready_line: str) -> None:
        self.process = process
        self.log = log
        self.ready_line = ready_line

    def address(self, front_end: str) -> str:
        pairs = dict(p.split("=", 1) for p in self.ready_line.split() if "=" in p)
        return pairs[front_end]

    def output(self) -> str:
        return "".join(self.log)


@contextmanager
def naiad(*args: str, ready_prefix: str, timeout_s: float = 120) -> Iterator[NaiadProcess]:
    """Runs `python -m naiad.cli ARGS`; yields once a line starts with `ready_prefix`. The
    process is stopped with SIGTERM at the end unless the test already ended it."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "naiad.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    log: list[str] = []
    ready = threading.Event()
    found: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            log.append(line)
            if line.startswith(ready_prefix) and not found:
                found.append(line)
                ready.set()
        ready.set()

    pumper = threading.Thread(target=pump, daemon=True)
    pumper.start()
    try:
        if not ready.wait(timeout_s) or not found:
            pytest.fail("naiad did not become ready:\n" + "".join(log))
        yield NaiadProcess(process, log, found[0])
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        pumper.join(10)
        if process.stdout is not None:
            process.stdout.close()
