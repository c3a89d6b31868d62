"""The Prometheus collector: reads the native schedulers' statistics at scrape time.

Nothing is counted in Python on the request path; every value comes from the ledger's reports
(Triton's `nv_*` names and labels, and `naiad_*` additions) or from the repository's index.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from naiad.errors import NaiadError
from naiad.observability.ledger import StatsLedger, VersionKey, VersionReport
from naiad.repository.manager import ModelRepository
from naiad.repository.types import WIRE_STATES, IndexEntry, ModelState

LABELS = ("model", "version")

# (Triton counter, Stats counter, divisor to the metric's unit, help)
_TRITON_COUNTERS = (
    ("nv_inference_request_success", "success_count", 1,
     "Number of successful inference requests, all batch sizes"),
    ("nv_inference_count", "inference_count", 1,
     "Number of inferences performed (a batch of n rows counts n)"),
    ("nv_inference_exec_count", "execution_count", 1,
     "Number of model executions performed (batches)"),
    ("nv_inference_request_duration_us", "success_ns", 1000,
     "Cumulative duration of successful requests, enqueue to answer, in microseconds"),
    ("nv_inference_queue_duration_us", "queue_ns", 1000,
     "Cumulative time requests spent queued, in microseconds"),
    ("nv_inference_compute_input_duration_us", "compute_input_ns", 1000,
     "Cumulative compute input duration, in microseconds"),
    ("nv_inference_compute_infer_duration_us", "compute_infer_ns", 1000,
     "Cumulative compute inference duration, in microseconds"),
    ("nv_inference_compute_output_duration_us", "compute_output_ns", 1000,
     "Cumulative compute output duration, in microseconds"),
    ("nv_cache_num_hits_per_model", "cache_hit_count", 1,
     "Number of requests answered from the response cache"),
    ("nv_cache_num_misses_per_model", "cache_miss_count", 1,
     "Number of requests of a cached model that missed the response cache"),
    ("nv_cache_hit_duration_per_model", "cache_hit_ns", 1000,
     "Cumulative time of response cache lookups that hit (and copying out), in microseconds"),
    ("nv_cache_miss_duration_per_model", "cache_miss_ns", 1000,
     "Cumulative time of response cache lookups that missed (and inserting), in microseconds"),
)  # fmt: skip

FAILURE_REASONS = (
    ("REJECTED", "rejected_count"),
    ("CANCELED", "canceled_count"),
    ("BACKEND", "backend_failure_count"),
    ("OTHER", "other_failure_count"),
)

_HISTOGRAMS = (
    ("naiad_inference_request_duration_us", "request_duration_us",
     "Successful requests, enqueue to answer, in microseconds"),
    ("naiad_inference_queue_duration_us", "queue_duration_us",
     "Time requests waited in the queue before entering a batch, in microseconds"),
    ("naiad_inference_compute_infer_duration_us", "compute_infer_duration_us",
     "Model run time of each successful request's batch, in microseconds"),
    ("naiad_inference_batch_size", "batch_size", "Rows of each successful batch"),
)  # fmt: skip


class NaiadCollector(Collector):
    """Reports every serving model version; versions no longer served disappear."""

    def __init__(self, repository: ModelRepository, ledger: StatsLedger) -> None:
        self._repository = repository
        self._ledger = ledger

    def collect(self) -> Iterator[Metric]:
        entries = self._repository.index(scan=False)  # a scrape never touches the disk
        reports = self._ledger.collect(self._serving(entries))
        yield from _triton_counters(reports)
        yield from _gauges(reports)
        yield from _histograms(reports)
        yield from _model_metrics(entries, reports)

    def _serving(self, entries: list[IndexEntry]) -> dict[VersionKey, object]:
        serving: dict[VersionKey, object] = {}
        for entry in entries:
            if entry.state is not ModelState.READY:
                continue
            try:
                number, served, _ = self._repository.resolve(entry.name, entry.version)
            except NaiadError:
                continue  # unloaded between index() and resolve()
            serving[(entry.name, number)] = served
        return serving


def _labels(report: VersionReport) -> list[str]:
    return [report.name, str(report.version)]


def _counter(name: str, documentation: str) -> Metric:
    # Samples keep the bare name (no `_total`): exposition.render writes Triton's names.
    return Metric(name, documentation, "counter")


def _triton_counters(reports: list[VersionReport]) -> Iterator[Metric]:
    for name, field, divisor, documentation in _TRITON_COUNTERS:
        metric = _counter(name, documentation)
        for report in reports:
            labels = dict(zip(LABELS, _labels(report), strict=True))
            metric.add_sample(name, labels, report.totals.counters[field] // divisor)
        yield metric
    name = "nv_inference_request_failure"
    failures = _counter(name, "Number of failed inference requests, by reason")
    for report in reports:
        for reason, field in FAILURE_REASONS:
            labels = {**dict(zip(LABELS, _labels(report), strict=True)), "reason": reason}
            failures.add_sample(name, labels, report.totals.counters[field])
    yield failures
    name = "naiad_inference_queue_timeout_count"
    timeouts = _counter(
        name, "Requests rejected after waiting past their queue timeout (counted in REJECTED too)"
    )
    for report in reports:
        labels = dict(zip(LABELS, _labels(report), strict=True))
        timeouts.add_sample(name, labels, report.totals.counters["timed_out_count"])
    yield timeouts


def _gauges(reports: list[VersionReport]) -> Iterator[Metric]:
    pending = GaugeMetricFamily(
        "nv_inference_pending_request_count",
        "Requests waiting in the queue",
        labels=LABELS,
    )
    in_flight = GaugeMetricFamily(
        "naiad_inference_in_flight_requests", "Requests in batches being run", labels=LABELS
    )
    by_level = GaugeMetricFamily(
        "naiad_inference_pending_requests_by_priority",
        "Requests waiting in the queue of each priority level (1 is served first)",
        labels=(*LABELS, "priority"),
    )
    last = GaugeMetricFamily(
        "naiad_inference_last_timestamp_seconds",
        "When the last successful batch finished, in seconds since the epoch (0: never)",
        labels=LABELS,
    )
    for report in reports:
        labels = _labels(report)
        pending.add_metric(labels, report.num_pending)
        in_flight.add_metric(labels, report.num_in_flight)
        for level, count in enumerate(report.pending_by_level, start=1):
            by_level.add_metric([*labels, str(level)], count)
        last.add_metric(labels, report.last_inference_ms / 1000)
    yield from (pending, in_flight, by_level, last)


def _histograms(reports: list[VersionReport]) -> Iterator[Metric]:
    for name, field, documentation in _HISTOGRAMS:
        metric = HistogramMetricFamily(name, documentation, labels=LABELS)
        for report in reports:
            histogram = report.totals.histograms[field]
            buckets = [(floatToGoString(le), n) for le, n in histogram.cumulative()]
            metric.add_metric(_labels(report), buckets, histogram.sum)
        yield metric


def _model_metrics(entries: list[IndexEntry], reports: list[VersionReport]) -> Iterator[Metric]:
    state = GaugeMetricFamily(
        "naiad_model_state",
        "1 for the state each known model version is in, 0 for the others",
        labels=(*LABELS, "state"),
    )
    for entry in entries:
        if entry.state is None:
            continue  # in the repository, never asked to load
        for candidate in WIRE_STATES:
            value = 1 if candidate == entry.state.wire else 0
            state.add_metric([entry.name, entry.version, candidate], value)
    load = GaugeMetricFamily(
        "naiad_model_load_duration_seconds",
        "How long the latest load of a serving version took (sessions and warm-up)",
        labels=LABELS,
    )
    for report in reports:
        if report.load_duration_s is not None:
            load.add_metric(_labels(report), report.load_duration_s)
    yield from (state, load)
