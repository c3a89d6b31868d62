"""answer_stream: one answer per message in completion order; a broken stream ends at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from naiad.engine.context import INTERNAL, CallContext
from naiad.engine.protocol import StreamAnswer
from naiad.engine.request import InferRequest, InferResponse
from naiad.engine.streaming import answer_stream
from naiad.errors import InvalidArgument, Unavailable


class Held:
    """A submit whose futures the test resolves by request id."""

    def __init__(self) -> None:
        self.futures: dict[str, asyncio.Future[InferResponse]] = {}

    def __call__(
        self, request: InferRequest, context: CallContext
    ) -> asyncio.Future[InferResponse]:
        if request.id.startswith("refuse"):
            raise InvalidArgument(f"refused {request.id}")
        if request.id.startswith("crash"):
            raise RuntimeError(f"bug while submitting {request.id}")
        future = asyncio.get_running_loop().create_future()
        self.futures[request.id] = future
        return future

    def answer(self, request_id: str) -> None:
        self.futures[request_id].set_result(InferResponse("m", "1", request_id, []))


def decode(message: str) -> InferRequest:
    if message == "undecodable":
        raise InvalidArgument("cannot decode")
    return InferRequest("m", "", message, [])


def context_of(message: str) -> CallContext:
    return INTERNAL


class Messages:
    """An async message iterator the test feeds one message at a time; `fail` breaks it."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()

    def put(self, item: str | BaseException | None) -> None:
        self._queue.put_nowait(item)

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        item = await self._queue.get()
        if item is None:
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        return item


async def test_answers_come_in_completion_order_and_errors_keep_the_stream_open() -> None:
    submit, messages = Held(), Messages()
    arrivals: asyncio.Queue[StreamAnswer[str]] = asyncio.Queue()

    async def send(answer: StreamAnswer[str]) -> None:
        await arrivals.put(answer)

    stream = asyncio.create_task(answer_stream(submit, messages, decode, context_of, send))
    for message in ("a", "b", "refuse-c", "undecodable"):
        messages.put(message)
    refused = await asyncio.wait_for(arrivals.get(), 5)
    undecodable = await asyncio.wait_for(arrivals.get(), 5)
    assert (refused.message, str(refused.error)) == ("refuse-c", "refused refuse-c")
    assert (undecodable.message, str(undecodable.error)) == ("undecodable", "cannot decode")
    submit.answer("b")
    second = await asyncio.wait_for(arrivals.get(), 5)
    assert second.message == "b" and second.response is not None and second.error is None
    submit.futures["a"].set_exception(Unavailable("queue timeout"))
    first = await asyncio.wait_for(arrivals.get(), 5)
    assert first.message == "a" and isinstance(first.error, Unavailable)
    messages.put(None)  # end of input: nothing is in flight, so the stream ends
    await asyncio.wait_for(stream, 5)
    assert arrivals.empty()


async def test_the_stream_waits_for_answers_in_flight_after_the_input_ends() -> None:
    submit, messages = Held(), Messages()
    sent: list[str] = []

    async def send(answer: StreamAnswer[str]) -> None:
        sent.append(answer.message)

    stream = asyncio.create_task(answer_stream(submit, messages, decode, context_of, send))
    messages.put("late")
    messages.put(None)
    while "late" not in submit.futures:
        await asyncio.sleep(0)
    for _ in range(10):
        await asyncio.sleep(0)
    assert not stream.done()  # input over, one answer still owed
    submit.answer("late")
    await asyncio.wait_for(stream, 5)
    assert sent == ["late"]


@pytest.mark.parametrize("failure", ["iterator", "submit"])
async def test_an_unexpected_reader_failure_ends_the_stream_at_once(failure: str) -> None:
    submit, messages = Held(), Messages()

    async def send(answer: StreamAnswer[str]) -> None:
        pass

    stream = asyncio.create_task(answer_stream(submit, messages, decode, context_of, send))
    messages.put("pending")
    while "pending" not in submit.futures:
        await asyncio.sleep(0)
    # The input stays open and an answer is still owed: only the failure can end the stream.
    messages.put(ConnectionResetError("reader broke") if failure == "iterator" else "crash-1")
    with pytest.raises((ConnectionResetError, RuntimeError)) as raised:
        await asyncio.wait_for(stream, 5)
    expected = "reader broke" if failure == "iterator" else "bug while submitting crash-1"
    assert str(raised.value) == expected  # the error itself, not an ExceptionGroup
    assert submit.futures["pending"].cancelled()  # nothing left running for a dead stream


async def test_a_failing_send_ends_the_stream_and_cancels_what_is_in_flight() -> None:
    submit, messages = Held(), Messages()

    async def send(answer: StreamAnswer[str]) -> None:
        raise BrokenPipeError("client gone")

    stream = asyncio.create_task(answer_stream(submit, messages, decode, context_of, send))
    messages.put("first")
    messages.put("second")
    while len(submit.futures) < 2:
        await asyncio.sleep(0)
    submit.answer("first")
    with pytest.raises(BrokenPipeError):
        await asyncio.wait_for(stream, 5)
    assert submit.futures["second"].cancelled()


async def test_cancelling_the_stream_cancels_requests_in_flight() -> None:
    submit, messages = Held(), Messages()

    async def send(answer: StreamAnswer[str]) -> None:
        pass

    stream = asyncio.create_task(answer_stream(submit, messages, decode, context_of, send))
    messages.put("x")
    while "x" not in submit.futures:
        await asyncio.sleep(0)
    stream.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stream
    assert submit.futures["x"].cancelled()
