"""Where sampled requests wait for the monitor's worker: a bounded hand-over that never wakes it.

The event loop appends; the worker collects every `collect_s` (monitoring is never urgent).
A queue.Queue would wake the waiting worker on each put, and each wake-up takes the GIL from
the event loop for a thread switch that does nothing but wait again: at a few hundred samples
a second that switching, not the reading, was most of what monitoring cost. Here an offer is
one deque append and an integer increment, and the worker wakes on its own clock, or at once
when someone waits for it (`drain`, `close`).
"""

from __future__ import annotations

import collections
import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class SampleInbox(Generic[T]):
    """Holds at most `max_items` items; `offer` from one thread (the event loop), `collect`
    from one worker thread, `drain` and `close` from any."""

    def __init__(self, max_items: int, collect_s: float) -> None:
        self._items: collections.deque[T] = collections.deque()
        self._max_items = max_items
        self._collect_s = collect_s
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._num_offered = 0
        self._num_done = 0
        self._closed = False

    def offer(self, item: T) -> bool:
        """Queues `item`; False when the inbox is full (the item is not kept). Never blocks."""
        if len(self._items) >= self._max_items:
            return False
        self._items.append(item)
        self._num_offered += 1
        return True

    def collect(self, max_items: int) -> list[T] | None:
        """Waits up to collect_s (less when woken), then takes up to `max_items` items, oldest
        first; None once closed and empty. Call `processed` with the number taken."""
        if not self._items and not self._closed:
            self._wake.wait(self._collect_s)
            self._wake.clear()
        items = self._items
        taken = [items.popleft() for _ in range(min(max_items, len(items)))]
        if not taken and self._closed:
            return None
        return taken

    def processed(self, num: int) -> None:
        with self._done:
            self._num_done += num
            self._done.notify_all()

    def drain(self) -> None:
        """Blocks until every item offered before the call has been processed."""
        target = self._num_offered
        with self._done:
            while self._num_done < target:
                self._wake.set()
                self._done.wait(0.05)

    def close(self) -> None:
        """Lets the worker finish what is queued; `collect` then returns None."""
        self._closed = True
        self._wake.set()
