"""Where a model version's batches run: chosen once, when the version loads.

- ThreadedExecution: one thread per instance, each waiting in the scheduler's next_batch()
  with the GIL released. For every model whose run costs more than two thread hand-offs.
- InlineExecution: on the event loop that submitted the requests, for models so cheap that
  running a batch there costs less than waking a thread and waking the loop back.

Both run every batch through BatchRunner.run and hand answers back through delivery.deliver.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import TypeAlias

from naiad.engine.batch_runner import Answers, BatchRunner
from naiad.native import ManualClock, Scheduler, SteadyClock
from naiad.runtime.model import Model

Clock: TypeAlias = SteadyClock | ManualClock


class ThreadedExecution:
    """One worker thread per instance. `after_enqueue` is a no-op: enqueue wakes a worker."""

    def __init__(
        self, scheduler: Scheduler, runner: BatchRunner, instances: Sequence[Model], name: str
    ) -> None:
        self._scheduler = scheduler
        self._runner = runner
        self._instances = list(instances)
        self._threads = [
            threading.Thread(
                target=self._serve, args=(model,), name=f"{name}-instance{i}", daemon=True
            )
            for i, model in enumerate(self._instances)
        ]
        for thread in self._threads:
            thread.start()

    def after_enqueue(self, loop: asyncio.AbstractEventLoop) -> None:
        pass

    def stop(self) -> None:
        """After the scheduler is closed: waits for the workers to drain it, frees instances."""
        for thread in self._threads:
            thread.join()
        for model in self._instances:
            model.close()
        self._instances.clear()

    def _serve(self, model: Model) -> None:
        """Runs batches until the scheduler is closed and drained. Never raises.

        While the next batch is ready, a batch's answers are handed back only once that next
        batch is gathered, just before it runs: waking the event loop makes it compete for the
        GIL, and its work on the answers then overlaps the model's run instead of holding the
        instance idle.
        """
        scheduler, runner = self._scheduler, self._runner
        previous: Answers | None = None
        while True:
            batch = scheduler.try_next_batch()
            if batch is None:
                if previous is not None:
                    previous.hand_back()  # nothing to overlap with: answer now
                if (batch := scheduler.next_batch()) is None:
                    return
            before_run = previous.hand_back if previous is not None else None
            try:
                answers = runner.run(model, batch, before_run)
            finally:
                if previous is not None:
                    previous.hand_back()  # no-op unless the batch failed before running
            previous = answers


class InlineExecution:
    """Runs ready batches on the submitting event loop, on the first instance.

    After an enqueue, one callback per loop iteration takes a batch (so that requests arriving
    together share it), runs it and answers. When the scheduler holds tasks but no batch is
    ready (a batching delay runs), a loop timer fires at the scheduler's next wake-up. The
    other instances of the version stay loaded but idle: the loop is one thread. Requests may
    come from several loops; each runs what is ready when its callback comes.
    """

    def __init__(
        self, scheduler: Scheduler, runner: BatchRunner, instances: Sequence[Model], clock: Clock
    ) -> None:
        self._scheduler = scheduler
        self._runner = runner
        self._instances = list(instances)
        self._clock = clock
        self._scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        # Held while a batch runs, so that stop() never closes an instance under a run.
        self._lock = threading.Lock()
        self._stopped = False

    def after_enqueue(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._run_ready, loop)

    def stop(self) -> None:
        """After the scheduler is closed: runs what is still queued on this thread (closed,
        the scheduler closes batches without waiting), then frees the instances."""
        with self._lock:
            while (batch := self._scheduler.try_next_batch()) is not None:
                self._runner.run(self._instances[0], batch).hand_back()
            self._stopped = True
            for model in self._instances:
                model.close()
            self._instances.clear()

    def _run_ready(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        if self._timer is not None and self._timer_loop is loop:
            self._timer.cancel()  # a handle is only cancelled on its own loop's thread
            self._timer = None
        with self._lock:
            if self._stopped:
                return
            batch = self._scheduler.try_next_batch()
            answers = self._runner.run(self._instances[0], batch) if batch is not None else None
        if answers is not None:
            if self._scheduler.num_pending:
                self._scheduled = True  # more may be ready: next iteration, after I/O
                loop.call_soon(self._run_ready, loop)
            answers.hand_back()
            return
        wake_ns = self._scheduler.next_wakeup_ns()
        if wake_ns >= 0 and not self._scheduled:
            delay_s = max(0, wake_ns - self._clock.now_ns()) / 1e9
            self._timer = loop.call_later(delay_s, self._run_ready, loop)
            self._timer_loop = loop
