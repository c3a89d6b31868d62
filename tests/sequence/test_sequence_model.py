"""SequenceModel with a fake accumulator model and a ManualClock: state per sequence, control
tensors per row, idle release driven by the injected clock, END and errors."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncIterator

import numpy as np
import pytest

from naiad import native
from naiad.config.sequence_settings import (
    ControlInput,
    ControlKind,
    SequencePolicy,
    SequenceStrategy,
    StateSpec,
)
from naiad.config.settings import BatchingPolicy, ExecutionOptions, ModelSettings, TensorSpec
from naiad.datatypes import BY_WIRE
from naiad.engine.request import InferInput, InferRequest
from naiad.engine.sequence_model import SequenceModel
from naiad.errors import InvalidArgument, Unavailable
from naiad_protocol import model_config_pb2

FP32, INT32 = BY_WIRE["FP32"], BY_WIRE["INT32"]
IDLE_US = 1_000


class Accumulator:
    """OUTPUT = ACC_IN + INPUT * READY; ACC_OUT the same. Records every batch's inputs."""

    description = "fake"

    def __init__(self) -> None:
        self.batches: list[dict[str, np.ndarray]] = []
        self.lock = threading.Lock()

    def run(self, inputs: dict[str, np.ndarray], output_names: list[str]) -> list[np.ndarray]:
        with self.lock:
            self.batches.append(inputs)
        total = inputs["ACC_IN"] + inputs["INPUT"] * inputs["READY"]
        return [total for _ in output_names]

    def close(self) -> None:
        pass


def settings(strategy: SequenceStrategy, slots: int = 4, **policy: object) -> ModelSettings:
    controls = (
        ControlInput("START", ControlKind.START, INT32, (0, 1)),
        ControlInput("END", ControlKind.END, INT32, (0, 1)),
        ControlInput("READY", ControlKind.READY, FP32, (0.0, 1.0)),
    )
    return ModelSettings(
        name="acc",
        version=1,
        model_path="",
        max_batch_size=slots,
        inputs=(TensorSpec("INPUT", FP32, (1,)),),
        outputs=(TensorSpec("OUTPUT", FP32, (1,)),),
        batching=BatchingPolicy(),
        instance_groups=(),
        execution=ExecutionOptions(),
        sequence=SequencePolicy(
            strategy=strategy,
            max_sequence_idle_us=IDLE_US,
            max_candidate_sequences=slots,
            controls=controls,
            states=(StateSpec("ACC_IN", "ACC_OUT", FP32, (1,)),),
            **policy,  # type: ignore[arg-type]
        ),
    )


def request(sid: int | str, value: float, start: bool = False, end: bool = False) -> InferRequest:
    x = np.array([[value]], dtype=np.float32)
    params = {"sequence_id": sid, "sequence_start": start, "sequence_end": end}
    return InferRequest("acc", "", f"{sid}", [InferInput("INPUT", FP32, (1, 1), x)], None, params)  # type: ignore[arg-type]


class Harness:
    def __init__(self, settings: ModelSettings) -> None:
        self.clock = native.ManualClock(start_ns=1_000_000_000)
        self.model = Accumulator()
        self.served = SequenceModel(
            settings, model_config_pb2.ModelConfig(), [self.model], clock=self.clock
        )

    async def send(self, sid: int | str, value: float, start=False, end=False) -> float:  # type: ignore[no-untyped-def]
        answer = await self.served.submit(request(sid, value, start, end))
        return float(answer.outputs[0].data.item())


@pytest.fixture
async def direct() -> AsyncIterator[Harness]:
    harness = Harness(settings(SequenceStrategy.DIRECT))
    yield harness
    await asyncio.to_thread(harness.served.stop)


async def test_each_sequence_keeps_its_own_sum(direct: Harness) -> None:
    assert await direct.send(1, 1.0, start=True) == 1.0
    assert await direct.send(2, 10.0, start=True) == 10.0
    assert await direct.send(1, 2.0) == 3.0
    assert await direct.send(2, 20.0, end=True) == 30.0
    assert await direct.send(2, 5.0, start=True) == 5.0  # a new sequence under the same id
    answers = await asyncio.gather(*(direct.served.submit(request(1, 1.0)) for _ in range(5)))
    assert [a.outputs[0].data.item() for a in answers] == [4.0, 5.0, 6.0, 7.0, 8.0]


async def test_direct_rows_follow_slots_with_controls_per_row(direct: Harness) -> None:
    for sid in (1, 2, 3):
        await direct.send(sid, 1.0, start=True)
    await direct.send(3, 1.0, end=True)
    batch = direct.model.batches[-1]
    assert batch["INPUT"].shape == (3, 1)  # slot 2 in row 2, rows 0 and 1 padded
    assert batch["READY"].ravel().tolist() == [0.0, 0.0, 1.0]
    assert batch["END"].ravel().tolist() == [0, 0, 1]
    assert batch["START"].ravel().tolist() == [0, 0, 0]
    assert batch["ACC_IN"].ravel().tolist() == [0.0, 0.0, 1.0]
    assert direct.model.batches[0]["START"].ravel().tolist() == [1]


async def test_oldest_packs_rows() -> None:
    harness = Harness(settings(SequenceStrategy.OLDEST))
    try:
        for sid in (1, 2, 3):
            await harness.send(sid, 1.0, start=True)
        assert await harness.send(3, 1.0) == 2.0
        assert harness.model.batches[-1]["INPUT"].shape == (1, 1)
    finally:
        await asyncio.to_thread(harness.served.stop)


async def test_an_idle_sequence_is_released_on_the_injected_clock() -> None:
    harness = Harness(settings(SequenceStrategy.DIRECT, slots=1))
    try:
        await harness.send(1, 1.0, start=True)
        waiting = harness.served.submit(request(2, 7.0, start=True))  # the only slot is taken
        assert harness.served.stats().num_pending == 1
        harness.clock.advance_us(IDLE_US)
        harness.served.poke()
        answer = await asyncio.wait_for(waiting, timeout=30)
        assert answer.outputs[0].data.item() == 7.0  # fresh state in the freed slot
        with pytest.raises(InvalidArgument, match="must specify the START flag"):
            await harness.send(1, 1.0)
    finally:
        await asyncio.to_thread(harness.served.stop)


async def test_errors_are_counted_and_nothing_is_queued(direct: Harness) -> None:
    with pytest.raises(InvalidArgument, match="non-zero or non-empty correlation ID"):
        direct.served.submit(request(0, 1.0, start=True))
    with pytest.raises(InvalidArgument, match="must specify the START flag"):
        direct.served.submit(request(9, 1.0))
    with pytest.raises(InvalidArgument, match="'sequence_start' must be a bool"):
        direct.served.submit(request(9, 1.0, start=1))  # type: ignore[arg-type]
    stats = direct.served.stats()
    assert stats.other_failure_count == 3
    assert stats.num_pending == 0


async def test_a_full_backlog_is_unavailable() -> None:
    harness = Harness(settings(SequenceStrategy.DIRECT, slots=1, max_backlog_sequences=0))
    try:
        await harness.send(1, 1.0, start=True)
        with pytest.raises(Unavailable, match="backlog is full"):
            harness.served.submit(request(2, 1.0, start=True))
        assert harness.served.stats().rejected_count == 1
    finally:
        await asyncio.to_thread(harness.served.stop)


async def test_stop_runs_every_accepted_request(direct: Harness) -> None:
    await direct.send("a", 1.0, start=True)
    futures = [direct.served.submit(request("a", 1.0)) for _ in range(3)]
    await asyncio.to_thread(direct.served.stop)
    answers = await asyncio.gather(*futures)
    assert [a.outputs[0].data.item() for a in answers] == [2.0, 3.0, 4.0]
    with pytest.raises(Unavailable, match="unloading"):
        direct.served.submit(request("b", 1.0, start=True))


async def test_a_model_without_batching_gets_one_row_without_a_batch_dimension() -> None:
    unbatched = dataclasses.replace(settings(SequenceStrategy.DIRECT), max_batch_size=0)
    harness = Harness(unbatched)
    try:
        x = np.array([2.0], dtype=np.float32)
        params = {"sequence_id": "s", "sequence_start": True}
        one = InferRequest("acc", "", "1", [InferInput("INPUT", FP32, (1,), x)], None, params)  # type: ignore[arg-type]
        answer = await harness.served.submit(one)
        assert answer.outputs[0].data.tolist() == [2.0]
        batch = harness.model.batches[-1]
        assert batch["START"].shape == (1,) and batch["ACC_IN"].shape == (1,)
    finally:
        await asyncio.to_thread(harness.served.stop)
