"""The streams' Prometheus series, on the server's registry beside naiad's own metrics.

One StreamMetrics per registry holds the metric families; each connector takes the children of
its own `stream` label (`model:input_topic`) from it.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS_S = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


class StreamMetrics:
    """The metric families every stream of one server shares."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        """`registry`: the server's (None: a private one, for tests and tools)."""
        self.registry = registry if registry is not None else CollectorRegistry()
        on = self.registry
        self.messages = Counter(
            "naiad_stream_messages",
            "Messages consumed and answered (outcome ok: an answer on the output topic; error: "
            "a rejection on the error topic); its rate is the stream's messages/s",
            ["stream", "outcome"],
            registry=on,
        )
        self.errors = Counter(
            "naiad_stream_errors",
            "Messages sent to the error topic, by stage (decode, inference, encode)",
            ["stream", "stage"],
            registry=on,
        )
        self.lag = Gauge(
            "naiad_stream_consumer_lag",
            "Messages in the input log not yet read by the group, per partition",
            ["stream", "partition"],
            registry=on,
        )
        self.latency = Histogram(
            "naiad_stream_end_to_end_seconds",
            "From the input's broker timestamp to the broker's acknowledgement of its answer",
            ["stream"],
            buckets=_LATENCY_BUCKETS_S,
            registry=on,
        )
        self.in_flight = Gauge(
            "naiad_stream_in_flight",
            "Messages read and not yet acknowledged",
            ["stream"],
            registry=on,
        )
        self.pauses = Counter(
            "naiad_stream_backpressure_pauses",
            "Times consumption paused because the model's queue was full",
            ["stream"],
            registry=on,
        )
        self.paused_s = Counter(
            "naiad_stream_backpressure_seconds",
            "Time consumption spent paused on a full model queue",
            ["stream"],
            registry=on,
        )
        self.rate = Gauge(
            "naiad_stream_messages_per_second",
            "Messages answered per second over the last lag-polling interval",
            ["stream"],
            registry=on,
        )

    def value(self, name: str, **labels: str) -> float:
        """One sample's current value (0 when absent): for tests and the bench."""
        found = self.registry.get_sample_value(name, labels)
        return 0.0 if found is None else found
