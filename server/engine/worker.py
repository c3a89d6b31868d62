"""The loop one model instance runs on its own thread: pull a batch, run it, hand answers back."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np

from naiad.config.settings import ModelSettings
from naiad.engine.inbox import Inbox, settle
from naiad.engine.request import InferOutput, InferResponse
from naiad.engine.validation import Admission
from naiad.errors import NaiadError
from naiad.native import Batch, Scheduler
from naiad.runtime.model import Model

log = logging.getLogger("naiad.engine")


@dataclass(slots=True)
class Pending:
    """A queued request: its admitted inputs and the future its caller awaits."""

    admission: Admission
    request_id: str
    future: asyncio.Future[InferResponse]
    inbox: Inbox
    """Where the answer goes: the inbox of the loop the caller awaits on."""
    submitted_ns: int
    """time.perf_counter_ns() at submit."""


Outcome: TypeAlias = InferResponse | NaiadError


class Delivery:
    """A finished batch's answers, handed back at most once."""

    __slots__ = ("tasks", "outcomes")

    def __init__(self, tasks: list[Pending], outcomes: list[Outcome]) -> None:
        self.tasks = tasks
        self.outcomes = outcomes

    def hand_back(self) -> None:
        if self.tasks:
            deliver(self.tasks, self.outcomes)
            self.tasks = []


def serve_batches(
    scheduler: Scheduler,
    model: Model,
    settings: ModelSettings,
    take: Callable[[list[int]], list[Pending]],
) -> None:
    """Runs batches until the scheduler is closed and drained. Never raises.

    While the next batch is ready, a batch's answers are handed back only once that next batch
    is gathered, just before it runs: waking the event loop makes it compete for the GIL, and
    its work on the answers then overlaps the model's run instead of holding the instance idle.
    """
    previous: Delivery | None = None
    while True:
        batch = scheduler.try_next_batch()
        if batch is None:
            if previous is not None:
                previous.hand_back()  # nothing to overlap with: answer now
            if (batch := scheduler.next_batch()) is None:
                return
        before_run = previous.hand_back if previous is not None else None
        try:
            done = run_batch(scheduler, model, settings, take(batch.task_ids), batch, before_run)
        finally:
            if previous is not None:
                previous.hand_back()  # no-op unless the batch failed before running
        previous = Delivery(*done)


def run_batch(
    scheduler: Scheduler,
    model: Model,
    settings: ModelSettings,
    tasks: list[Pending],
    batch: Batch,
    before_run: Callable[[], None] | None = None,
) -> tuple[list[Pending], list[Outcome]]:
    """Runs one batch and reports it to the scheduler; returns each task's outcome.

    `before_run` is called once the inputs are gathered, right before the model runs.
    """
    clock = time.perf_counter_ns
    t0 = clock()
    t1 = t2 = t0
    try:
        output_names = _union_of_outputs(tasks)
        inputs = _gather(tasks)
        t1 = clock()
        if before_run is not None:
            before_run()
        arrays = model.run(inputs, output_names)
        t2 = clock()
        outcomes: list[Outcome] = _scatter(
            tasks, dict(zip(output_names, arrays, strict=True)), settings
        )
        ok = True
    except Exception as exc:  # noqa: BLE001 - a failing model must not kill its worker
        log.warning(
            "model '%s' version %d failed a batch: %s", settings.name, settings.version, exc
        )
        error = (
            exc
            if isinstance(exc, NaiadError)
            else NaiadError(f"model '{settings.name}' failed: {exc}")
        )
        outcomes = [error] * len(tasks)
        ok = False
    t3 = clock()
    scheduler.finish_batch(batch.batch_id, ok, t1 - t0, t2 - t1, t3 - t2)
    if ok:
        compute_us = (t3 - t0) // 1000
        for task, outcome in zip(tasks, outcomes, strict=True):
            outcome.queue_us = (t0 - task.submitted_ns) // 1000  # type: ignore[union-attr]
            outcome.compute_us = compute_us  # type: ignore[union-attr]
    return tasks, outcomes


def deliver(tasks: list[Pending], outcomes: list[Outcome]) -> None:
    """Settles the tasks' futures: directly on their own loop's thread, else through the loop's
    inbox (one wake-up per loop, normally one per batch)."""
    try:
        here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        here = None  # a worker thread
    by_inbox: dict[Inbox, tuple[list[asyncio.Future[InferResponse]], list[Outcome]]] = {}
    for task, outcome in zip(tasks, outcomes, strict=True):
        group = by_inbox.setdefault(task.inbox, ([], []))
        group[0].append(task.future)
        group[1].append(outcome)
    for inbox, (futures, group_outcomes) in by_inbox.items():
        if inbox.loop is here:
            settle(futures, group_outcomes)
        else:
            inbox.post(futures, group_outcomes)


def _union_of_outputs(tasks: list[Pending]) -> list[str]:
    first = tasks[0].admission.output_names
    if all(t.admission.output_names == first for t in tasks):
        return list(first)
    names: dict[str, None] = {}
    for task in tasks:
        names.update(dict.fromkeys(task.admission.output_names))
    return list(names)


def _gather(tasks: list[Pending]) -> dict[str, np.ndarray]:
    if len(tasks) == 1:
        return tasks[0].admission.inputs
    names = tasks[0].admission.inputs.keys()
    # np.concatenate is one C-level copy per input; the scheduler never mixes shapes in a batch.
    return {name: np.concatenate([t.admission.inputs[name] for t in tasks]) for name in names}


def _scatter(
    tasks: list[Pending], outputs: dict[str, np.ndarray], settings: ModelSettings
) -> list[Outcome]:
    total_rows = sum(t.admission.rows for t in tasks)
    if settings.batches:
        for name, array in outputs.items():
            if array.ndim == 0 or array.shape[0] != total_rows:
                raise NaiadError(
                    f"model '{settings.name}' returned output '{name}' with shape"
                    f" {list(array.shape)}, expected a first dimension of {total_rows}"
                )
    results: list[Outcome] = []
    offset = 0
    version = str(settings.version)
    for task in tasks:
        rows = task.admission.rows
        sliced = len(tasks) > 1
        response_outputs = []
        for name in task.admission.output_names:
            array = outputs[name]
            if sliced:
                array = array[offset : offset + rows]
            spec = settings.output(name)
            assert spec is not None
            response_outputs.append(InferOutput(name, spec.datatype, array))
        offset += rows
        results.append(InferResponse(settings.name, version, task.request_id, response_outputs))
    return results
