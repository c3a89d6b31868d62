"""One loaded model version: its scheduler, its instances and the threads that run them."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Sequence

from naiad.config.settings import ModelSettings
from naiad.engine.inbox import inbox_for
from naiad.engine.request import InferRequest, InferResponse
from naiad.engine.validation import admit
from naiad.engine.worker import Pending, deliver, run_batch, serve_batches
from naiad.errors import InvalidArgument, Unavailable
from naiad.native import EnqueueResult, FailureReason, Scheduler, Stats, scheduler_options
from naiad.runtime.model import Model
from naiad_protocol import model_config_pb2

log = logging.getLogger("naiad.engine")

INLINE_BELOW_NS = 50_000
"""A model whose batch-1 run takes less than this runs ready batches on the event loop."""


class ServedModel:
    """Accepts requests for one model version and answers them through its instances.

    Requests wait in the native scheduler; one worker thread per instance pulls batches with
    the GIL released. stop() closes the queue, lets every accepted request finish, then frees
    the instances.
    """

    def __init__(
        self,
        settings: ModelSettings,
        config: model_config_pb2.ModelConfig,
        instances: Sequence[Model],
        scheduler: Scheduler | None = None,
        run_cost_ns: int | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        self._instances = list(instances)
        self._scheduler = scheduler or Scheduler(
            scheduler_options(settings.batching, settings.max_batch_size)
        )
        self._levels = max(1, settings.batching.priority_levels)
        self._pending: dict[int, Pending] = {}
        self._ids = itertools.count(1)
        self._inline = run_cost_ns is not None and run_cost_ns < INLINE_BELOW_NS
        self._inline_scheduled = False
        self._inline_lock = threading.Lock()
        self._threads = [
            threading.Thread(
                target=serve_batches,
                args=(self._scheduler, model, settings, self._take),
                name=f"naiad-{settings.name}-{settings.version}-instance{i}",
                daemon=True,
            )
            for i, model in enumerate(self._instances)
        ]
        self._threads.append(
            threading.Thread(
                target=self._reject_expired,
                name=f"naiad-{settings.name}-{settings.version}-timeouts",
                daemon=True,
            )
        )
        for thread in self._threads:
            thread.start()

    def submit(self, request: InferRequest) -> asyncio.Future[InferResponse]:
        """Validates and queues `request`; the future resolves with its answer or its error.

        Raises InvalidArgument for a bad request and Unavailable when the queue is full or
        closed. Cancelling the future removes the request from the queue if it is still there.
        """
        try:
            admission = admit(request, self.settings)
        except InvalidArgument:
            self._scheduler.record_failure(FailureReason.OTHER)
            raise
        loop = asyncio.get_running_loop()
        future: asyncio.Future[InferResponse] = loop.create_future()
        task_id = next(self._ids)
        self._pending[task_id] = Pending(
            admission, request.id, future, inbox_for(loop), time.perf_counter_ns()
        )
        result = self._scheduler.enqueue(
            task_id,
            admission.rows,
            admission.shape_key,
            min(admission.priority, self._levels),
            admission.timeout_us,
            wake_consumer=not self._inline,
        )
        if result is not EnqueueResult.OK:
            del self._pending[task_id]
            if result is EnqueueResult.QUEUE_FULL:
                raise Unavailable(
                    f"inference request for model '{self.settings.name}' rejected: queue is full"
                )
            raise Unavailable(f"model '{self.settings.name}' is unloading")
        future.add_done_callback(lambda f: self._forget_if_cancelled(f, task_id))
        if self._inline and not self._inline_scheduled:
            # Once per loop iteration, so that requests arriving together share the batch.
            self._inline_scheduled = True
            loop.call_soon(self._run_ready_batch_here)
        return future

    def _run_ready_batch_here(self) -> None:
        # A batch this cheap costs less to run on the event loop than two thread hand-offs.
        self._inline_scheduled = False
        with self._inline_lock:  # stop() takes it before it closes the instances
            if not self._instances:
                return
            batch = self._scheduler.try_next_batch()
            if batch is None:
                # Not ready yet (a batching delay runs): the workers wait out the delay.
                self._scheduler.poke()
                return
            tasks = self._take(batch.task_ids)
            model = self._instances[0]
            tasks, outcomes = run_batch(self._scheduler, model, self.settings, tasks, batch)
        if self._scheduler.num_pending and not self._inline_scheduled:
            self._inline_scheduled = True  # more than one batch was waiting
            asyncio.get_running_loop().call_soon(self._run_ready_batch_here)
        deliver(tasks, outcomes)

    def stats(self) -> Stats:
        return self._scheduler.stats()

    def stop(self) -> None:
        """Stops accepting, finishes every accepted request, then releases the instances."""
        self._scheduler.close()
        for thread in self._threads:
            thread.join()
        with self._inline_lock:
            for model in self._instances:
                model.close()
            self._instances.clear()

    def _take(self, task_ids: list[int]) -> list[Pending]:
        pending = self._pending
        return [pending.pop(task_id) for task_id in task_ids]

    def _forget_if_cancelled(self, future: asyncio.Future[InferResponse], task_id: int) -> None:
        if future.cancelled() and self._scheduler.cancel(task_id):
            self._pending.pop(task_id, None)

    def _reject_expired(self) -> None:
        while task_ids := self._scheduler.wait_expired():
            tasks = [t for t in map(self._pending.pop, task_ids, itertools.repeat(None)) if t]
            error = Unavailable(
                f"inference request for model '{self.settings.name}' timed out in the queue"
            )
            deliver(tasks, [error] * len(tasks))
