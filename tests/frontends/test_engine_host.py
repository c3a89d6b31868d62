"""A RemoteEngine and an EngineHost on the two sides of one shared region, in one event loop,
over a scripted engine: answers, refusals, back-pressure, cancellation, a front end's death
and answers too large for their slot."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from naiad.datatypes import from_wire
from naiad.engine.context import INTERNAL, CallContext
from naiad.engine.request import InferInput, InferOutput, InferRequest, InferResponse
from naiad.errors import ErrorCode, NaiadError, NotFound, Unavailable
from naiad.frontends.engine_host import EngineHost, ParkedAnswers
from naiad.frontends.region import RegionLayout, SharedRegion
from naiad.frontends.remote_engine import RemoteEngine


class ScriptedEngine:
    """Holds each submitted request's future until the test settles it."""

    def __init__(self) -> None:
        self.calls: list[tuple[InferRequest, CallContext, asyncio.Future[InferResponse]]] = []

    def submit(self, request: InferRequest, context: CallContext) -> asyncio.Future[InferResponse]:
        if request.model_name == "missing":
            raise NotFound("Request for unknown model: 'missing' is not found")
        future: asyncio.Future[InferResponse] = asyncio.get_running_loop().create_future()
        self.calls.append((request, context, future))
        return future

    def answer(self, index: int, rows: int = 1) -> None:
        request, _, future = self.calls[index]
        data = request.inputs[0].data * 2
        output = InferOutput("y", from_wire("FP32"), np.repeat(data, rows, axis=0))
        future.set_result(InferResponse(request.model_name, "1", request.id, [output]))


class ParkedControl:
    """The control socket's take_parked verb, answered from the host's book."""

    def __init__(self, parked: ParkedAnswers) -> None:
        self.parked = parked

    def call(self, verb: str, *args: Any) -> Any:
        assert verb == "take_parked"
        return self.parked.take(args[0])


def _request(request_id: str, model: str = "m") -> InferRequest:
    data = np.full((1, 4), float(len(request_id)), dtype=np.float32)
    return InferRequest(model, "", request_id, [InferInput("x", from_wire("FP32"), (1, 4), data)])


@pytest.fixture
async def link():  # type: ignore[no-untyped-def]
    """(scripted engine, engine host, remote engine) over a 2-slot region."""
    loop = asyncio.get_running_loop()
    engine_side = SharedRegion.create(RegionLayout(num_slots=2, slot_bytes=4096))
    front_side = SharedRegion(engine_side.fds, engine_side.layout, front_end=True, initialize=False)
    engine = ScriptedEngine()
    parked = ParkedAnswers()
    host = EngineHost(engine, engine_side, parked, copy_inputs=lambda: False)  # type: ignore[arg-type]
    remote = RemoteEngine(front_side, ParkedControl(parked), id_base=5 << 48)  # type: ignore[arg-type]
    host.attach(loop)
    remote.attach(loop)
    yield engine, host, remote
    remote.close("test over")
    host.close()


async def _until(holds, what: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(200):
        if holds():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never: {what}")


async def test_answers_come_back_to_their_callers(link) -> None:  # type: ignore[no-untyped-def]
    engine, _host, remote = link
    first = remote.submit(_request("a"), CallContext("grpc", None))
    second = remote.submit(_request("bbb"), INTERNAL)
    await _until(lambda: len(engine.calls) == 2, "both requests reach the engine")
    assert engine.calls[0][1].protocol == "grpc"
    engine.answer(1)
    engine.answer(0)
    assert (await second).outputs[0].data.tolist() == [[6.0] * 4]
    assert (await first).id == "a"
    assert remote.num_in_flight == 0


async def test_a_refusal_is_the_callers_error(link) -> None:  # type: ignore[no-untyped-def]
    _engine, _host, remote = link
    with pytest.raises(NotFound, match="unknown model"):
        await remote.submit(_request("a", model="missing"), INTERNAL)


async def test_with_every_slot_in_flight_the_next_request_is_unavailable(link) -> None:  # type: ignore[no-untyped-def]
    engine, _host, remote = link
    held = [remote.submit(_request(str(i)), INTERNAL) for i in range(2)]
    with pytest.raises(Unavailable, match="in flight"):
        remote.submit(_request("third"), INTERNAL)
    await _until(lambda: len(engine.calls) == 2, "the two reach the engine")
    engine.answer(0)
    await held[0]
    later = remote.submit(_request("later"), INTERNAL)  # its slot came back
    await _until(lambda: len(engine.calls) == 3, "the later one reaches the engine")
    engine.answer(2)
    engine.answer(1)
    await asyncio.gather(later, held[1])


async def test_a_cancelled_call_withdraws_its_request_and_frees_its_slot(link) -> None:  # type: ignore[no-untyped-def]
    engine, host, remote = link
    future = remote.submit(_request("a"), INTERNAL)
    await _until(lambda: len(engine.calls) == 1, "the request reaches the engine")
    future.cancel()
    await _until(lambda: engine.calls[0][2].cancelled(), "the engine's future is cancelled")
    await _until(lambda: remote.num_in_flight == 0, "the cancel is answered")
    assert host.num_in_flight == 0
    both = [remote.submit(_request(str(i)), INTERNAL) for i in range(2)]  # both slots free
    await _until(lambda: len(engine.calls) == 3, "both reach the engine")
    engine.answer(1)
    engine.answer(2)
    await asyncio.gather(*both)


async def test_a_dead_front_end_cancels_its_work_and_nothing_is_answered(link) -> None:  # type: ignore[no-untyped-def]
    engine, host, remote = link
    remote.submit(_request("a"), INTERNAL)
    remote.submit(_request("b"), INTERNAL)
    await _until(lambda: len(engine.calls) == 2, "both reach the engine")
    host.close()
    assert all(future.cancelled() for _, _, future in engine.calls)
    assert host.num_in_flight == 0
    for _ in range(20):
        await asyncio.sleep(0)
    assert remote.num_in_flight == 2  # no answer, not even the cancellation, was posted


async def test_closing_the_remote_engine_fails_what_is_in_flight(link) -> None:  # type: ignore[no-untyped-def]
    _engine, _host, remote = link
    future = remote.submit(_request("a"), INTERNAL)
    remote.close("the engine process has stopped")
    with pytest.raises(Unavailable, match="engine process has stopped"):
        await future
    with pytest.raises(Unavailable):
        remote.submit(_request("b"), INTERNAL)


async def test_an_answer_too_large_for_its_slot_is_taken_over_control(link) -> None:  # type: ignore[no-untyped-def]
    engine, _host, remote = link
    future = remote.submit(_request("a"), INTERNAL)
    await _until(lambda: len(engine.calls) == 1, "the request reaches the engine")
    engine.answer(0, rows=400)  # 400 x 4 floats: more than the 4 KiB slot
    response = await asyncio.wait_for(future, 10)
    assert response.outputs[0].data.shape == (400, 4)
    with pytest.raises(NaiadError) as taken:
        engine_parked = remote._control.parked  # type: ignore[attr-defined]
        engine_parked.take(5 << 48 | 1)
    assert taken.value.code is ErrorCode.NOT_FOUND  # taken once, not twice
