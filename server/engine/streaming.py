"""Many requests over one connection: the multiplexer every streaming front end shares.

gRPC's ModelStreamInfer uses it today; an HTTP streaming route or a broker consumer hands it
their own message iterator, decoder and sender.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import TypeVar

from naiad.engine.context import CallContext
from naiad.engine.protocol import StreamAnswer
from naiad.engine.request import InferRequest, InferResponse
from naiad.errors import NaiadError

M = TypeVar("M")
Submit = Callable[[InferRequest, CallContext], "asyncio.Future[InferResponse]"]

_END_OF_INPUT = None


async def answer_stream(
    submit: Submit,
    messages: AsyncIterable[M],
    decode: Callable[[M], InferRequest],
    context: Callable[[M], CallContext],
    send: Callable[[StreamAnswer[M]], Awaitable[None]],
) -> None:
    """Reads `messages`, submits each, and sends every answer as soon as it is ready.

    - Every message gets exactly one answer: its response, or the NaiadError that refused it
      (decode or submit) or that its inference ended with. Such errors do not end the stream.
    - Answers go out in completion order, one `send` at a time.
    - Returns once the input has ended and every answer is sent.
    - Anything else going wrong (the message iterator failing, decode or submit raising an
      exception that is not a NaiadError, `send` failing) ends the stream at once: the error
      propagates to the caller, unwrapped from the task group, and requests still in flight
      are cancelled. The same happens when the caller is cancelled.
    """
    answers: asyncio.Queue[StreamAnswer[M] | None] = asyncio.Queue()
    in_flight: set[asyncio.Future[InferResponse]] = set()

    def settled(message: M, future: asyncio.Future[InferResponse]) -> None:
        in_flight.discard(future)
        if future.cancelled():
            return
        error = future.exception()
        if error is None:
            answers.put_nowait(StreamAnswer(message, future.result(), None))
        else:
            answers.put_nowait(StreamAnswer(message, None, error))

    async def read() -> None:
        async for message in messages:
            try:
                future = submit(decode(message), context(message))
            except NaiadError as exc:
                answers.put_nowait(StreamAnswer(message, None, exc))
                continue
            in_flight.add(future)
            future.add_done_callback(functools.partial(settled, message))
        answers.put_nowait(_END_OF_INPUT)

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(read())
            input_ended = False
            while not (input_ended and not in_flight and answers.empty()):
                answer = await answers.get()
                if answer is _END_OF_INPUT:
                    input_ended = True
                    continue
                await send(answer)
    except BaseExceptionGroup as failed:
        # Only the reader runs in the group: its one failure is the stream's.
        raise failed.exceptions[0] from None
    finally:
        for future in list(in_flight):
            future.cancel()


class StreamsThroughSubmit:
    """Gives an engine its `stream` verb: answer_stream over the engine's own `submit`, so that
    every layer an engine stack has sees streamed requests as it sees unary ones."""

    submit: Submit

    async def stream(
        self,
        messages: AsyncIterable[M],
        decode: Callable[[M], InferRequest],
        context: Callable[[M], CallContext],
        send: Callable[[StreamAnswer[M]], Awaitable[None]],
    ) -> None:
        await answer_stream(self.submit, messages, decode, context, send)
