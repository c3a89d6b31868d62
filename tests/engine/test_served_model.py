"""ServedModel with a fake Model: where batches run, and that every caller gets its own rows."""

from __future__ import annotations

import asyncio
import dataclasses
import threading

import numpy as np
import pytest

from naiad import native
from naiad.config.settings import BatchingPolicy, ExecutionOptions, ModelSettings, TensorSpec
from naiad.datatypes import BY_WIRE
from naiad.engine.request import InferInput, InferRequest
from naiad.engine.served_model import INLINE_BELOW_NS, ServedModel
from naiad.errors import NaiadError, Unavailable
from naiad_protocol import model_config_pb2


class DoublingModel:
    """Returns 2 * INPUT0 and records which threads ran it."""

    description = "fake"

    def __init__(self) -> None:
        self.threads: list[str] = []

    def run(self, inputs: dict[str, np.ndarray], output_names: list[str]) -> list[np.ndarray]:
        self.threads.append(threading.current_thread().name)
        return [inputs["INPUT0"] * 2]

    def close(self) -> None:
        pass


def settings() -> ModelSettings:
    fp32 = BY_WIRE["FP32"]
    return ModelSettings(
        name="double",
        version=1,
        model_path="",
        max_batch_size=8,
        inputs=(TensorSpec("INPUT0", fp32, (3,)),),
        outputs=(TensorSpec("OUTPUT0", fp32, (3,)),),
        batching=BatchingPolicy(enabled=True),
        instance_groups=(),
        execution=ExecutionOptions(),
    )


def request(i: int) -> InferRequest:
    x = np.full((1, 3), i, dtype=np.float32)
    return InferRequest("double", "", str(i), [InferInput("INPUT0", BY_WIRE["FP32"], (1, 3), x)])


@pytest.mark.parametrize(
    ("cost_ns", "runs_on_loop"), [(1_000, True), (INLINE_BELOW_NS * 10, False), (None, False)]
)
async def test_cheap_models_run_ready_batches_on_the_event_loop(cost_ns, runs_on_loop) -> None:
    model = DoublingModel()
    served = ServedModel(settings(), model_config_pb2.ModelConfig(), [model], run_cost_ns=cost_ns)
    try:
        answers = await asyncio.gather(*(served.submit(request(i)) for i in range(20)))
    finally:
        await asyncio.to_thread(served.stop)
    for i, answer in enumerate(answers):
        assert answer.id == str(i)
        np.testing.assert_array_equal(answer.outputs[0].data, np.full((1, 3), 2 * i))
    on_loop = [name == threading.main_thread().name for name in model.threads]
    assert all(on_loop) if runs_on_loop else not any(on_loop)
    stats = served.stats()
    assert stats.success_count == 20 and stats.inference_count == 20
    assert stats.execution_count == len(model.threads)


class GatedModel(DoublingModel):
    """Every run after the first blocks until released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def run(self, inputs: dict[str, np.ndarray], output_names: list[str]) -> list[np.ndarray]:
        if self.threads:
            self.release.wait(timeout=30)
        return super().run(inputs, output_names)


async def test_a_batch_is_answered_without_waiting_for_the_next_batch_to_run() -> None:
    # The worker hands a batch's answers back just before it runs the next one, not after.
    model = GatedModel()
    served = ServedModel(
        dataclasses.replace(settings(), max_batch_size=1), model_config_pb2.ModelConfig(), [model]
    )
    try:
        futures = [served.submit(request(i)) for i in range(3)]
        first = await asyncio.wait_for(futures[0], timeout=5)
        assert first.id == "0" and not futures[1].done()
        model.release.set()
        answers = await asyncio.wait_for(asyncio.gather(*futures), timeout=10)
    finally:
        model.release.set()
        await asyncio.to_thread(served.stop)
    assert [a.id for a in answers] == ["0", "1", "2"]


def delayed(delay_us: int) -> ModelSettings:
    return dataclasses.replace(
        settings(), batching=BatchingPolicy(enabled=True, max_queue_delay_us=delay_us)
    )


async def test_inline_batches_wait_out_the_delay_on_the_loop_by_the_schedulers_clock() -> None:
    clock = native.ManualClock()
    model = DoublingModel()
    served = ServedModel(
        delayed(1_000), model_config_pb2.ModelConfig(), [model], run_cost_ns=1_000, clock=clock
    )
    assert served.inline
    try:
        first, second = served.submit(request(1)), served.submit(request(2))
        for _ in range(20):  # loop iterations, and timers of the delay in real time
            await asyncio.sleep(0.001)
        assert not first.done()  # the manual clock has not moved: the batch stays open
        clock.advance_us(1_000)
        answers = await asyncio.wait_for(asyncio.gather(first, second), timeout=5)
    finally:
        await asyncio.to_thread(served.stop)
    assert [a.id for a in answers] == ["1", "2"]
    assert model.threads == [threading.main_thread().name]  # one batch of two, on the loop


async def test_stopping_an_inline_model_answers_what_is_still_queued() -> None:
    served = ServedModel(
        delayed(60_000_000), model_config_pb2.ModelConfig(), [DoublingModel()], run_cost_ns=1_000
    )
    waiting = served.submit(request(7))
    await asyncio.to_thread(served.stop)  # closing ends the delay; stop runs the batch
    answer = await asyncio.wait_for(waiting, timeout=5)
    assert answer.id == "7"
    with pytest.raises(Unavailable, match="unloading"):
        served.submit(request(8))


class FailingOnce(DoublingModel):
    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def run(self, inputs: dict[str, np.ndarray], output_names: list[str]) -> list[np.ndarray]:
        if not self.failed:
            self.failed = True
            raise RuntimeError("device lost")
        return super().run(inputs, output_names)


@pytest.mark.parametrize("cost_ns", [1_000, None])
async def test_a_model_that_raises_fails_its_batch_and_keeps_serving(cost_ns) -> None:
    settings_one = dataclasses.replace(settings(), max_batch_size=1)
    served = ServedModel(
        settings_one, model_config_pb2.ModelConfig(), [FailingOnce()], run_cost_ns=cost_ns
    )
    try:
        with pytest.raises(NaiadError, match="model 'double' failed: device lost"):
            await asyncio.wait_for(served.submit(request(1)), timeout=5)
        answer = await asyncio.wait_for(served.submit(request(2)), timeout=5)
    finally:
        await asyncio.to_thread(served.stop)
    assert answer.id == "2"
    stats = served.stats()
    assert stats.backend_failure_count == 1 and stats.success_count == 1
