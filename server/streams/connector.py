"""The connector core: consume, decode, batch through the Engine, produce, acknowledge.

Two tasks and a timer share one broker adapter. The reader fetches as many messages as the
in-flight window has room for, decodes each and submits it to the engine at once, so that a
burst lands in the dynamic batcher together. When the model's queue is full (the engine's
Unavailable) it stops reading and retries the same message once one of its requests has
finished: consumption pauses instead of rejecting. The writer takes every answer whose
partition predecessors are answered (InOrder), produces them in one round and, once the broker
acknowledged the round, acknowledges their inputs: a crash loses at most unacknowledged work,
which the broker hands out again (at-least-once). A message that cannot be decoded, fails in
inference or cannot be encoded goes to the error topic with the reason and its original
payload, in its place in the order; the stream goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from naiad.engine.context import INTERNAL, CallContext
from naiad.engine.protocol import InferenceEngine
from naiad.engine.request import InferRequest, InferResponse
from naiad.errors import NaiadError, Unavailable, error_text
from naiad.streams.adapter import BrokerAdapter
from naiad.streams.codec import HEADER_LENGTH, MessageCodec
from naiad.streams.messages import BrokerMessage, OutgoingMessage
from naiad.streams.metrics import StreamMetrics
from naiad.streams.ordering import InOrder, Slot
from naiad.streams.spec import StreamSpec

log = logging.getLogger("naiad.streams")
CONTEXT = CallContext(protocol="stream")
ERROR_HEADER = "naiad-error"
STAGE_HEADER = "naiad-error-stage"


@dataclass(frozen=True)
class ConnectorOptions:
    """How the core paces itself; the defaults suit every broker."""

    fetch_timeout_s: float = 0.1
    """How long one fetch waits for a first message (also how soon a stop is noticed)."""
    retry_s: float = 0.002
    """Back-pressure: how long to wait before retrying a full queue that none of this stream's
    requests is in (other clients filled it)."""
    lag_interval_s: float = 5.0
    """How often the consumer lag and messages/s gauges are refreshed."""
    deliver_attempts: int = 5
    """Tries of one round's produce-and-acknowledge before the stream gives up (and exits with
    the round unacknowledged)."""


class Connector:
    """One stream: runs until stop(), then answers and acknowledges everything it read."""

    def __init__(
        self,
        engine: InferenceEngine,
        adapter: BrokerAdapter,
        spec: StreamSpec,
        metrics: StreamMetrics,
        *,
        options: ConnectorOptions | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`clock`: wall-clock seconds, compared with the brokers' timestamps."""
        self._engine = engine
        self._adapter = adapter
        self._spec = spec
        self._options = options or ConnectorOptions()
        self._clock = clock
        label = spec.label
        self._label = label
        self._metrics = metrics
        self._ok = metrics.messages.labels(label, "ok")
        self._failed = metrics.messages.labels(label, "error")
        self._latency = metrics.latency.labels(label)
        self._in_flight_gauge = metrics.in_flight.labels(label)
        self._order = InOrder()
        self._in_flight = 0
        self._running = 0  # submitted to the engine and not finished
        self._answered = 0
        self._stopping = False
        self._reading_done = False
        self._wake = asyncio.Event()  # the writer: a slot finished or reading ended
        self._room = asyncio.Event()  # the reader: the window or the model's queue has room
        self._finished = asyncio.Event()
        self._codec: MessageCodec | None = None

    def stop(self) -> None:
        """Stops reading; run() returns once everything read is answered and acknowledged."""
        self._stopping = True
        self._room.set()

    async def run(self) -> None:
        """Consumes until stop(). Raises when the broker fails for good (after retries): what
        was read and not acknowledged then stays with the broker."""
        settings = self._engine.describe(self._spec.model, self._spec.model_version, INTERNAL)
        self._codec = MessageCodec(settings.settings, self._spec.model_version, self._spec.format)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._read())
                group.create_task(self._write())
                group.create_task(self._watch_lag())
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None

    async def _read(self) -> None:
        try:
            while not self._stopping:
                room = self._spec.max_in_flight - self._in_flight
                if room <= 0:
                    await self._wait_for_room(None)
                    continue
                for message in await self._adapter.fetch(room, self._options.fetch_timeout_s):
                    if not await self._admit(message):
                        break  # stopping while paused: the rest stays unacknowledged
        finally:
            self._reading_done = True
            self._wake.set()

    async def _admit(self, message: BrokerMessage) -> bool:
        """Submits one message (or records its rejection) in its partition's order; False
        when the stream stopped before the model took it."""
        assert self._codec is not None
        slot = Slot(message)
        try:
            request = self._codec.decode(message.value, message.headers, self._request_id(message))
        except NaiadError as exc:
            slot.rejection = ("decode", error_text(exc))
        else:
            submitted = await self._submit(request)
            if submitted is None:
                return False
            slot.future, slot.rejection = submitted
        self._order.push(slot)
        self._in_flight += 1
        self._in_flight_gauge.set(self._in_flight)
        if slot.future is None:
            self._wake.set()
        else:
            self._running += 1
            slot.future.add_done_callback(self._finished_one)
        return True

    async def _submit(
        self, request: InferRequest
    ) -> tuple[asyncio.Future[InferResponse] | None, tuple[str, str] | None] | None:
        paused_at: float | None = None
        try:
            while True:
                try:
                    return self._engine.submit(request, CONTEXT), None
                except Unavailable:
                    # A full queue (or a model reloading): wait for room instead of rejecting.
                    if self._stopping:
                        return None
                    if paused_at is None:
                        paused_at = time.monotonic()
                        self._metrics.pauses.labels(self._label).inc()
                    await self._wait_for_room(self._options.retry_s if not self._running else None)
                except NaiadError as exc:
                    return None, ("inference", error_text(exc))
        finally:
            if paused_at is not None:
                self._metrics.paused_s.labels(self._label).inc(time.monotonic() - paused_at)

    def _finished_one(self, _: asyncio.Future[InferResponse]) -> None:
        self._running -= 1
        self._room.set()
        self._wake.set()

    async def _wait_for_room(self, timeout_s: float | None) -> None:
        self._room.clear()
        if timeout_s is None:
            await self._room.wait()
            return
        try:
            await asyncio.wait_for(self._room.wait(), timeout_s)
        except TimeoutError:
            pass

    async def _write(self) -> None:
        try:
            while True:
                self._wake.clear()
                ready = self._order.pop_ready()
                if not ready:
                    if self._reading_done and not len(self._order):
                        return
                    await self._wake.wait()
                    continue
                await self._deliver(ready)
        finally:
            self._finished.set()

    async def _deliver(self, ready: Sequence[Slot]) -> None:
        outgoing = [self._answer(slot) for slot in ready]
        consumed = [slot.message for slot in ready]
        for attempt in range(self._options.deliver_attempts):
            try:
                await self._adapter.deliver(outgoing, consumed)
                break
            except Exception as exc:
                if attempt + 1 == self._options.deliver_attempts:
                    raise
                log.warning("stream %s: delivery failed (%s); retrying", self._label, exc)
                await asyncio.sleep(0.1 * 2**attempt)
        now = self._clock()
        errors_to = self._spec.errors_to
        for out in outgoing:
            stamp = out.source.timestamp_s
            if stamp is not None:
                self._latency.observe(max(0.0, now - stamp))
            (self._failed if out.topic == errors_to else self._ok).inc()
        self._answered += len(ready)
        self._in_flight -= len(ready)
        self._in_flight_gauge.set(self._in_flight)
        self._room.set()

    def _answer(self, slot: Slot) -> OutgoingMessage:
        assert self._codec is not None
        message = slot.message
        headers = {k: v for k, v in message.headers.items() if k != HEADER_LENGTH}
        headers[self._spec.correlation_header] = self._request_id(message).encode()
        rejection = slot.rejection
        if rejection is None and slot.future is not None:
            if slot.future.cancelled():
                rejection = ("inference", "the request was cancelled")
            elif (error := slot.future.exception()) is not None:
                rejection = ("inference", error_text(error))
            else:
                try:
                    value, extra = self._codec.encode(slot.future.result())
                except NaiadError as exc:
                    rejection = ("encode", error_text(exc))
                else:
                    headers.update(extra)
                    return OutgoingMessage(
                        self._spec.output_topic, message.key, value, headers, message
                    )
        stage, reason = rejection or ("inference", "no answer")
        self._metrics.errors.labels(self._label, stage).inc()
        headers[ERROR_HEADER] = reason.encode()
        headers[STAGE_HEADER] = stage.encode()
        return OutgoingMessage(self._spec.errors_to, message.key, message.value, headers, message)

    def _request_id(self, message: BrokerMessage) -> str:
        given = message.headers.get(self._spec.correlation_header) or message.key
        if given:
            return given.decode("utf-8", "replace")
        return f"{message.partition}@{message.position}"

    async def _watch_lag(self) -> None:
        interval_s = self._options.lag_interval_s
        answered = self._answered
        while not self._finished.is_set():
            try:
                await asyncio.wait_for(self._finished.wait(), interval_s)
            except TimeoutError:
                pass
            self._metrics.rate.labels(self._label).set((self._answered - answered) / interval_s)
            answered = self._answered
            try:
                lags = await self._adapter.lag()
            except Exception as exc:  # a metric must never stop the stream
                log.debug("stream %s: lag unavailable: %s", self._label, exc)
                continue
            for partition, lag in lags.items():
                self._metrics.lag.labels(self._label, partition).set(lag)
