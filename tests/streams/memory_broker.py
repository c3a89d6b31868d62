"""An in-memory BrokerAdapter for the core's unit tests: the real brokers are in
test_stream_brokers.py; this one can refuse deliveries on demand."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

from naiad.streams.messages import BrokerMessage, OutgoingMessage


class MemoryBroker:
    def __init__(self, messages: Sequence[BrokerMessage], refusals: int = 0) -> None:
        self.waiting = deque(messages)
        self.produced: list[OutgoingMessage] = []
        self.acknowledged: list[BrokerMessage] = []
        self.refusals = refusals
        """How many deliver calls fail before they start succeeding."""
        self.rounds = 0

    async def connect(self) -> None:
        pass

    async def fetch(self, max_count: int, timeout_s: float) -> list[BrokerMessage]:
        if not self.waiting:
            await asyncio.sleep(0)  # nothing arrives here later: do not spin the loop dry
            return []
        count = min(max_count, len(self.waiting))
        return [self.waiting.popleft() for _ in range(count)]

    async def deliver(
        self, outgoing: Sequence[OutgoingMessage], consumed: Sequence[BrokerMessage]
    ) -> None:
        self.rounds += 1
        self.produced.extend(outgoing)
        if self.refusals:
            self.refusals -= 1
            raise ConnectionError("the broker refused the round")
        self.acknowledged.extend(consumed)

    async def lag(self) -> dict[str, int]:
        return {"p0": len(self.waiting)}

    async def close(self) -> None:
        pass
