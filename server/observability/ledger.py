"""Per model version totals that survive reloads: what the metrics report, read at scrape time.

Each load of a version starts a new generation: a new ServedModel whose native scheduler counts
from zero. The ledger remembers every generation it has seen; once one no longer serves and has
drained (nothing queued or in flight), its final counts move into the version's offset and the
ledger lets it go. A series is offset + the live generations, so counters and histogram buckets
stay monotonic across reloads, and a version with no live generation (unloaded) reports nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from naiad.native import Stats

COUNTERS = (
    "success_count", "success_ns", "fail_count", "fail_ns", "queue_count", "queue_ns",
    "compute_input_count", "compute_input_ns", "compute_infer_count", "compute_infer_ns",
    "compute_output_count", "compute_output_ns", "inference_count", "execution_count",
    "rejected_count", "canceled_count", "backend_failure_count", "other_failure_count",
    "timed_out_count", "cache_hit_count", "cache_hit_ns", "cache_miss_count", "cache_miss_ns",
)  # fmt: skip
"""Cumulative Stats fields: summed across generations."""

HISTOGRAMS = ("request_duration_us", "queue_duration_us", "compute_infer_duration_us", "batch_size")

VersionKey = tuple[str, int]


@dataclass(frozen=True)
class HistogramTotals:
    """A native histogram's non-cumulative counts (one more than bounds: the +Inf bucket)."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    sum: float

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations at or below it), ending with (inf, count)."""
        running, buckets = 0, []
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += n
            buckets.append((bound, running))
        return buckets

    def __add__(self, other: HistogramTotals) -> HistogramTotals:
        if other.bounds != self.bounds:
            raise ValueError("histograms with different bounds cannot be added")
        counts = tuple(a + b for a, b in zip(self.counts, other.counts, strict=True))
        return HistogramTotals(self.bounds, counts, self.sum + other.sum)


@dataclass(frozen=True)
class Totals:
    """The cumulative part of Stats, which adds up across generations."""

    counters: Mapping[str, int]
    histograms: Mapping[str, HistogramTotals]

    @classmethod
    def of(cls, stats: Stats) -> Totals:
        histograms = {}
        for name in HISTOGRAMS:
            h = getattr(stats, name)
            histograms[name] = HistogramTotals(tuple(h.bounds), tuple(h.counts), h.sum)
        return cls({name: getattr(stats, name) for name in COUNTERS}, histograms)

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            {k: v + other.counters[k] for k, v in self.counters.items()},
            {k: v + other.histograms[k] for k, v in self.histograms.items()},
        )


@dataclass(frozen=True)
class VersionReport:
    """What the metrics show for one model version at one scrape."""

    name: str
    version: int
    totals: Totals
    pending_by_level: tuple[int, ...]
    num_pending: int
    num_in_flight: int
    last_inference_ms: int
    load_duration_s: float | None
    """How long the latest load of this version took; None if it did not go through `timed()`."""


@dataclass
class _Series:
    offset: Totals | None = None
    """Counts of retired generations."""
    generations: list[Any] = field(default_factory=list)
    """Live ServedModels, oldest first."""
    last_inference_ms: int = 0
    load_duration_s: float | None = None


class StatsLedger:
    """Thread-safe; `timed()` wraps the model factory, `collect()` runs at each scrape.

    A generation that does not serve yet (still starting) may be retired early: it has counted
    nothing, and it is taken up again once the repository routes requests to it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[VersionKey, _Series] = {}

    def timed(self, factory: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        """The factory, recording each started generation and how long it took to start."""

        def start(settings: Any, config: Any) -> Any:
            began = time.perf_counter()
            served = factory(settings, config)
            elapsed_s = time.perf_counter() - began
            with self._lock:
                series = self._series.setdefault((settings.name, settings.version), _Series())
                series.generations.append(served)
                series.load_duration_s = elapsed_s
            return served

        return start

    def collect(self, serving: Mapping[VersionKey, Any]) -> list[VersionReport]:
        """Reports every version with a live generation; `serving` maps each READY version to
        the model the repository routes its requests to now."""
        with self._lock:
            for key, served in serving.items():
                series = self._series.setdefault(key, _Series())
                if all(g is not served for g in series.generations):
                    series.generations.append(served)
            reports = []
            for key in sorted(self._series):
                report = self._collect_one(key, self._series[key], serving.get(key))
                if report is not None:
                    reports.append(report)
            return reports

    def _collect_one(self, key: VersionKey, series: _Series, current: Any) -> VersionReport | None:
        live: list[tuple[Any, Stats]] = []
        for served in series.generations:
            stats = served.stats()
            series.last_inference_ms = max(series.last_inference_ms, stats.last_inference_ms)
            if served is not current and stats.num_pending == 0 and stats.num_in_flight == 0:
                # Retired: its counts join the offset and the ledger drops the model object.
                totals = Totals.of(stats)
                series.offset = totals if series.offset is None else series.offset + totals
            else:
                live.append((served, stats))
        series.generations = [served for served, _ in live]
        if not live:
            return None
        return VersionReport(
            name=key[0],
            version=key[1],
            totals=_sum([Totals.of(s) for _, s in live], series.offset),
            pending_by_level=_sum_levels(s.pending_by_level for _, s in live),
            num_pending=sum(s.num_pending for _, s in live),
            num_in_flight=sum(s.num_in_flight for _, s in live),
            last_inference_ms=series.last_inference_ms,
            load_duration_s=series.load_duration_s,
        )


def _sum(parts: list[Totals], offset: Totals | None) -> Totals:
    total = parts[0] if offset is None else offset + parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _sum_levels(levels: Iterable[list[int]]) -> tuple[int, ...]:
    summed: list[int] = []
    for counts in levels:
        summed.extend([0] * (len(counts) - len(summed)))
        for i, n in enumerate(counts):
            summed[i] += n
    return tuple(summed)
