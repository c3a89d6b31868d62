"""The rollouts' Prometheus series, read from the RolloutBook at scrape time.

Series (labels model, version unless said):
- naiad_rollout_traffic_share (gauge): the share of unversioned requests a version is meant
  to get now; its observed twin is rate(naiad_rollout_requests_total) by version.
- naiad_rollout_requests_total, naiad_rollout_results_total{outcome=success|failure},
  naiad_rollout_non_finite_total, naiad_rollout_request_duration_seconds (histogram): the
  unversioned requests each version answered under a rollout (per arm for A/B).
- naiad_rollout_shadow_requests_total{outcome=forked|skipped|failed|compared} and
  naiad_rollout_shadow_divergence{metric=max_abs|mean_abs} (histogram), the shadow's
  naiad_rollout_shadow_argmax_agreement (gauge, 0..1) and
  naiad_rollout_shadow_duration_seconds (histogram): the candidate's copies.
- naiad_rollout_rollbacks_total{model}: automatic rollbacks; naiad_rollout_state{model,
  verdict}: 1 for the verdict the rollout is in.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from naiad.rollout.book import RolloutBook
from naiad.rollout.router import Verdict
from naiad.rollout.stats import Histogram

_VERSION = ["model", "version"]


class RolloutCollector(Collector):
    def __init__(self, book: RolloutBook) -> None:
        self._book = book

    def collect(self) -> Iterator[Metric]:
        share = GaugeMetricFamily(
            "naiad_rollout_traffic_share",
            "Share (0..1) of the model's unversioned requests this version is meant to get",
            labels=_VERSION,
        )
        requests = CounterMetricFamily(
            "naiad_rollout_requests", "Unversioned requests routed to this version", labels=_VERSION
        )
        results = CounterMetricFamily(
            "naiad_rollout_results",
            "Answers of routed requests by outcome (failure: the version's fault)",
            labels=[*_VERSION, "outcome"],
        )
        non_finite = CounterMetricFamily(
            "naiad_rollout_non_finite",
            "Routed answers holding NaN or infinity",
            labels=_VERSION,
        )
        latency = HistogramMetricFamily(
            "naiad_rollout_request_duration_seconds",
            "Routed requests, submit to answer, in seconds",
            labels=_VERSION,
        )
        shadow = CounterMetricFamily(
            "naiad_rollout_shadow_requests",
            "Shadow copies on the candidate by outcome",
            labels=[*_VERSION, "outcome"],
        )
        divergence = HistogramMetricFamily(
            "naiad_rollout_shadow_divergence",
            "Per shadowed request, the absolute difference of the candidate's outputs from "
            "stable's (max_abs: largest element; mean_abs: mean over elements)",
            labels=[*_VERSION, "metric"],
        )
        agreement = GaugeMetricFamily(
            "naiad_rollout_shadow_argmax_agreement",
            "Share of compared shadow requests whose every output row has stable's argmax",
            labels=_VERSION,
        )
        shadow_latency = HistogramMetricFamily(
            "naiad_rollout_shadow_duration_seconds",
            "Shadow copies on the candidate, submit to answer, in seconds",
            labels=_VERSION,
        )
        rollbacks = CounterMetricFamily(
            "naiad_rollout_rollbacks", "Automatic rollbacks of the model", labels=["model"]
        )
        state = GaugeMetricFamily(
            "naiad_rollout_state",
            "1 for the rollout's current verdict",
            labels=["model", "verdict"],
        )
        for name in self._book.names():
            router = self._book.router(name)
            if router is None:
                continue
            for version, weight in router.weights().items():
                share.add_metric([name, str(version)], weight)
            for version, arm in sorted(router.arms.items()):
                labels = [name, str(version)]
                requests.add_metric(labels, arm.num_requests)
                results.add_metric([*labels, "success"], arm.num_success)
                results.add_metric([*labels, "failure"], arm.num_failure)
                non_finite.add_metric(labels, arm.num_non_finite)
                _histogram(latency, labels, arm.latency_s)
            plan = router.plan
            if plan.mode.value == "shadow":
                labels = [name, str(plan.candidate)]
                stats = router.shadow
                for outcome, count in (
                    ("forked", stats.num_forked),
                    ("skipped", stats.num_skipped),
                    ("failed", stats.num_failed),
                    ("compared", stats.num_compared),
                ):
                    shadow.add_metric([*labels, outcome], count)
                _histogram(divergence, [*labels, "max_abs"], stats.max_abs)
                _histogram(divergence, [*labels, "mean_abs"], stats.mean_abs)
                _histogram(shadow_latency, labels, stats.latency_s)
                compared = stats.num_compared
                agreement.add_metric(labels, stats.num_argmax_agree / compared if compared else 1.0)
            rollbacks.add_metric([name], router.num_rollbacks)
            for verdict in Verdict:
                state.add_metric([name, verdict.value], 1.0 if router.verdict is verdict else 0.0)
        yield from (share, requests, results, non_finite, latency, shadow, divergence)
        yield from (agreement, shadow_latency, rollbacks, state)


def _histogram(family: HistogramMetricFamily, labels: list[str], histogram: Histogram) -> None:
    family.add_metric(labels, histogram.cumulative(), histogram.total)
