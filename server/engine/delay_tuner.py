"""How long a version's batches wait for more requests: the policy over the scheduler's timing.

The native scheduler enforces a BatchTiming (Scheduler.set_timing: the head's delay and a join
window, both bounded by the configured max_queue_delay_us) and counts its arrivals
(Scheduler.load_sample); this module decides the timing from those counts, one window of traffic
at a time.

- ADAPTIVE (the default). Waiting pays only when requests join a batch while it waits. While a
  version waits, the tasks per batch say how many did; below MIN_JOINERS per batch it stops
  waiting: a closed-loop caller at concurrency 1 never has company, whatever its request rate.
  While it does not wait, an arrival that finds work outstanding is one that could have joined,
  so enough of those turn waiting back on; and since work run inline on the event loop can
  finish before the next request is even read, it also probes now and then (after
  PROBE_AFTER_WINDOWS quiet windows, doubling after each probe that found nobody, up to
  MAX_PROBE_AFTER_WINDOWS) by waiting the configured delay for one window. When waiting, a batch
  still closes JOIN_GAPS mean gaps between joining arrivals after its newest task: sixteen
  concurrent callers go as soon as the last of them is in, not when the delay runs out.
- SLO. The largest head delay whose windowed p99 (queue + compute, the scheduler's own histogram)
  stays within the target: halved when a window's p99 passes it, raised by an eighth of the
  configured delay when a window stays under 90 % of it.
- FIXED: the configured delay, always, as Triton does (no tuner is built).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from naiad.config.settings import BatchingPolicy, DelayMode
from naiad.native import Histogram, LoadSample, Scheduler

MIN_JOINERS = 0.5
"""Requests joining per batch (or per arrival that found no work outstanding) worth waiting for."""
PROBE_AFTER_WINDOWS = 4
MAX_PROBE_AFTER_WINDOWS = 128
JOIN_GAPS = 3.0
"""A waiting batch closes after this many mean gaps between joining arrivals with none."""
WINDOW_NS = 50_000_000
"""Shortest window a decision looks at."""
MIN_WINDOW_ARRIVALS = 32
"""A window closes once it holds this many arrivals (or after MAX_WINDOW_NS)."""
MAX_WINDOW_NS = 1_000_000_000
SLO_HEADROOM = 0.9
"""SLO mode raises the delay only while the p99 stays under this share of the target."""


@dataclass(frozen=True, slots=True)
class LoadWindow:
    """The traffic of one window: differences of two LoadSamples."""

    elapsed_ns: int
    num_arrivals: int
    num_busy_arrivals: int
    busy_gap_ns: int
    num_batches: int
    num_batched_tasks: int

    @classmethod
    def between(cls, start: LoadSample, end: LoadSample) -> LoadWindow:
        return cls(
            elapsed_ns=end.now_ns - start.now_ns,
            num_arrivals=end.num_arrivals - start.num_arrivals,
            num_busy_arrivals=end.num_busy_arrivals - start.num_busy_arrivals,
            busy_gap_ns=end.busy_gap_ns - start.busy_gap_ns,
            num_batches=end.num_batches - start.num_batches,
            num_batched_tasks=end.num_batched_tasks - start.num_batched_tasks,
        )


def join_window_us(window: LoadWindow, max_delay_us: int) -> int:
    """JOIN_GAPS mean gaps between arrivals that found work outstanding, within the bound."""
    if window.num_busy_arrivals == 0:
        return max_delay_us
    mean_gap_us = window.busy_gap_ns / window.num_busy_arrivals / 1000
    return max(1, min(max_delay_us, round(JOIN_GAPS * mean_gap_us)))


@dataclass(slots=True)
class AdaptiveWait:
    """ADAPTIVE mode's state between windows: whether batches wait, and when to probe."""

    waiting: bool = True
    """A new version waits as configured until its first window says otherwise."""
    probing: bool = False
    quiet_windows: int = 0
    probe_after: int = PROBE_AFTER_WINDOWS

    def next_window_us(self, window: LoadWindow, max_delay_us: int) -> int:
        """The join window for the next window of traffic, after `window`; 0: do not wait."""
        if self.waiting:
            joined = window.num_batched_tasks - window.num_batches
            if window.num_batches and joined >= MIN_JOINERS * window.num_batches:
                self.probing = False
                self.probe_after = PROBE_AFTER_WINDOWS
                return join_window_us(window, max_delay_us)
            if self.probing:
                self.probe_after = min(2 * self.probe_after, MAX_PROBE_AFTER_WINDOWS)
            self.waiting = self.probing = False
            self.quiet_windows = 0
            return 0
        starters = window.num_arrivals - window.num_busy_arrivals
        if window.num_busy_arrivals and window.num_busy_arrivals >= MIN_JOINERS * starters:
            self.waiting = True
            return join_window_us(window, max_delay_us)
        self.quiet_windows += 1
        if self.quiet_windows >= self.probe_after:
            self.waiting = self.probing = True
            return max_delay_us
        return 0


def slo_delay_us(current_us: int, p99_us: float, target_p99_us: int, max_delay_us: int) -> int:
    """The next delay of SLO mode: AIMD towards the largest delay meeting the target."""
    if p99_us > target_p99_us:
        return current_us // 2
    if p99_us < SLO_HEADROOM * target_p99_us:
        return min(max_delay_us, current_us + max(1, max_delay_us // 8))
    return current_us


def window_p99_us(start: Histogram, end: Histogram) -> float | None:
    """The 99th percentile of the observations between two snapshots of one histogram, as the
    upper bound of its bucket (the last bound for the overflow bucket); None when empty."""
    counts = [b - a for a, b in zip(start.counts, end.counts, strict=True)]
    total = sum(counts)
    if total == 0:
        return None
    rank = 0.99 * total
    seen = 0
    for i, count in enumerate(counts):
        seen += count
        if seen >= rank:
            bounds = end.bounds
            return bounds[min(i, len(bounds) - 1)]
    return end.bounds[-1]


class DelayTuner:
    """Retunes one scheduler's timing once per window. `maybe_tune` is cheap and thread-safe:
    call it after every batch; it decides only when a window has closed."""

    def __init__(self, scheduler: Scheduler, policy: BatchingPolicy) -> None:
        self._scheduler = scheduler
        self._slo = policy.delay_mode is DelayMode.SLO
        self._max_delay_us = policy.max_queue_delay_us
        self._target_p99_us = policy.target_p99_us
        self._adaptive = AdaptiveWait()
        self._lock = threading.Lock()
        self._start = scheduler.load_sample()
        self._start_latency = scheduler.stats().request_duration_us if self._slo else None

    def maybe_tune(self) -> None:
        if not self._lock.acquire(blocking=False):
            return  # another instance's thread is deciding this window
        try:
            sample = self._scheduler.load_sample()
            window = LoadWindow.between(self._start, sample)
            if window.elapsed_ns < WINDOW_NS:
                return
            if window.num_arrivals < MIN_WINDOW_ARRIVALS and window.elapsed_ns < MAX_WINDOW_NS:
                return
            self._start = sample
            if self._slo:
                delay_us = self._slo_delay_us()
                self._scheduler.set_timing(delay_us, delay_us)
            else:
                window_us = self._adaptive.next_window_us(window, self._max_delay_us)
                self._scheduler.set_timing(self._max_delay_us, window_us)
        finally:
            self._lock.release()

    def _slo_delay_us(self) -> int:
        latency = self._scheduler.stats().request_duration_us
        assert self._start_latency is not None
        p99_us = window_p99_us(self._start_latency, latency)
        self._start_latency = latency
        current_us = self._scheduler.timing.delay_us
        if p99_us is None:
            return current_us
        return slo_delay_us(current_us, p99_us, self._target_p99_us, self._max_delay_us)


def delay_tuner(
    scheduler: Scheduler, policy: BatchingPolicy, max_batch_size: int
) -> DelayTuner | None:
    """The tuner `policy` asks for, or None when the delay is fixed or there is none to tune."""
    if not policy.enabled or policy.max_queue_delay_us == 0 or max_batch_size <= 1:
        return None
    if policy.delay_mode is DelayMode.FIXED:
        return None
    return DelayTuner(scheduler, policy)
