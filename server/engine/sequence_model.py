"""A stateful model version: requests go through the native sequence batcher, state stays here.

A request's path: `submit` admits it (validation.admit, then sequence_ids for its flags),
stores it in the PendingTable and enqueues it under its sequence's key; one thread per
instance pulls that instance's batches (native SequenceBatcher.next_batch, GIL released),
assembles them (sequence_rows: inputs, control tensors, each slot's state), runs the model,
writes the state outputs back to the slots and hands the answers back (delivery.deliver).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence

import numpy as np

from naiad import native
from naiad.config.settings import ModelSettings
from naiad.engine.batch_runner import Answers
from naiad.engine.delivery import inbox_for
from naiad.engine.pending import Outcome, Pending, PendingTable
from naiad.engine.request import InferOutput, InferRequest, InferResponse
from naiad.engine.sequence_ids import sequence_flags
from naiad.engine.sequence_rows import SlotStates, model_inputs
from naiad.engine.validation import admit
from naiad.errors import InvalidArgument, NaiadError, RunFailed, Unavailable
from naiad.runtime.model import Model
from naiad_protocol import model_config_pb2

log = logging.getLogger("naiad.engine")
_KEY_MASK = (1 << 64) - 1
Row = tuple[Pending | None, int, bool, bool]


class SequenceModel:
    """Accepts the requests of one stateful model version; same face as ServedModel."""

    inline = False

    def __init__(
        self,
        settings: ModelSettings,
        config: model_config_pb2.ModelConfig,
        instances: Sequence[Model],
        *,
        clock: native.ManualClock | native.SteadyClock | None = None,
    ) -> None:
        """`clock`: the batcher's clock (a ManualClock in tests)."""
        assert settings.sequence is not None
        self.settings = settings
        self.config = config
        self._policy = settings.sequence
        self._batcher = native.SequenceBatcher(
            native.sequence_options(self._policy, settings.max_batch_size, len(instances)),
            clock or native.SteadyClock(),
        )
        self._table = PendingTable()
        self._ids: dict[int, int | str] = {}
        self._instances = list(instances)
        self.stopping = False
        name = f"naiad-{settings.name}-{settings.version}"
        self._threads = [
            threading.Thread(
                target=self._serve, args=(i, model), name=f"{name}-sequence{i}", daemon=True
            )
            for i, model in enumerate(self._instances)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, request: InferRequest) -> asyncio.Future[InferResponse]:
        """Validates and queues `request` behind the earlier ones of its sequence.

        Raises InvalidArgument for a bad request, a bad or missing sequence id, or a request of
        a sequence that is not live and does not START; Unavailable when a new sequence finds
        every slot and the backlog taken, or the model is unloading. Accepted requests always
        run (a sequence's state depends on each), even when the caller leaves.
        """
        name = self.settings.name
        try:
            admission = admit(request, self.settings)
            flags = sequence_flags(request, name, self._policy)
            if self.settings.batches and admission.rows != 1:
                raise InvalidArgument(
                    f"inference request to model '{name}' must specify batch-size 1 due to"
                    " requirements of sequence batcher"
                )
        except InvalidArgument:
            self._batcher.record_failure(native.FailureReason.OTHER)
            raise
        loop = asyncio.get_running_loop()
        future: asyncio.Future[InferResponse] = loop.create_future()
        pending = Pending(admission, request.id, future, inbox_for(loop), time.perf_counter_ns())
        task_id = self._table.add(pending)
        self._ids[task_id] = flags.sequence_id
        # Requests giving different optional inputs never share a batch.
        shape_key = hash((admission.shape_key, tuple(admission.inputs))) & _KEY_MASK
        try:
            result = self._batcher.enqueue(task_id, flags.key, flags.start, flags.end, shape_key)
        except BaseException:
            self._forget(task_id)
            raise
        if result is native.SequenceEnqueueResult.OK:
            return future
        self._forget(task_id)
        if result is native.SequenceEnqueueResult.NOT_STARTED:
            raise InvalidArgument(
                f"inference request for sequence {flags.sequence_id} to model '{name}' must"
                " specify the START flag on the first request of the sequence"
            )
        if result is native.SequenceEnqueueResult.BACKLOG_FULL:
            raise Unavailable(
                f"inference request for sequence {flags.sequence_id} to model '{name}' rejected:"
                " every sequence slot is taken and the backlog is full"
            )
        raise Unavailable(f"model '{name}' is unloading")

    def stats(self) -> native.Stats:
        return self._batcher.stats()

    def ready(self) -> bool:
        return True

    def poke(self) -> None:
        """Wakes the instance threads so they re-read the clock: what a test calls after moving
        a ManualClock (a steady clock's deadlines wake them by themselves)."""
        self._batcher.poke()

    def stop(self) -> None:
        """Stops accepting, runs every accepted request, then releases the instances. Blocks."""
        self.stopping = True
        self._batcher.close()
        for thread in self._threads:
            thread.join()
        for model in self._instances:
            model.close()
        self._instances.clear()

    def _forget(self, task_id: int) -> None:
        self._table.drop(task_id)
        self._ids.pop(task_id, None)

    def _serve(self, instance: int, model: Model) -> None:
        states = SlotStates(self._policy, self.settings.batches)
        while (batch := self._batcher.next_batch(instance)) is not None:
            for slot in batch.released_slots:
                states.free(slot)
            self._run(model, batch, states).hand_back()

    def _run(self, model: Model, batch: native.SequenceBatch, states: SlotStates) -> Answers:
        settings = self.settings
        rows: list[Row] = []
        ids: list[int | str | None] = []
        for row in batch.rows:
            task = self._table.take((row.task_id,))[0] if row.task_id else None
            ids.append(self._ids.pop(row.task_id) if row.task_id else None)
            rows.append((task, row.slot, row.start, row.end))
        tasks = [task for task, _, _, _ in rows if task is not None]
        clock = time.perf_counter_ns
        t0 = clock()
        t1 = t2 = -1
        try:
            inputs = model_inputs(rows, ids, self._policy, states, settings.batches)
            names = list(dict.fromkeys(n for t in tasks for n in t.admission.output_names))
            names += [s.output_name for s in self._policy.states]
            t1 = clock()
            arrays = dict(zip(names, model.run(inputs, names), strict=True))
            t2 = clock()
            outcomes = self._scatter(rows, arrays, states)
            ok = True
        except Exception as exc:  # noqa: BLE001 - a failing model must not kill its thread
            log.warning(
                "model '%s' version %d failed a sequence batch: %s",
                settings.name,
                settings.version,
                exc,
            )
            message = exc.message if isinstance(exc, NaiadError) else str(exc)
            outcomes = [RunFailed(f"model '{settings.name}' failed: {message}")] * len(tasks)
            ok = False
        t3 = clock()
        t1 = t3 if t1 < 0 else t1
        t2 = t3 if t2 < 0 else t2
        self._batcher.finish_batch(batch.batch_id, ok, t1 - t0, t2 - t1, t3 - t2)
        if ok:
            for task, outcome in zip(tasks, outcomes, strict=True):
                outcome.queue_us = (t0 - task.submitted_ns) // 1000  # type: ignore[union-attr]
                outcome.compute_us = (t3 - t0) // 1000  # type: ignore[union-attr]
        return Answers(tasks, outcomes)

    def _scatter(
        self, rows: list[Row], arrays: dict[str, np.ndarray], states: SlotStates
    ) -> list[Outcome]:
        settings = self.settings
        version = str(settings.version)
        outcomes: list[Outcome] = []
        for index, (task, slot, _, end) in enumerate(rows):
            if task is None:
                continue
            for state in self._policy.states:
                value = arrays[state.output_name]
                kept = value[index : index + 1] if settings.batches else value
                states.keep(slot, state, kept.copy())
            if end:
                states.free(slot)
            outputs = []
            for name in task.admission.output_names:
                array = arrays[name]
                if settings.batches:
                    array = array[index : index + 1]
                spec = settings.output(name)
                assert spec is not None
                outputs.append(InferOutput(name, spec.datatype, array))
            outcomes.append(InferResponse(settings.name, version, task.request_id, outputs))
        return outcomes
