"""The engine's side of one front end's rings: request descriptors in, engine.submit, answers
written into the response slab and posted back.

Runs on the engine process's event loop (the ring's consumer and the response ring's producer
are that one thread). close() is what a dead front end costs: its requests still in the engine
are cancelled (work already running may finish; its results are dropped), nothing is left
pending, and its memory is unmapped.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

from naiad.engine.protocol import InferenceEngine
from naiad.engine.request import InferResponse
from naiad.errors import ErrorCode, NaiadError
from naiad.frontends import wire
from naiad.frontends.region import SharedRegion

log = logging.getLogger("naiad.frontends")


class ParkedAnswers:
    """Answers too large for their slot, kept until their front end takes them over the
    control socket. Request ids are unique server-wide (each front end numbers from its own
    base), so one book serves every front end."""

    def __init__(self) -> None:
        self._answers: dict[int, InferResponse] = {}

    def park(self, request_id: int, response: InferResponse) -> None:
        self._answers[request_id] = response

    def take(self, request_id: int) -> InferResponse:
        response = self._answers.pop(request_id, None)
        if response is None:
            raise NaiadError(f"no parked answer for request {request_id}", ErrorCode.NOT_FOUND)
        return response

    def drop(self, request_ids: set[int]) -> None:
        for request_id in request_ids:
            self._answers.pop(request_id, None)


class EngineHost:
    """Serves one front end's request ring. `copy_inputs()`: whether the engine stack may keep
    inputs past the answer (monitoring samples, shadow copies), so that it must get copies
    rather than views over the slab, whose slot is reused once answered; asked per request."""

    def __init__(
        self,
        engine: InferenceEngine,
        region: SharedRegion,
        parked: ParkedAnswers,
        *,
        copy_inputs: Callable[[], bool],
    ) -> None:
        self._engine = engine
        self._region = region
        self._parked = parked
        self._copy_inputs = copy_inputs
        self._in_flight: dict[int, asyncio.Future[InferResponse]] = {}
        self._parked_ids: set[int] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(self._region.wake_fd, self._read_requests)
        self._read_requests()

    @property
    def num_in_flight(self) -> int:
        return len(self._in_flight)

    def _read_requests(self) -> None:
        self._region.clear_wake()
        requests = self._region.requests
        while not self._closed:
            items = requests.pop(256)
            for request_id, kind, _status, slot, header_bytes, _total in items:
                if kind == wire.KIND_REQUEST:
                    self._start(request_id, slot, header_bytes)
                elif kind == wire.KIND_CANCEL:
                    future = self._in_flight.get(request_id)
                    if future is not None:
                        future.cancel()
                else:
                    log.error("front end sent a descriptor of unknown kind %d", kind)
            if not items and requests.prepare_wait():
                return

    def _start(self, request_id: int, slot: int, header_bytes: int) -> None:
        try:
            request, context = wire.read_request(
                self._region.request_slot(slot), header_bytes, copy=self._copy_inputs()
            )
            future = self._engine.submit(request, context)
        except Exception as exc:  # noqa: BLE001 - every refusal goes back as the answer
            self._post_error(request_id, slot, exc)
            return
        self._in_flight[request_id] = future
        future.add_done_callback(functools.partial(self._finished, request_id, slot))

    def _finished(self, request_id: int, slot: int, future: asyncio.Future[InferResponse]) -> None:
        if self._in_flight.pop(request_id, None) is None:
            return  # the front end is gone; nobody is left to answer
        if future.cancelled():
            self._post_error(request_id, slot, NaiadError("request cancelled", ErrorCode.CANCELLED))
            return
        error = future.exception()
        if error is not None:
            self._post_error(request_id, slot, error)
            return
        response = future.result()
        try:
            written = wire.write_response(self._region.response_slot(slot), response)
        except Exception as exc:  # noqa: BLE001 - an output that cannot be encoded
            self._post_error(request_id, slot, exc)
            return
        if written is None:
            self._parked.park(request_id, response)
            self._parked_ids.add(request_id)
            self._post(request_id, wire.KIND_PARKED, slot, 0, 0)
        else:
            self._post(request_id, wire.KIND_RESPONSE, slot, *written)

    def taken(self, request_id: int) -> None:
        self._parked_ids.discard(request_id)

    def _post_error(self, request_id: int, slot: int, error: BaseException) -> None:
        written = wire.write_error(self._region.response_slot(slot), error)
        self._post(request_id, wire.KIND_ERROR, slot, *written)

    def _post(self, request_id: int, kind: int, slot: int, header_bytes: int, total: int) -> None:
        # Never full: at most one answer per slot is ever waiting, and the ring holds two.
        if not self._region.responses.push(request_id, kind, slot, header_bytes, total):
            log.error("response ring full: request %d of this front end is lost", request_id)

    def close(self) -> None:
        """The front end is gone: cancel its requests, drop their answers, unmap its memory."""
        if self._closed:
            return
        self._closed = True
        if self._loop is not None:
            self._loop.remove_reader(self._region.wake_fd)
        in_flight, self._in_flight = self._in_flight, {}
        for future in in_flight.values():
            future.cancel()
        self._parked.drop(self._parked_ids)
        self._region.close()
