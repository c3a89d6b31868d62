"""Running one batch: gather the tasks' inputs, run the model, scatter its outputs.

Every batch of every model goes through BatchRunner.run, whichever execution strategy
(execution.py) pulled it and on whichever thread; its answers go back through delivery.deliver.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from naiad.config.settings import ModelSettings
from naiad.engine.delay_tuner import DelayTuner
from naiad.engine.delivery import deliver
from naiad.engine.pending import Outcome, Pending, PendingTable
from naiad.engine.request import InferOutput, InferResponse
from naiad.errors import NaiadError, RunFailed
from naiad.native import Batch, Scheduler
from naiad.runtime.model import Model

log = logging.getLogger("naiad.engine")


class Answers:
    """A finished batch's answers, handed back at most once."""

    __slots__ = ("tasks", "outcomes")

    def __init__(self, tasks: list[Pending], outcomes: list[Outcome]) -> None:
        self.tasks = tasks
        self.outcomes = outcomes

    def hand_back(self) -> None:
        if self.tasks:
            deliver(self.tasks, self.outcomes)
            self.tasks = []


class BatchRunner:
    """Runs the batches of one model version and reports each to its scheduler."""

    def __init__(
        self,
        scheduler: Scheduler,
        settings: ModelSettings,
        table: PendingTable,
        tuner: DelayTuner | None = None,
    ) -> None:
        self._scheduler = scheduler
        self._settings = settings
        self._table = table
        self._tuner = tuner

    def run(
        self, model: Model, batch: Batch, before_run: Callable[[], None] | None = None
    ) -> Answers:
        """Runs `batch` on `model`; returns its answers, not yet handed back. Never raises for
        a failing model: its tasks get the error.

        `before_run` is called once the inputs are gathered, right before the model runs.
        """
        settings = self._settings
        tasks = self._table.take(batch.task_ids)
        clock = time.perf_counter_ns
        t0 = clock()
        t1 = t2 = -1  # set as each phase ends
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
        except Exception as exc:  # noqa: BLE001 - a failing model must not kill its runner
            log.warning(
                "model '%s' version %d failed a batch: %s", settings.name, settings.version, exc
            )
            # Marked as the run's failure, the code kept: the caller sees what it saw before,
            # and a rollout can tell a failing version from a rejected request.
            error = (
                RunFailed(exc.message, exc.code)
                if isinstance(exc, NaiadError)
                else RunFailed(f"model '{settings.name}' failed: {exc}")
            )
            outcomes = [error] * len(tasks)
            ok = False
        t3 = clock()
        # A failure ends the phases it interrupted at t3: no duration is ever negative.
        t1 = t3 if t1 < 0 else t1
        t2 = t3 if t2 < 0 else t2
        self._scheduler.finish_batch(batch.batch_id, ok, t1 - t0, t2 - t1, t3 - t2)
        if self._tuner is not None:
            self._tuner.maybe_tune()
        if ok:
            compute_us = (t3 - t0) // 1000
            for task, outcome in zip(tasks, outcomes, strict=True):
                outcome.queue_us = (t0 - task.submitted_ns) // 1000  # type: ignore[union-attr]
                outcome.compute_us = compute_us  # type: ignore[union-attr]
        return Answers(tasks, outcomes)


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
