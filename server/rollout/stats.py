"""What a rollout counts, per arm and for its shadow copies, for status and /metrics.

Plain counters and fixed-bucket histograms updated on the event loop as answers come back
(one addition and one bisect each); the metrics collector and status read them when asked.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from naiad.rollout.divergence import Divergence

LATENCY_BUCKETS_S = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
DIVERGENCE_BUCKETS = (0.0, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1.0, 10.0, 100.0)
"""Absolute differences: 0 (bit-identical) up to 100; beyond (inf included) lands in +Inf."""


@dataclass
class Histogram:
    """Cumulative-ready bucket counts over fixed upper bounds, plus the +Inf bucket."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    num: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.num += 1
        if math.isfinite(value):
            self.total += value

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, count) pairs as Prometheus histograms expose them, +Inf last."""
        pairs, running = [], 0
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += count
            pairs.append(("+Inf" if bound == math.inf else repr(bound), running))
        return pairs


@dataclass
class ArmStats:
    """One version's unversioned traffic under a rollout, as callers met it."""

    num_requests: int = 0
    num_success: int = 0
    num_failure: int = 0
    num_non_finite: int = 0
    """Answers with NaN or infinity (also counted as success: the caller got them)."""
    latency_s: Histogram = field(default_factory=lambda: Histogram(LATENCY_BUCKETS_S))

    def record(self, failed: bool, latency_s: float) -> None:
        if failed:
            self.num_failure += 1
        else:
            self.num_success += 1
            self.latency_s.observe(latency_s)

    def summary(self) -> dict[str, float | int]:
        done = self.num_success + self.num_failure
        return {
            "requests": self.num_requests,
            "success": self.num_success,
            "failure": self.num_failure,
            "non_finite": self.num_non_finite,
            "error_rate": self.num_failure / done if done else 0.0,
            "mean_latency_ms": 1000.0 * self.latency_s.total / self.latency_s.num
            if self.latency_s.num
            else 0.0,
        }


@dataclass
class ShadowStats:
    """The candidate's copies of stable's requests and how their answers compared."""

    num_forked: int = 0
    num_skipped: int = 0
    """Requests not copied: too many copies were still running, or the candidate did not serve."""
    num_failed: int = 0
    """Copies the candidate failed (refused, errored, or answered with NaN / infinity)."""
    num_compared: int = 0
    num_argmax_agree: int = 0
    max_abs: Histogram = field(default_factory=lambda: Histogram(DIVERGENCE_BUCKETS))
    mean_abs: Histogram = field(default_factory=lambda: Histogram(DIVERGENCE_BUCKETS))
    latency_s: Histogram = field(default_factory=lambda: Histogram(LATENCY_BUCKETS_S))

    def record(self, divergence: Divergence) -> None:
        self.num_compared += 1
        self.max_abs.observe(divergence.max_abs)
        self.mean_abs.observe(divergence.mean_abs)
        if divergence.argmax_disagreement == 0.0:
            self.num_argmax_agree += 1

    def summary(self) -> dict[str, float | int]:
        compared = self.num_compared
        return {
            "forked": self.num_forked,
            "skipped": self.num_skipped,
            "failed": self.num_failed,
            "compared": compared,
            "mean_max_abs": self.max_abs.total / compared if compared else 0.0,
            "mean_mean_abs": self.mean_abs.total / compared if compared else 0.0,
            "argmax_agreement": self.num_argmax_agree / compared if compared else 1.0,
        }
