"""The served ensemble: what the engine calls for a model whose platform is "ensemble".

It has no instances. Each request is admitted against the ensemble's own inputs, then runs
through the graph (run.py) with each step queued at its member. The ensemble's own statistics
are counted by a native Scheduler of its own, with batching off: each request is one task
taken at once as a batch of one, finished with the request's whole time as its compute time.
So ModelStatistics, the metrics and the ledger read an ensemble exactly as any model, and the
members keep their own counts.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time

from naiad.config.settings import BatchingPolicy, ModelSettings
from naiad.engine.context import INTERNAL
from naiad.engine.execution import Clock
from naiad.engine.protocol import InferenceEngine
from naiad.engine.request import InferRequest, InferResponse
from naiad.engine.validation import admit
from naiad.ensemble.graph import EnsembleGraph
from naiad.ensemble.run import Tensor, run_graph
from naiad.errors import InvalidArgument, Unavailable
from naiad.native import (
    EnqueueResult,
    FailureReason,
    Scheduler,
    Stats,
    SteadyClock,
    scheduler_options,
)
from naiad_protocol.model_config_pb2 import ModelConfig


class EnsembleModel:
    """Serves one ensemble version through `engine` (the core engine, where its members are).

    stop() stops accepting and waits for the requests already accepted.
    """

    def __init__(
        self,
        settings: ModelSettings,
        config: ModelConfig,
        graph: EnsembleGraph,
        engine: InferenceEngine,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        self._graph = graph
        self._engine = engine
        options = scheduler_options(BatchingPolicy(), settings.max_batch_size)
        self._counter = Scheduler(options, clock or SteadyClock())
        self._ids = itertools.count(1)
        self._in_flight = 0
        self._idle = threading.Condition()
        self.stopping = False
        """Set when stop() begins."""

    def submit(self, request: InferRequest) -> asyncio.Future[InferResponse]:
        """Validates `request` against the ensemble's inputs and starts it through the graph.

        Raises InvalidArgument for a bad request and Unavailable once stopping; a step's error
        resolves the future with that error. Cancelling the future cancels the running steps.
        """
        try:
            admission = admit(request, self.settings)
        except InvalidArgument:
            self._counter.record_failure(FailureReason.OTHER)
            raise
        task_id = next(self._ids)
        if self._counter.enqueue(task_id, admission.rows, 0) is not EnqueueResult.OK:
            raise Unavailable(f"model '{self.settings.name}' is unloading")
        batch = self._counter.try_next_batch()
        # Batching is off and the loop thread enqueues and takes in one go: the batch is ours.
        assert batch is not None and batch.task_ids == [task_id]
        inputs = {
            tensor.name: (tensor.datatype, admission.inputs[tensor.name])
            for tensor in request.inputs
        }
        with self._idle:
            self._in_flight += 1
        started = time.perf_counter_ns()
        task = asyncio.get_running_loop().create_task(
            self._run(request, inputs, admission.output_names, started)
        )
        # A callback, not the coroutine's finally: a task cancelled before it ever ran must
        # be counted and released too.
        task.add_done_callback(lambda done: self._finished(done, batch.batch_id, started))
        return task

    def ready(self) -> bool:
        """Whether every member serves the version a step names."""
        return all(
            self._engine.model_ready(step.model_name, step.version, INTERNAL)
            for step in self._graph.steps
        )

    def stats(self) -> Stats:
        return self._counter.stats()

    def stop(self) -> None:
        """Stops accepting and waits for the accepted requests. Blocks: call it off the loop."""
        self.stopping = True
        self._counter.close()
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0)

    async def _run(
        self,
        request: InferRequest,
        inputs: dict[str, Tensor],
        output_names: tuple[str, ...],
        started: int,
    ) -> InferResponse:
        outputs = await run_graph(self._graph, self._engine, request, inputs, output_names)
        return InferResponse(
            self.settings.name,
            str(self.settings.version),
            request.id,
            outputs,
            compute_us=(time.perf_counter_ns() - started) // 1000,
        )

    def _finished(self, task: asyncio.Task[InferResponse], batch_id: int, started: int) -> None:
        succeeded = not task.cancelled() and task.exception() is None
        elapsed = time.perf_counter_ns() - started
        self._counter.finish_batch(batch_id, succeeded, 0, elapsed, 0)
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()
