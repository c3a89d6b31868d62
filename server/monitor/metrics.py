"""The monitor's Prometheus series, read from the MonitorBook at scrape time (the last
verdict each version's worker computed; a scrape never recomputes drift).

- naiad_drift_score{model,version,tensor,feature,method} (gauge): PSI and KS of numeric
  features, Jensen–Shannon distance and chi-square of categorical ones.
- naiad_drift_alert{model,version,tensor,feature,method} (gauge, 0/1): the feature is past its
  threshold (method: the one that decides).
- naiad_model_drift{model,version} (gauge, 0/1) and naiad_drifted_feature_share{model,version}:
  the per-model verdict (share of input features that drift, against drift_share).
- naiad_prediction_confidence{model,version,tensor} (histogram): the top class's probability.
- naiad_prediction_accuracy{model,version,metric=accuracy|mae|rmse} (gauge) and
  naiad_accuracy_alert{model,version}: the labelled window.
- naiad_monitor_sampled_ratio{model} (gauge), naiad_monitor_sample_ratio_setting{model},
  naiad_monitor_max_samples_per_s_setting{model} (the cap; 0: none),
  naiad_monitor_requests_total{model,outcome=seen|sampled}, naiad_monitor_dropped_total,
  naiad_monitor_captured_total{model}, naiad_monitor_alerts_total{model}.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from naiad.monitor.book import MonitorBook
from naiad.monitor.labels import CLASSIFICATION

_FEATURE = ["model", "version", "tensor", "feature", "method"]
_VERSION = ["model", "version"]


class MonitorCollector(Collector):
    def __init__(self, book: MonitorBook) -> None:
        self._book = book

    def collect(self) -> Iterator[Metric]:
        score = GaugeMetricFamily(
            "naiad_drift_score", "Drift of a feature's window from its reference", labels=_FEATURE
        )
        alert = GaugeMetricFamily(
            "naiad_drift_alert",
            "1 while the feature's drift is past its threshold",
            labels=_FEATURE,
        )
        model_drift = GaugeMetricFamily(
            "naiad_model_drift",
            "1 while the share of drifting input features is past drift_share",
            labels=_VERSION,
        )
        share = GaugeMetricFamily(
            "naiad_drifted_feature_share", "Share of the input features that drift", labels=_VERSION
        )
        confidence = HistogramMetricFamily(
            "naiad_prediction_confidence",
            "Top-class probability of sampled answers, per row",
            labels=[*_VERSION, "tensor"],
        )
        accuracy = GaugeMetricFamily(
            "naiad_prediction_accuracy",
            "Labelled window: accuracy (classification) or mae / rmse (regression)",
            labels=[*_VERSION, "metric"],
        )
        accuracy_alert = GaugeMetricFamily(
            "naiad_accuracy_alert",
            "1 while the labelled window is worse than allowed",
            labels=_VERSION,
        )
        sampled = GaugeMetricFamily(
            "naiad_monitor_sampled_ratio", "Share of requests the monitor read", labels=["model"]
        )
        setting = GaugeMetricFamily(
            "naiad_monitor_sample_ratio_setting", "The configured sample_ratio", labels=["model"]
        )
        cap = GaugeMetricFamily(
            "naiad_monitor_max_samples_per_s_setting",
            "The configured max_samples_per_s (0: no cap)",
            labels=["model"],
        )
        requests = CounterMetricFamily(
            "naiad_monitor_requests", "Requests of watched models", labels=["model", "outcome"]
        )
        dropped = CounterMetricFamily(
            "naiad_monitor_dropped", "Sampled requests dropped: the monitor's queue was full"
        )
        captured = CounterMetricFamily(
            "naiad_monitor_captured", "Captured samples written to the sink", labels=["model"]
        )
        alerts = CounterMetricFamily(
            "naiad_monitor_alerts", "Drift and accuracy alerts started", labels=["model"]
        )
        dropped.add_metric([], self._book.num_dropped)
        for name in self._book.names():
            monitor = self._book.find(name)
            if monitor is None:
                continue
            gate = monitor.gate
            sampled.add_metric([name], gate.sampled_ratio)
            setting.add_metric([name], monitor.settings.sample_ratio)
            cap.add_metric([name], monitor.settings.max_samples_per_s)
            requests.add_metric([name, "seen"], gate.num_seen)
            requests.add_metric([name, "sampled"], gate.num_sampled)
            captured.add_metric([name], monitor.sink.num_written if monitor.sink else 0)
            alerts.add_metric([name], monitor.num_alerts)
            with monitor.lock:
                for version, vm in sorted(monitor.versions.items()):
                    verdict = vm.last
                    for f in verdict.features:
                        for method, value in f.scores.items():
                            labels = [name, version, f.tensor, f.feature, method]
                            score.add_metric(labels, value if math.isfinite(value) else 1e300)
                        labels = [name, version, f.tensor, f.feature, f.method]
                        alert.add_metric(labels, 1.0 if f.alert else 0.0)
                    model_drift.add_metric([name, version], 1.0 if verdict.drifted else 0.0)
                    share.add_metric([name, version], verdict.drifted_share)
                    for tensor, stats in vm.confidence.items():
                        confidence.add_metric(
                            [name, version, tensor],
                            stats.histogram.cumulative(),
                            stats.histogram.total,
                        )
                for version, scores in sorted(monitor.labels.scores.items()):
                    value = scores.value()  # labelled versions, also before any new request
                    if value is None:
                        continue
                    if scores.kind == CLASSIFICATION:
                        accuracy.add_metric([name, version, "accuracy"], value)
                    else:
                        accuracy.add_metric([name, version, "mae"], value)
                        accuracy.add_metric([name, version, "rmse"], scores.rmse() or 0.0)
                    on = monitor.labels.alert(version) is not None
                    accuracy_alert.add_metric([name, version], 1.0 if on else 0.0)
        yield from (score, alert, model_drift, share, confidence, accuracy, accuracy_alert)
        yield from (sampled, setting, cap, requests, dropped, captured, alerts)
