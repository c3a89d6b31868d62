"""The core Engine and its layers without any front end: real models, no gRPC."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from pathlib import Path

import modelgen
import numpy as np
import pytest

from naiad.datatypes import BY_WIRE
from naiad.engine.context import INTERNAL, CallContext
from naiad.engine.engine import Engine
from naiad.engine.layers import EngineLayer, compose
from naiad.engine.loader import load_served_model
from naiad.engine.protocol import InferenceEngine, StreamAnswer
from naiad.engine.request import InferInput, InferRequest, InferResponse
from naiad.errors import DeadlineExceeded, NotFound
from naiad.repository import manager
from naiad.repository.manager import ModelRepository
from naiad.repository.types import ModelState


@pytest.fixture
async def repository(tmp_path: Path) -> AsyncIterator[ModelRepository]:
    root = modelgen.write_repository(
        tmp_path / "repo",
        {"double": {1: lambda p: modelgen.add_sub(p, "FP32", [4])}},
    )
    repo = ModelRepository(str(root), factory=load_served_model, control_mode="explicit")
    await asyncio.to_thread(repo.start)
    yield repo
    await asyncio.to_thread(repo.stop)


def request(i: int, model: str = "double") -> InferRequest:
    x = np.full((1, 4), i, np.float32)
    fp32 = BY_WIRE["FP32"]
    return InferRequest(
        model,
        "",
        str(i),
        [InferInput("INPUT0", fp32, (1, 4), x), InferInput("INPUT1", fp32, (1, 4), x)],
    )


async def test_the_engine_serves_and_manages_models_without_a_front_end(repository) -> None:  # type: ignore[no-untyped-def]
    engine = Engine(repository)
    await engine.load("double", None, {}, INTERNAL)
    answer = await engine.submit(request(3), INTERNAL)
    np.testing.assert_array_equal(answer.outputs[0].data, np.full((1, 4), 6, np.float32))
    assert engine.describe("double", "", INTERNAL).ready_versions == (1,)
    # max_batch_size is completed from the ONNX file
    assert engine.config("double", "1", INTERNAL).max_batch_size == 4
    [stats] = engine.statistics("double", "", INTERNAL)
    assert (stats.name, stats.version, stats.stats.success_count) == ("double", 1, 1)
    assert [e.state for e in await engine.index(True, INTERNAL)] == [ModelState.READY]
    await engine.unload("double", INTERNAL)
    assert not engine.model_ready("double", "", INTERNAL)
    with pytest.raises(NotFound):
        engine.submit(request(1, model="nope"), INTERNAL)


async def test_a_request_past_its_deadline_is_refused_before_it_queues(repository) -> None:  # type: ignore[no-untyped-def]
    engine = Engine(repository)
    await engine.load("double", None, {}, INTERNAL)
    late = CallContext(protocol="test", deadline_s=0.0)
    with pytest.raises(DeadlineExceeded):
        engine.submit(request(1), late)
    [stats] = engine.statistics("double", "1", INTERNAL)
    assert stats.stats.inference_count == 0  # nothing computed


async def test_readiness_reads_no_files(repository, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    engine = Engine(repository)
    await engine.load("double", None, {}, INTERNAL)
    engine.accept(True)

    def no_disk(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("readiness listed the repository's directories")

    monkeypatch.setattr(manager, "list_models", no_disk)
    assert engine.server_ready() and engine.model_ready("double", "1", INTERNAL)
    with pytest.raises(AssertionError, match="listed"):
        await engine.index(False, INTERNAL)  # RepositoryIndex does list them, off the event loop


class Recording(EngineLayer):
    def __init__(self, inner: InferenceEngine, name: str, seen: list[str]) -> None:
        super().__init__(inner)
        self.name, self.seen = name, seen

    def submit(self, request: InferRequest, context: CallContext) -> asyncio.Future[InferResponse]:
        self.seen.append(f"{self.name}:{request.id}:{context.protocol}")
        return self.inner.submit(request, context)


async def test_layers_see_calls_in_order_and_streams_go_through_them(repository) -> None:  # type: ignore[no-untyped-def]
    core = Engine(repository)
    await core.load("double", None, {}, INTERNAL)
    seen: list[str] = []
    stack = compose(
        core,
        [
            functools.partial(Recording, name="outer", seen=seen),
            functools.partial(Recording, name="inner", seen=seen),
        ],
    )
    await stack.submit(request(1), CallContext(protocol="unary"))
    assert seen == ["outer:1:unary", "inner:1:unary"]
    seen.clear()

    async def messages() -> AsyncIterator[int]:
        for i in (2, 3):
            yield i

    answers: list[StreamAnswer[int]] = []

    async def send(answer: StreamAnswer[int]) -> None:
        answers.append(answer)

    await stack.stream(messages(), request, lambda _: CallContext(protocol="stream"), send)
    assert sorted(seen) == sorted(
        f"{layer}:{i}:stream" for layer in ("outer", "inner") for i in (2, 3)
    )
    assert sorted(a.message for a in answers) == [2, 3] and all(a.response for a in answers)
    assert stack.server_ready() is False  # forwarded to the core: not accepting yet
