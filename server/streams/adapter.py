"""The contract between the connector core and one broker, and the factory that picks one.

An adapter only moves bytes: it knows nothing of models, formats or ordering policy. The core
guarantees it calls `fetch` from one task and `deliver` from one other task, one call at a time
each, and hands `deliver` each partition's messages in the order `fetch` returned them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from naiad.streams.messages import BrokerMessage, OutgoingMessage
from naiad.streams.spec import StreamSpec


class BrokerAdapter(Protocol):
    async def connect(self) -> None:
        """Connects, and joins the group (creating it, or the log, where the broker needs it).
        Raises OSError or the client's error when the broker cannot be reached."""
        ...

    async def fetch(self, max_count: int, timeout_s: float) -> list[BrokerMessage]:
        """Up to `max_count` messages, waiting at most about `timeout_s` for the first; [] when
        none came. After a restart this first returns what the group had read and not
        acknowledged (the at-least-once tail)."""
        ...

    async def deliver(
        self, outgoing: Sequence[OutgoingMessage], consumed: Sequence[BrokerMessage]
    ) -> None:
        """Produces `outgoing` (in order within each partition), waits until the broker has
        acknowledged every one, then acknowledges `consumed` (commits offsets, XACKs, acks).
        Raises when a message could not be produced: then nothing of `consumed` is
        acknowledged, and the broker will hand it out again."""
        ...

    async def lag(self) -> dict[str, int]:
        """Messages not yet read by the group, per partition (best effort)."""
        ...

    async def close(self) -> None:
        """Leaves the group and disconnects; what was not acknowledged stays with the broker."""
        ...


def open_adapter(spec: StreamSpec) -> BrokerAdapter:
    """The adapter for `spec.broker`; ValueError naming the extra when its client is missing."""
    try:
        if spec.scheme == "kafka":
            from naiad.streams.kafka import KafkaAdapter

            return KafkaAdapter(spec)
        if spec.scheme == "redis":
            from naiad.streams.redis_streams import RedisStreamsAdapter

            return RedisStreamsAdapter(spec)
        from naiad.streams.nats_jetstream import JetStreamAdapter

        return JetStreamAdapter(spec)
    except ModuleNotFoundError as missing:
        raise ValueError(
            f"{spec.scheme} streams need their client ({missing.name}):"
            f" pip install 'naiad[{spec.scheme}]'"
        ) from None
