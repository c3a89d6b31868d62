"""Answers leave in the order their inputs arrived, per partition, whatever order they finish in."""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass

from naiad.engine.request import InferResponse
from naiad.streams.messages import BrokerMessage


@dataclass(slots=True)
class Slot:
    """One consumed message on its way: in inference, or already rejected."""

    message: BrokerMessage
    future: asyncio.Future[InferResponse] | None = None
    rejection: tuple[str, str] | None = None
    """(stage, reason) of a message that never reached the model."""

    def done(self) -> bool:
        return self.future is None or self.future.done()


class InOrder:
    """Slots by partition, in arrival order; hands out each partition's finished head run."""

    def __init__(self) -> None:
        self._queues: dict[str, collections.deque[Slot]] = {}
        self._count = 0

    def push(self, slot: Slot) -> None:
        queue = self._queues.get(slot.message.partition)
        if queue is None:
            queue = self._queues[slot.message.partition] = collections.deque()
        queue.append(slot)
        self._count += 1

    def pop_ready(self) -> list[Slot]:
        """Every slot that is done and has only done slots before it in its partition, in
        partition order; a partition whose head is still running waits, the others go on."""
        ready: list[Slot] = []
        emptied: list[str] = []
        for partition, queue in self._queues.items():
            while queue and queue[0].done():
                ready.append(queue.popleft())
            if not queue:
                emptied.append(partition)
        for partition in emptied:
            del self._queues[partition]
        self._count -= len(ready)
        return ready

    def __len__(self) -> int:
        return self._count
