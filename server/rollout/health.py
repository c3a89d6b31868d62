"""The candidate's health against its plan's gates: error rate and p99 latency over a window.

A state machine fed one outcome at a time; it reads no clock (the caller measures latency),
so tests drive it with the numbers they choose.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass

from naiad.errors import ErrorCode, RunFailed, error_code
from naiad.rollout.plan import HealthGates

CANDIDATE_FAULTS = frozenset({ErrorCode.INTERNAL, ErrorCode.UNAVAILABLE})
"""Errors that count against the candidate; a bad request, a deadline or a full queue is
the caller's or the load's, not the version's."""


@dataclass(frozen=True)
class Breach:
    """Why a candidate was judged unhealthy."""

    gate: str
    """max_error_rate, max_p99_ms or max_divergence."""
    observed: float
    limit: float
    num_requests: int

    def __str__(self) -> str:
        if self.gate == "max_error_rate":
            seen = f"{100.0 * self.observed:.3g} % of the last {self.num_requests} failed"
        elif self.gate == "max_p99_ms":
            seen = f"p99 {self.observed:.3g} ms over the last {self.num_requests} answers"
        else:
            seen = f"mean {self.observed:.3g} over the last {self.num_requests} compared"
        return f"{self.gate} {self.limit:g} exceeded: {seen}"


def is_candidate_fault(error: BaseException | None) -> bool:
    """Whether `error` counts against the version that answered it: a failed batch run
    (whatever code it carries: onnxruntime calls an out-of-range index the model computed
    INVALID_ARGUMENT), or one of CANDIDATE_FAULTS."""
    if error is None:
        return False
    return isinstance(error, RunFailed) or error_code(error) in CANDIDATE_FAULTS


class CandidateHealth:
    """Judges the candidate's recent outcomes against `gates`; `record` returns the first
    breach it sees (then keeps returning None: a rollback happens once)."""

    def __init__(
        self, gates: HealthGates, *, min_requests: int | None = None, window: int | None = None
    ) -> None:
        """`min_requests` and `window` override the gates' own (tests)."""
        self._gates = gates
        self._min_requests = max(1, gates.min_requests if min_requests is None else min_requests)
        size = max(gates.window if window is None else window, self._min_requests)
        self._failed: deque[bool] = deque(maxlen=size)
        self._num_failed = 0
        """Failures in `_failed`, kept as outcomes come and go: no sum over the window each time."""
        self._latencies_ms: deque[float] = deque(maxlen=size)
        self._ordered_ms: list[float] = []
        """The same latencies in ascending order, kept by insertion: p99 without a sort each
        time (a C-level move of at most `window` floats per outcome)."""
        self._divergences: deque[float] = deque(maxlen=size)
        self._breached = False

    @property
    def watching(self) -> bool:
        """Whether any gate is set (and none broke yet): outcomes are worth recording."""
        gates = self._gates
        checked = (
            gates.max_error_rate is not None
            or gates.max_p99_ms is not None
            or gates.max_divergence is not None
        )
        return checked and not self._breached

    @property
    def breached(self) -> bool:
        return self._breached

    def record_divergence(self, value: float) -> Breach | None:
        """One shadow comparison (the gates' divergence_metric of one request); the breach of
        max_divergence it completes, if any."""
        limit = self._gates.max_divergence
        if self._breached or limit is None:
            return None
        self._divergences.append(value)
        num = len(self._divergences)
        if num < self._min_requests:
            return None
        mean = sum(self._divergences) / num
        if mean > limit:
            self._breached = True
            return Breach("max_divergence", mean, limit, num)
        return None

    def record(self, failed: bool, latency_ms: float) -> Breach | None:
        """One candidate outcome; the breach it completes, if any. A failed request's latency
        is not counted (an error answered fast must not make p99 look good)."""
        if self._breached:
            return None
        window = self._failed
        if len(window) == window.maxlen and window[0]:
            self._num_failed -= 1  # the oldest outcome leaves the window
        window.append(failed)
        self._num_failed += failed
        if not failed:
            latencies, ordered = self._latencies_ms, self._ordered_ms
            if len(latencies) == latencies.maxlen:
                del ordered[bisect.bisect_left(ordered, latencies[0])]
            latencies.append(latency_ms)
            bisect.insort(ordered, latency_ms)
        breach = self._judge()
        self._breached = breach is not None
        return breach

    def _judge(self) -> Breach | None:
        num = len(self._failed)
        if num < self._min_requests:
            return None
        gates = self._gates
        if gates.max_error_rate is not None:
            rate = self._num_failed / num
            if rate > gates.max_error_rate:
                return Breach("max_error_rate", rate, gates.max_error_rate, num)
        if gates.max_p99_ms is not None and len(self._latencies_ms) >= self._min_requests:
            p99 = _percentile(self._ordered_ms, 99.0)
            if p99 > gates.max_p99_ms:
                return Breach("max_p99_ms", p99, gates.max_p99_ms, len(self._latencies_ms))
        return None


def _percentile(ordered: list[float], percent: float) -> float:
    # nearest rank: the smallest value with at least `percent` % of the values at or below it
    rank = max(1, math.ceil(percent / 100.0 * len(ordered)))
    return ordered[rank - 1]
