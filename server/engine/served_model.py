"""One loaded model version: its scheduler, its instances and the threads that run them."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Sequence

from naiad.config.settings import ModelSettings
from naiad.engine.request import InferRequest, InferResponse
from naiad.engine.validation import admit
from naiad.engine.worker import Pending, deliver, serve_batches
from naiad.errors import InvalidArgument, Unavailable
from naiad.native import EnqueueResult, FailureReason, Scheduler, Stats, scheduler_options
from naiad.runtime.model import Model
from naiad_protocol import model_config_pb2

log = logging.getLogger("naiad.engine")


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
            admission, request.id, future, loop, time.perf_counter_ns()
        )
        result = self._scheduler.enqueue(
            task_id,
            admission.rows,
            admission.shape_key,
            min(admission.priority, self._levels),
            admission.timeout_us,
        )
        if result is not EnqueueResult.OK:
            del self._pending[task_id]
            if result is EnqueueResult.QUEUE_FULL:
                raise Unavailable(
                    f"inference request for model '{self.settings.name}' rejected: queue is full"
                )
            raise Unavailable(f"model '{self.settings.name}' is unloading")
        future.add_done_callback(lambda f: self._forget_if_cancelled(f, task_id))
        return future

    def stats(self) -> Stats:
        return self._scheduler.stats()

    @property
    def descriptions(self) -> list[str]:
        return [model.description for model in self._instances]

    def stop(self) -> None:
        """Stops accepting, finishes every accepted request, then releases the instances."""
        self._scheduler.close()
        for thread in self._threads:
            thread.join()
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
