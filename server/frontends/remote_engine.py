"""The InferenceEngine a front-end process serves: requests through its shared rings, every
other verb over the control socket to the one engine process.

Thread model: submit() and the response reader run on the front end's event loop (the ring's
producer and consumer sides are each used by that one thread). The synchronous verbs block
for one control round trip; the async ones make theirs on a worker thread.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from typing import Any

from naiad.engine.context import CallContext
from naiad.engine.protocol import ModelDescription, VersionStats
from naiad.engine.request import InferRequest, InferResponse
from naiad.engine.streaming import StreamsThroughSubmit
from naiad.errors import Unavailable
from naiad.frontends import wire
from naiad.frontends.control import ControlClient
from naiad.frontends.region import SharedRegion, SlotPool
from naiad.repository.types import IndexEntry
from naiad_protocol.model_config_pb2 import ModelConfig

log = logging.getLogger("naiad.frontends")


class RemoteEngine(StreamsThroughSubmit):
    """The engine, as seen from a front-end process. Start with attach() on the serving loop;
    close() fails whatever is still in flight."""

    def __init__(self, region: SharedRegion, control: ControlClient, *, id_base: int = 0) -> None:
        """`id_base`: this front end's request ids start above it (FrontEndSpec.id_base)."""
        self._region = region
        self._control = control
        self._slots = SlotPool(region.layout.num_slots)
        self._pending: dict[int, tuple[asyncio.Future[InferResponse], int]] = {}
        """request id -> (its future, its slot), from push until its answer is read."""
        self._ids = itertools.count(id_base + 1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed: str | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(self._region.wake_fd, self._read_answers)
        self._read_answers()

    @property
    def num_in_flight(self) -> int:
        return len(self._pending)

    def submit(self, request: InferRequest, context: CallContext) -> asyncio.Future[InferResponse]:
        if self._closed is not None:
            raise Unavailable(self._closed)
        slot = self._slots.take()
        if slot is None:
            raise Unavailable(
                f"this front end has {len(self._pending)} requests in flight, its limit"
            )
        written = wire.write_request(self._region.request_slot(slot), request, context)
        if written is None:
            self._slots.give_back(slot)
            return asyncio.ensure_future(self._submit_by_copy(request, context))
        request_id = next(self._ids)
        assert self._loop is not None
        future: asyncio.Future[InferResponse] = self._loop.create_future()
        # Never full: the ring holds two descriptors per slot (a request and its cancel).
        if not self._region.requests.push(request_id, wire.KIND_REQUEST, slot, *written):
            self._slots.give_back(slot)
            raise Unavailable("this front end's request ring is full")
        self._pending[request_id] = (future, slot)
        future.add_done_callback(functools.partial(self._withdraw_if_cancelled, request_id))
        return future

    async def _submit_by_copy(self, request: InferRequest, context: CallContext) -> InferResponse:
        """A request too large for a slot: pickled over the control socket, answered there."""
        state = wire.context_state(context)
        response: InferResponse = await asyncio.to_thread(
            self._control.call, "submit", request, state
        )
        return response

    def _withdraw_if_cancelled(self, request_id: int, future: asyncio.Future[Any]) -> None:
        if future.cancelled() and request_id in self._pending and self._closed is None:
            # The slot stays taken until the engine answers the cancel (or the request).
            self._region.requests.push(request_id, wire.KIND_CANCEL, 0, 0, 0)

    def _read_answers(self) -> None:
        self._region.clear_wake()
        responses = self._region.responses
        while self._closed is None:
            answers = responses.pop(256)
            for request_id, kind, _status, slot, header_bytes, _total in answers:
                self._answer(request_id, kind, slot, header_bytes)
            if not answers and responses.prepare_wait():
                return

    def _answer(self, request_id: int, kind: int, slot: int, header_bytes: int) -> None:
        entry = self._pending.pop(request_id, None)
        if entry is None:
            log.error("the engine answered request %d, which is not in flight", request_id)
            return
        future, slot = entry
        view = self._region.response_slot(slot)
        try:
            if kind == wire.KIND_RESPONSE:
                outcome: InferResponse | BaseException = wire.read_response(view, header_bytes)
            elif kind == wire.KIND_ERROR:
                outcome = wire.read_error(view, header_bytes)
            elif kind == wire.KIND_PARKED:
                self._slots.give_back(slot)
                if not future.done():
                    asyncio.ensure_future(self._take_parked(request_id, future))
                return
            else:
                outcome = Unavailable(f"the engine sent an answer of unknown kind {kind}")
        finally:
            view.release()
        self._slots.give_back(slot)
        if future.done():
            return
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    async def _take_parked(self, request_id: int, future: asyncio.Future[InferResponse]) -> None:
        try:
            response = await asyncio.to_thread(self._control.call, "take_parked", request_id)
        except Exception as exc:  # noqa: BLE001 - the caller gets it
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(response)

    def close(self, reason: str) -> None:
        """Stops reading answers and fails every request in flight with UNAVAILABLE."""
        if self._closed is not None:
            return
        self._closed = reason
        if self._loop is not None:
            self._loop.remove_reader(self._region.wake_fd)
        pending, self._pending = self._pending, {}
        for future, _slot in pending.values():
            if not future.done():
                future.set_exception(Unavailable(reason))

    def describe(self, name: str, version: str, context: CallContext) -> ModelDescription:
        description: ModelDescription = self._call("describe", name, version, context)
        return description

    def config(self, name: str, version: str, context: CallContext) -> ModelConfig:
        config: ModelConfig = self._call("config", name, version, context)
        return config

    def statistics(self, name: str, version: str, context: CallContext) -> list[VersionStats]:
        stats: list[VersionStats] = self._call("statistics", name, version, context)
        return stats

    def model_ready(self, name: str, version: str, context: CallContext) -> bool:
        return bool(self._call("model_ready", name, version, context))

    def server_ready(self) -> bool:
        if self._closed is not None:
            return False
        try:
            return bool(self._control.call("server_ready"))
        except Unavailable:
            return False

    async def index(self, ready_only: bool, context: CallContext) -> list[IndexEntry]:
        entries: list[IndexEntry] = await self._call_async("index", ready_only, context)
        return entries

    async def load(
        self, name: str, config_json: str | None, files: dict[str, bytes], context: CallContext
    ) -> None:
        await self._call_async("load", name, config_json, files, context)

    async def unload(self, name: str, context: CallContext) -> None:
        await self._call_async("unload", name, context)

    def _call(self, verb: str, *args: Any) -> Any:
        return self._control.call(verb, *_portable(args))

    async def _call_async(self, verb: str, *args: Any) -> Any:
        return await asyncio.to_thread(self._control.call, verb, *_portable(args))


def _portable(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Arguments with each CallContext as its picklable state."""
    return tuple(wire.context_state(a) if isinstance(a, CallContext) else a for a in args)
