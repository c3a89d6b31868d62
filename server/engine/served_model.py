"""One loaded model version: admission, its native scheduler, its pending table, its execution.

A request's path: `submit` admits it (validation.admit), stores it in the PendingTable and
enqueues its task; the execution strategy (execution.py, chosen once here) pulls batches and
runs them through the BatchRunner; answers go back through delivery.deliver. A thread parked
in the scheduler's wait_expired() answers the tasks whose queue timeout ran out.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence

from naiad.config.settings import ModelSettings
from naiad.engine.batch_runner import BatchRunner
from naiad.engine.delay_tuner import delay_tuner
from naiad.engine.delivery import deliver, inbox_for
from naiad.engine.execution import Clock, InlineExecution, ThreadedExecution
from naiad.engine.pending import Pending, PendingTable
from naiad.engine.request import InferRequest, InferResponse
from naiad.engine.response_cache import ResponseCache, cacheable, request_key
from naiad.engine.validation import admit
from naiad.errors import InvalidArgument, Unavailable
from naiad.native import (
    EnqueueResult,
    FailureReason,
    Scheduler,
    Stats,
    SteadyClock,
    scheduler_options,
)
from naiad.runtime.model import Model
from naiad_protocol import model_config_pb2

log = logging.getLogger("naiad.engine")

INLINE_BELOW_NS = 50_000
"""A model whose batch-1 run takes less than this runs its batches on the event loop."""


class ServedModel:
    """Accepts requests for one model version and answers them through its instances.

    stop() closes the queue, lets every accepted request finish, then frees the instances.
    """

    def __init__(
        self,
        settings: ModelSettings,
        config: model_config_pb2.ModelConfig,
        instances: Sequence[Model],
        *,
        run_cost_ns: int | None = None,
        clock: Clock | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        """`run_cost_ns`: the measured cost of a batch-1 run; below INLINE_BELOW_NS batches
        run inline on the event loop, otherwise (or when unknown) on one thread per instance.
        `clock`: the scheduler's clock (a ManualClock in tests). `cache`: the server's response
        cache, used when the settings enable it."""
        self.settings = settings
        self.config = config
        self._cache = cache if settings.response_cache else None
        self._cache_scope = self._cache.new_scope() if self._cache is not None else 0
        clock = clock or SteadyClock()
        self._scheduler = Scheduler(
            scheduler_options(settings.batching, settings.max_batch_size), clock
        )
        self._levels = max(1, settings.batching.priority_levels)
        self._table = PendingTable()
        tuner = delay_tuner(self._scheduler, settings.batching, settings.max_batch_size)
        runner = BatchRunner(self._scheduler, settings, self._table, tuner)
        name = f"naiad-{settings.name}-{settings.version}"
        self.inline = run_cost_ns is not None and run_cost_ns < INLINE_BELOW_NS
        self._execution = (
            InlineExecution(self._scheduler, runner, instances, clock)
            if self.inline
            else ThreadedExecution(self._scheduler, runner, instances, name)
        )
        self._timeouts = threading.Thread(
            target=self._reject_expired, name=f"{name}-timeouts", daemon=True
        )
        self._timeouts.start()
        self.stopping = False
        """Set when stop() begins: a refusal from here on means "ask the repository again"."""

    def submit(self, request: InferRequest) -> asyncio.Future[InferResponse]:
        """Validates and queues `request`; the future resolves with its answer or its error.

        Raises InvalidArgument for a bad request and Unavailable when the queue is full or
        closed. Cancelling the future removes the request from the queue if it is still there.
        Call it on the event loop the caller awaits on.
        """
        try:
            admission = admit(request, self.settings)
        except InvalidArgument:
            self._scheduler.record_failure(FailureReason.OTHER)
            raise
        loop = asyncio.get_running_loop()
        future: asyncio.Future[InferResponse] = loop.create_future()
        cache_key, lookup_ns = b"", 0
        if self._cache is not None and cacheable(request):
            started_ns = time.perf_counter_ns()
            cache_key = request_key(self._cache_scope, request, self.settings.version)
            outputs = self._cache.get(cache_key)
            if outputs is not None:
                version = str(self.settings.version)
                future.set_result(
                    InferResponse(self.settings.name, version, request.id, list(outputs))
                )
                self._scheduler.record_cache_hit(time.perf_counter_ns() - started_ns)
                return future
            lookup_ns = time.perf_counter_ns() - started_ns
        pending = Pending(admission, request.id, future, inbox_for(loop), time.perf_counter_ns())
        task_id = self._table.add(pending)
        try:
            result = self._scheduler.enqueue(
                task_id,
                admission.rows,
                admission.shape_key,
                min(admission.priority, self._levels),
                admission.timeout_us,
            )
        except BaseException:
            self._table.drop(task_id)  # never queued: no entry may outlive the call
            raise
        if result is not EnqueueResult.OK:
            self._table.drop(task_id)
            if result is EnqueueResult.QUEUE_FULL:
                raise Unavailable(
                    f"inference request for model '{self.settings.name}' rejected: queue is full"
                )
            raise Unavailable(f"model '{self.settings.name}' is unloading")
        future.add_done_callback(lambda f: self._forget_if_cancelled(f, task_id))
        if cache_key:
            future.add_done_callback(lambda f: self._remember(f, cache_key, lookup_ns))
        self._execution.after_enqueue(loop)
        return future

    def stats(self) -> Stats:
        return self._scheduler.stats()

    def ready(self) -> bool:
        """Whether it can answer now beyond its repository state; an ensemble's says whether
        its members serve, a plain model's is always true."""
        return True

    def stop(self) -> None:
        """Stops accepting, finishes every accepted request, then releases the instances.
        Blocks: call it off the event loop."""
        self.stopping = True
        self._scheduler.close()
        self._execution.stop()
        self._timeouts.join()
        if self._cache is not None:
            self._cache.drop_scope(self._cache_scope)

    def _remember(self, future: asyncio.Future[InferResponse], key: bytes, lookup_ns: int) -> None:
        """Counts the miss once its answer is in, and stores the answer if it succeeded."""
        assert self._cache is not None
        started_ns = time.perf_counter_ns()
        if not future.cancelled() and future.exception() is None:
            self._cache.put(key, self._cache_scope, future.result().outputs)
        self._scheduler.record_cache_miss(lookup_ns + time.perf_counter_ns() - started_ns)

    def _forget_if_cancelled(self, future: asyncio.Future[InferResponse], task_id: int) -> None:
        if future.cancelled() and self._scheduler.cancel(task_id):
            self._table.drop(task_id)

    def _reject_expired(self) -> None:
        message = f"inference request for model '{self.settings.name}' timed out in the queue"
        while task_ids := self._scheduler.wait_expired():
            tasks = self._table.take(task_ids)
            deliver(tasks, [Unavailable(message) for _ in tasks])
