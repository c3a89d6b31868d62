"""Where worker threads leave finished batches for the event loop whose callers await them."""

from __future__ import annotations

import asyncio
import collections
import os
import weakref
from collections.abc import Sequence
from typing import Any

from naiad.native import signal_eventfd

Futures = Sequence["asyncio.Future[Any]"]
Outcomes = Sequence[Any]
"""A result for each future, or the exception it should raise."""


def settle(futures: Futures, outcomes: Outcomes) -> None:
    """Resolves each future with its outcome; one whose caller left is skipped."""
    for future, outcome in zip(futures, outcomes, strict=True):
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class Inbox:
    """One per event loop: a queue of finished batches and an eventfd the loop watches.

    post() may be called from any thread. It wakes the loop without giving up the GIL (unlike
    call_soon_threadsafe, whose wake-up write releases it and so hands the GIL to the loop that
    has just woken): the posting worker keeps running Python until it next blocks, typically
    inside the model's next run, and the loop's work on the answers overlaps that run.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)  # the registry below must not keep the loop alive
        self._batches: collections.deque[tuple[Futures, Outcomes]] = collections.deque()
        self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        loop.add_reader(self._fd, self._drain)
        # The descriptor lives as long as the loop object: post() holds the loop while it
        # writes, so it never writes to a closed (and perhaps reused) descriptor.
        weakref.finalize(loop, os.close, self._fd)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop this inbox belongs to; None once it is gone."""
        return self._loop()

    def post(self, futures: Futures, outcomes: Outcomes) -> None:
        """Queues one batch's answers and wakes the loop, which settles them in order."""
        loop = self._loop()
        if loop is None or loop.is_closed():
            return  # nobody is waiting any more
        self._batches.append((futures, outcomes))
        signal_eventfd(self._fd)

    def _drain(self) -> None:
        try:
            os.eventfd_read(self._fd)
        except BlockingIOError:
            pass  # another drain already took the signal; its batches may still be queued
        batches = self._batches
        while batches:
            settle(*batches.popleft())


_inboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Inbox] = weakref.WeakKeyDictionary()


def inbox_for(loop: asyncio.AbstractEventLoop) -> Inbox:
    """`loop`'s Inbox, created on first use; call it on `loop`'s own thread."""
    inbox = _inboxes.get(loop)
    if inbox is None:
        inbox = _inboxes[loop] = Inbox(loop)
    return inbox
