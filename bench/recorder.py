"""Per-process record of completed requests, handed to the coordinator one window at a time."""

from __future__ import annotations

import threading
import time
from array import array
from collections import Counter
from dataclasses import dataclass

import numpy as np


@dataclass
class Window:
    """What one load process saw between two collections."""

    latencies_ns: bytes
    """Successful requests' latencies, int64 ns (array('q') bytes, cheap to pickle)."""
    errors: dict[str, int]
    """Failed requests by gRPC status name (or exception type)."""
    wall_s: float
    cpu_s: float
    """This process's CPU time (user+system, all threads) in the window."""
    max_lag_ns: int = 0
    """Open loop: worst delay between a request's intended and actual send time."""
    fatal: str | None = None
    """Why the load stopped early, if it did."""
    num_capped: int = 0
    """Open loop: sends that had to wait for the in-flight cap."""

    @property
    def num_ok(self) -> int:
        return len(self.latencies_ns) // 8

    def latencies(self) -> np.ndarray:
        return np.frombuffer(self.latencies_ns, dtype=np.int64)


class Recorder:
    """Thread-safe sink the load loops report into."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latencies = array("q")
        self._errors: Counter[str] = Counter()
        self._max_lag_ns = 0
        self._num_capped = 0
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        self.fatal: str | None = None

    def ok(self, latency_ns: int) -> None:
        with self._lock:
            self._latencies.append(latency_ns)

    def error(self, status: str) -> None:
        with self._lock:
            self._errors[status] += 1

    def lag(self, lag_ns: int) -> None:
        if lag_ns > self._max_lag_ns:
            self._max_lag_ns = lag_ns

    def capped(self) -> None:
        self._num_capped += 1

    def snapshot(self) -> Window:
        """Everything recorded since the previous snapshot, and the time and CPU it spanned."""
        with self._lock:
            latencies, self._latencies = self._latencies, array("q")
            errors, self._errors = self._errors, Counter()
            lag, self._max_lag_ns = self._max_lag_ns, 0
            capped, self._num_capped = self._num_capped, 0
        wall, cpu = time.perf_counter(), time.process_time()
        window = Window(
            latencies.tobytes(),
            dict(errors),
            wall - self._wall,
            cpu - self._cpu,
            lag,
            self.fatal,
            capped,
        )
        self._wall, self._cpu = wall, cpu
        return window
