"""The one place answers reach their callers: `deliver` settles the futures of a batch's tasks.

A caller awaits its future on its own event loop. Answers produced on that loop's thread (a
cheap model running inline, a queue timeout noticed there) settle at once; answers produced on
any other thread (instance workers, the timeout thread, a thread stopping the model) are
queued in the loop's Inbox, which wakes the loop through an eventfd and settles them there.
"""

from __future__ import annotations

import asyncio
import collections
import os
import weakref
from collections.abc import Sequence
from typing import Any

from naiad.engine.pending import Outcome, Pending
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
    """One per event loop: finished answers from other threads, and an eventfd the loop watches.

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


def deliver(tasks: Sequence[Pending], outcomes: Sequence[Outcome]) -> None:
    """Settles each task's future with its outcome, from any thread: directly when called on
    the caller's loop thread, else through that loop's inbox (one wake-up per loop)."""
    # asyncio's own fast lookup of the loop running on this thread, None on a worker thread.
    here = asyncio._get_running_loop()
    if len(tasks) == 1:  # the common unbatched case, without grouping
        inbox = tasks[0].inbox
        if here is not None and inbox.loop is here:
            settle((tasks[0].future,), outcomes)
        else:
            inbox.post((tasks[0].future,), outcomes)
        return
    by_inbox: dict[Inbox, tuple[list[asyncio.Future[Any]], list[Outcome]]] = {}
    for task, outcome in zip(tasks, outcomes, strict=True):
        group = by_inbox.setdefault(task.inbox, ([], []))
        group[0].append(task.future)
        group[1].append(outcome)
    for inbox, (futures, group_outcomes) in by_inbox.items():
        if here is not None and inbox.loop is here:
            settle(futures, group_outcomes)
        else:
            inbox.post(futures, group_outcomes)
