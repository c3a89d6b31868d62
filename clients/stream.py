"""A ModelStreamInfer session: many requests on one stream, answers matched to them by id."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import grpc

from naiad_client import messages
from naiad_client.errors import InferenceServerError, from_rpc_error, from_stream_message
from naiad_protocol import grpc_service_pb2 as pb


class StreamSession:
    """One bidirectional ModelStreamInfer stream carrying many concurrent requests.

    Each request gets an id (a unique one unless the caller set it); its future resolves when the
    response with that id arrives, whatever the order. An ``error_message`` answer fails only
    that request; the stream stays open. If the stream itself breaks, every pending request and
    every later ``send`` raises InferenceServerError with the stream's status.
    Obtain one from ``AsyncClient.stream()`` and use it as an async context manager.
    """

    def __init__(
        self,
        multicallable: Any,
        timeout_s: float | None = None,
        metadata: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        self._multicallable = multicallable
        self._timeout_s = timeout_s
        self._metadata = metadata
        self._call: Any = None
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._pending: dict[str, asyncio.Future[messages.InferResult]] = {}
        self._ids = itertools.count()
        self._tasks: list[asyncio.Task[None]] = []
        self._error: InferenceServerError | None = None
        self._closing = False

    async def __aenter__(self) -> StreamSession:
        self.open()
        return self

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            await self.close()
        else:
            self.cancel()

    def open(self) -> None:
        """Starts the stream (done by ``async with``); needs a running event loop."""
        if self._call is None:
            self._call = self._multicallable(timeout=self._timeout_s, metadata=self._metadata)
            self._tasks = [asyncio.ensure_future(c) for c in (self._write(), self._read())]

    @property
    def num_pending(self) -> int:
        """Requests sent and not yet answered."""
        return len(self._pending)

    def send(
        self, request: pb.ModelInferRequest | bytes, request_id: str | None = None
    ) -> asyncio.Future[messages.InferResult]:
        """Queues a prepared request (message or serialized bytes); returns a future of its
        InferResult. A message's own id is kept; otherwise ``request_id`` or a fresh id is used.
        """
        if self._error is not None:
            raise self._error
        if self._closing or self._call is None:
            raise InferenceServerError(grpc.StatusCode.CANCELLED, "stream session is not open")
        own_id = request.id if isinstance(request, pb.ModelInferRequest) else ""
        rid = request_id or own_id or self._fresh_id()
        if rid in self._pending:
            raise ValueError(f"request id {rid!r} is already pending on this stream")
        payload = messages.serialize_request(request)
        if rid != own_id:
            payload = messages.with_id(payload, rid)
        future = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        self._queue.put_nowait(payload)
        return future

    async def infer(
        self,
        model: str,
        inputs: Mapping[str, Any],
        outputs: Sequence[str] | None = None,
        version: str = "",
        request_id: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> messages.InferResult:
        """Encodes, sends and awaits one request on the stream; raises InferenceServerError."""
        request = messages.build_infer_request(model, inputs, outputs, version, "", parameters)
        return await self.send(request, request_id)

    async def close(self, grace_s: float = 30.0) -> None:
        """Stops sending, waits up to ``grace_s`` for pending answers, then ends the stream."""
        if self._call is None or self._closing:
            return
        self._closing = True
        self._queue.put_nowait(None)
        _, not_done = await asyncio.wait(self._tasks, timeout=grace_s)
        if not_done:
            self.cancel()
            await asyncio.wait(self._tasks)

    def cancel(self) -> None:
        """Ends the stream now; pending requests fail with CANCELLED."""
        self._closing = True
        if self._call is not None:
            self._call.cancel()
        for task in self._tasks:
            task.cancel()
        self._fail_pending(InferenceServerError(grpc.StatusCode.CANCELLED, "stream cancelled"))

    def _fresh_id(self) -> str:
        rid = str(next(self._ids))
        while rid in self._pending:
            rid = str(next(self._ids))
        return rid

    async def _write(self) -> None:
        try:
            while (payload := await self._queue.get()) is not None:
                await self._call.write(payload)
            await self._call.done_writing()
        except (grpc.RpcError, asyncio.InvalidStateError):
            pass  # the reader sees the same failure and reports it

    async def _read(self) -> None:
        try:
            async for response in self._call:
                self._dispatch(response)
            error = InferenceServerError(
                grpc.StatusCode.UNAVAILABLE, "stream ended before the request was answered"
            )
        except grpc.RpcError as rpc_error:
            error = from_rpc_error(rpc_error)
        if not self._closing:
            self._error = error
        self._fail_pending(error)

    def _dispatch(self, response: pb.ModelStreamInferResponse) -> None:
        inner = response.infer_response
        # Unknown ids are later responses to answered requests (e.g. empty final responses).
        future = self._pending.pop(inner.id, None)
        if future is None or future.done():
            return
        if response.error_message:
            future.set_exception(from_stream_message(response.error_message))
        else:
            future.set_result(messages.InferResult(inner))

    def _fail_pending(self, error: InferenceServerError) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)
