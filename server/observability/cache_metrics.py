"""The response cache's server-wide series, read from the cache at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from naiad.engine.response_cache import ResponseCache


class CacheCollector(Collector):
    """naiad_cache_*: occupancy against the --cache-bytes cap, inserts and evictions.

    The per-model hit and miss series (Triton's nv_cache_*_per_model) come from the schedulers'
    statistics with the other per-model series (collector.py)."""

    def __init__(self, cache: ResponseCache) -> None:
        self._cache = cache

    def collect(self) -> Iterator[Metric]:
        counts = self._cache.counts()
        yield GaugeMetricFamily(
            "naiad_cache_bytes", "Bytes the response cache holds", value=counts.num_bytes
        )
        yield GaugeMetricFamily(
            "naiad_cache_max_bytes",
            "The response cache's cap (--cache-bytes)",
            value=counts.max_bytes,
        )
        yield GaugeMetricFamily(
            "naiad_cache_entries", "Answers the response cache holds", value=counts.num_entries
        )
        for name, value, documentation in (
            ("naiad_cache_inserts", counts.num_inserts, "Answers stored in the response cache"),
            (
                "naiad_cache_evictions",
                counts.num_evictions,
                "Answers evicted (least recently used) to keep the cache within its cap",
            ),
        ):
            metric = Metric(name, documentation, "counter")
            metric.add_sample(name, {}, value)
            yield metric
