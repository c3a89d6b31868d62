"""BatchRunner: gather, run and scatter one batch; the PendingTable it takes tasks from."""

from __future__ import annotations

import asyncio
import dataclasses
import re

import numpy as np
import pytest

from naiad.config.settings import BatchingPolicy, ExecutionOptions, ModelSettings, TensorSpec
from naiad.datatypes import BY_WIRE
from naiad.engine.batch_runner import BatchRunner
from naiad.engine.delivery import inbox_for
from naiad.engine.pending import Pending, PendingTable
from naiad.engine.request import InferInput, InferRequest
from naiad.engine.validation import admit
from naiad.errors import ErrorCode, InvalidArgument, RunFailed
from naiad.native import EnqueueResult, Scheduler, scheduler_options

FP32 = BY_WIRE["FP32"]


def settings(max_batch_size: int = 8) -> ModelSettings:
    return ModelSettings(
        name="two",
        version=3,
        model_path="",
        max_batch_size=max_batch_size,
        inputs=(TensorSpec("X", FP32, (2,)),),
        outputs=(TensorSpec("SUM", FP32, (1,)), TensorSpec("TWICE", FP32, (2,))),
        batching=BatchingPolicy(enabled=True),
        instance_groups=(),
        execution=ExecutionOptions(),
    )


class TwoOutputs:
    """SUM = row sums, TWICE = 2 * X; records what it was asked for."""

    def __init__(self, rows_out: int | None = None) -> None:
        self.calls: list[tuple[tuple[int, ...], list[str]]] = []
        self._rows_out = rows_out

    def run(self, inputs: dict[str, np.ndarray], output_names: list[str]) -> list[np.ndarray]:
        x = inputs["X"]
        self.calls.append((x.shape, list(output_names)))
        rows = self._rows_out if self._rows_out is not None else x.shape[0]
        made = {"SUM": x.sum(axis=1, keepdims=True)[:rows], "TWICE": (2 * x)[:rows]}
        return [made[name] for name in output_names]

    def close(self) -> None:
        pass


def queue(
    scheduler: Scheduler, table: PendingTable, model: ModelSettings, rows: list[int], outputs
) -> list[Pending]:
    loop = asyncio.get_running_loop()
    pending = []
    start = 0
    for n, requested in zip(rows, outputs, strict=True):
        x = np.arange(start, start + 2 * n, dtype=np.float32).reshape(n, 2)
        start += 2 * n
        request = InferRequest("two", "", f"r{n}", [InferInput("X", FP32, (n, 2), x)], requested)
        task = Pending(admit(request, model), request.id, loop.create_future(), inbox_for(loop), 0)
        task_id = table.add(task)
        assert scheduler.enqueue(task_id, n, 0) is EnqueueResult.OK
        pending.append(task)
    return pending


async def test_every_task_gets_its_own_rows_and_only_the_outputs_it_asked_for() -> None:
    model = settings()
    scheduler = Scheduler(scheduler_options(model.batching, model.max_batch_size))
    table = PendingTable()
    tasks = queue(scheduler, table, model, [1, 2, 3], [None, ["TWICE"], ["SUM"]])
    scheduler.close()  # closed: the batch forms at once, without the delay
    batch = scheduler.try_next_batch()
    assert batch is not None and batch.rows == 6
    instance = TwoOutputs()
    BatchRunner(scheduler, model, table).run(instance, batch).hand_back()

    assert instance.calls == [((6, 2), ["SUM", "TWICE"])]  # one run, the union of outputs
    answers = [t.future.result() for t in tasks]
    assert [a.id for a in answers] == ["r1", "r2", "r3"]
    assert all((a.model_name, a.model_version) == ("two", "3") for a in answers)
    assert [[o.name for o in a.outputs] for a in answers] == [["SUM", "TWICE"], ["TWICE"], ["SUM"]]
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    np.testing.assert_array_equal(answers[0].outputs[0].data, x[:1].sum(axis=1, keepdims=True))
    np.testing.assert_array_equal(answers[1].outputs[0].data, 2 * x[1:3])
    np.testing.assert_array_equal(answers[2].outputs[0].data, x[3:6].sum(axis=1, keepdims=True))
    assert len(table) == 0
    stats = scheduler.stats()
    assert stats.success_count == 3 and stats.execution_count == 1


@pytest.mark.parametrize(
    ("instance", "message"),
    [
        (TwoOutputs(rows_out=5), "returned output 'SUM' with shape [5, 1], expected a first"),
        (None, "model 'two' failed: boom"),
    ],
)
async def test_a_failing_batch_answers_every_task_with_the_error(instance, message) -> None:
    class Boom(TwoOutputs):
        def run(self, inputs, output_names):  # type: ignore[no-untyped-def]
            raise ValueError("boom")

    model = settings()
    scheduler = Scheduler(scheduler_options(model.batching, model.max_batch_size))
    table = PendingTable()
    tasks = queue(scheduler, table, model, [2, 4], [None, None])
    scheduler.close()
    batch = scheduler.try_next_batch()
    assert batch is not None
    BatchRunner(scheduler, model, table).run(instance or Boom(), batch).hand_back()
    for task in tasks:
        with pytest.raises(RunFailed, match=re.escape(message)):
            task.future.result()
    stats = scheduler.stats()
    assert stats.backend_failure_count == 2 and stats.success_count == 0


async def test_a_run_failure_keeps_the_code_of_the_error_the_model_raised() -> None:
    # the caller sees INVALID_ARGUMENT as before; a rollout still knows the run failed
    class Rejecting(TwoOutputs):
        def run(self, inputs, output_names):  # type: ignore[no-untyped-def]
            raise InvalidArgument("onnxruntime: indices element out of data bounds")

    model = settings()
    scheduler = Scheduler(scheduler_options(model.batching, model.max_batch_size))
    table = PendingTable()
    (task,) = queue(scheduler, table, model, [1], [None])
    scheduler.close()
    batch = scheduler.try_next_batch()
    assert batch is not None
    BatchRunner(scheduler, model, table).run(Rejecting(), batch).hand_back()
    error = task.future.exception()
    assert isinstance(error, RunFailed) and error.code is ErrorCode.INVALID_ARGUMENT
    assert "out of data bounds" in error.message


async def test_an_unbatched_model_gets_the_request_as_is() -> None:
    model = dataclasses.replace(settings(max_batch_size=0), inputs=(TensorSpec("X", FP32, (2,)),))
    scheduler = Scheduler(scheduler_options(model.batching, model.max_batch_size))
    table = PendingTable()
    loop = asyncio.get_running_loop()
    x = np.ones(2, np.float32)
    request = InferRequest("two", "", "u", [InferInput("X", FP32, (2,), x)], ["TWICE"])
    task = Pending(admit(request, model), "u", loop.create_future(), inbox_for(loop), 0)
    scheduler.enqueue(table.add(task), 1, 0)
    batch = scheduler.try_next_batch()
    assert batch is not None

    class Flat(TwoOutputs):
        def run(self, inputs, output_names):  # type: ignore[no-untyped-def]
            return [2 * inputs["X"]]

    BatchRunner(scheduler, model, table).run(Flat(), batch).hand_back()
    np.testing.assert_array_equal(task.future.result().outputs[0].data, [2.0, 2.0])


async def test_the_pending_table_hands_each_task_out_once() -> None:
    table = PendingTable()
    loop = asyncio.get_running_loop()
    request = InferRequest(
        "two", "", "p", [InferInput("X", FP32, (1, 2), np.ones((1, 2), np.float32))]
    )
    tasks = [
        Pending(admit(request, settings()), "p", loop.create_future(), inbox_for(loop), 0)
        for _ in range(3)
    ]
    ids = [table.add(t) for t in tasks]
    assert len(set(ids)) == 3 and len(table) == 3
    assert table.take(ids[:2]) == tasks[:2]
    with pytest.raises(KeyError):
        table.take([ids[0]])  # a second hand-out is a bug, not a silent duplicate answer
    table.drop(ids[2])
    table.drop(ids[2])  # dropping is idempotent (a refused enqueue, a cancelled task)
    assert len(table) == 0
