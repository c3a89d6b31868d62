"""What flows between the connector core and a broker adapter: consumed and produced messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class BrokerMessage:
    """One consumed message, as every adapter presents it."""

    partition: str
    """The ordered log it came from: a Kafka topic/partition, a Redis stream, a NATS subject.
    Answers keep the order of their inputs within one partition."""
    position: int
    """Its place in that log (Kafka offset, NATS stream sequence, Redis entry time in ms)."""
    key: bytes | None
    value: bytes
    headers: dict[str, bytes] = field(default_factory=dict)
    """Lower-case names."""
    timestamp_s: float | None = None
    """The broker's timestamp (seconds since the epoch), for the end-to-end latency."""
    token: Any = None
    """What the adapter needs to acknowledge it (a Kafka message, a Redis id, a NATS Msg)."""
    partition_index: int = 0
    """Kafka's partition number, so that answers can go to the same partition of the output
    topic; 0 elsewhere."""


@dataclass(slots=True)
class OutgoingMessage:
    """One message to produce: an answer on the output topic or a rejection on the error topic."""

    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]
    source: BrokerMessage
    """The input it answers (adapters use its partition and position)."""
