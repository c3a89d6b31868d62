"""A ServedModel with the response cache: hits never run the model and count as Triton counts."""

from __future__ import annotations

import asyncio

import numpy as np

from naiad.config.settings import BatchingPolicy, ExecutionOptions, ModelSettings, TensorSpec
from naiad.datatypes import BY_WIRE
from naiad.engine.request import InferInput, InferRequest
from naiad.engine.response_cache import ResponseCache
from naiad.engine.served_model import ServedModel
from naiad_protocol import model_config_pb2

FP32 = BY_WIRE["FP32"]


class CountingModel:
    """Returns INPUT0 + 1 and counts its runs."""

    description = "fake"

    def __init__(self) -> None:
        self.runs = 0

    def run(self, inputs: dict[str, np.ndarray], output_names: list[str]) -> list[np.ndarray]:
        self.runs += 1
        return [inputs["INPUT0"] + 1]

    def close(self) -> None:
        pass


def _settings(response_cache: bool = True) -> ModelSettings:
    return ModelSettings(
        name="plus",
        version=1,
        model_path="",
        max_batch_size=8,
        inputs=(TensorSpec("INPUT0", FP32, (3,)),),
        outputs=(TensorSpec("OUTPUT0", FP32, (3,)),),
        batching=BatchingPolicy(enabled=True),
        instance_groups=(),
        execution=ExecutionOptions(),
        response_cache=response_cache,
    )


def _request(value: float, rows: int = 1, **parameters: object) -> InferRequest:
    x = np.full((rows, 3), value, dtype=np.float32)
    return InferRequest(
        "plus", "", f"r{value}", [InferInput("INPUT0", FP32, (rows, 3), x)], None, dict(parameters)
    )


def _served(model: CountingModel, cache: ResponseCache, enabled: bool = True) -> ServedModel:
    config = model_config_pb2.ModelConfig()
    return ServedModel(_settings(enabled), config, [model], run_cost_ns=1_000, cache=cache)


async def test_a_repeated_request_is_answered_from_the_cache_with_the_same_bytes() -> None:
    model, cache = CountingModel(), ResponseCache(1 << 20)
    served = _served(model, cache)
    try:
        first = await served.submit(_request(1.0, rows=2))
        again = _request(1.0, rows=2)
        again.id = "second"
        second = await served.submit(again)
        other = await served.submit(_request(5.0))
    finally:
        await asyncio.to_thread(served.stop)
    assert model.runs == 2
    assert second.id == "second"
    assert second.outputs[0].data.tobytes() == first.outputs[0].data.tobytes()
    np.testing.assert_array_equal(other.outputs[0].data, np.full((1, 3), 6.0))
    stats = served.stats()
    assert (stats.cache_hit_count, stats.cache_miss_count) == (1, 2)
    assert stats.success_count == 3 and stats.queue_count == 3
    assert stats.inference_count == 3  # the hit's two rows never ran
    assert stats.execution_count == 2
    assert stats.compute_infer_count == 2
    assert stats.cache_miss_ns > 0


async def test_sequence_requests_and_disabled_models_bypass_the_cache() -> None:
    model, cache = CountingModel(), ResponseCache(1 << 20)
    uncached = _served(model, cache, enabled=False)
    try:
        for _ in range(2):
            await uncached.submit(_request(1.0))
    finally:
        await asyncio.to_thread(uncached.stop)
    assert model.runs == 2
    assert uncached.stats().cache_miss_count == 0
    assert cache.counts().num_entries == 0
    cached = _served(model, cache)
    try:
        for _ in range(2):
            await cached.submit(_request(1.0, sequence_id=7))
    finally:
        await asyncio.to_thread(cached.stop)
    assert model.runs == 4
    assert cached.stats().cache_hit_count == cached.stats().cache_miss_count == 0


async def test_stopping_a_version_forgets_its_answers() -> None:
    model, cache = CountingModel(), ResponseCache(1 << 20)
    served = _served(model, cache)
    await served.submit(_request(1.0))
    assert cache.counts().num_entries == 1
    await asyncio.to_thread(served.stop)
    assert cache.counts().num_entries == 0
    # A new generation of the same version never sees the old one's answers.
    successor = _served(model, cache)
    try:
        await successor.submit(_request(1.0))
    finally:
        await asyncio.to_thread(successor.stop)
    assert model.runs == 2


async def test_a_failed_request_is_a_miss_and_stores_nothing() -> None:
    class Failing(CountingModel):
        def run(self, inputs: dict[str, np.ndarray], output_names: list[str]) -> list[np.ndarray]:
            raise RuntimeError("boom")

    cache = ResponseCache(1 << 20)
    served = _served(Failing(), cache)
    try:
        outcome = await asyncio.gather(served.submit(_request(1.0)), return_exceptions=True)
    finally:
        await asyncio.to_thread(served.stop)
    assert isinstance(outcome[0], Exception)
    assert cache.counts().num_entries == 0
    assert served.stats().cache_miss_count == 1
