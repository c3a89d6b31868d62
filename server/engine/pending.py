"""Requests a model version has accepted and not yet answered, by the scheduler's task id."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from naiad.engine.request import InferResponse
from naiad.engine.validation import Admission
from naiad.errors import NaiadError

if TYPE_CHECKING:
    from naiad.engine.delivery import Inbox

Outcome: TypeAlias = InferResponse | NaiadError


@dataclass(slots=True)
class Pending:
    """A queued request: its admitted inputs and the future its caller awaits."""

    admission: Admission
    request_id: str
    future: asyncio.Future[InferResponse]
    inbox: Inbox
    """Where the answer goes when it is produced off the caller's loop."""
    submitted_ns: int
    """time.perf_counter_ns() at submit."""


class PendingTable:
    """Task id -> Pending, shared by the submitting loop and the threads that answer.

    Ownership: `add` runs before the task is enqueued, so whoever the scheduler hands the id
    to finds it. The native scheduler then hands every task id out exactly once (in a batch,
    as expired by its queue timeout, or to a cancel() that returned True), and only that
    receiver removes it: no entry is ever touched by two threads at once after it is added.

    So no lock guards the entries: each change is one dict operation (a store or a pop), which
    CPython makes atomic, under the GIL and with the per-object locks of free-threaded builds.
    A lock here was measured to hurt: a worker that found it held by the loop thread waited for
    the GIL on waking, up to a switch interval per batch. Only the id counter has a lock, and
    only submitters (event-loop threads) take it.
    """

    def __init__(self) -> None:
        self._tasks: dict[int, Pending] = {}
        self._ids = itertools.count(1)
        self._ids_lock = threading.Lock()

    def add(self, pending: Pending) -> int:
        """Stores `pending` under a new task id and returns the id."""
        with self._ids_lock:
            task_id = next(self._ids)
        self._tasks[task_id] = pending
        return task_id

    def take(self, task_ids: Iterable[int]) -> list[Pending]:
        """Removes and returns the entries of ids the scheduler handed to the caller; each
        must be present (KeyError otherwise: a task answered twice)."""
        pop = self._tasks.pop
        return [pop(task_id) for task_id in task_ids]

    def drop(self, task_id: int) -> None:
        """Forgets a task that was never queued (the scheduler refused it) or was cancelled."""
        self._tasks.pop(task_id, None)

    def __len__(self) -> int:
        return len(self._tasks)
