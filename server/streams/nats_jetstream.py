"""NATS JetStream: a durable pull consumer on the input subject, acks after the answers' PubAcks.

NATS messages have no key: the `key` header carries it, both ways. A subject that no stream
captures yet gets a stream of its own (named after the subject), for the input, the output and
the error subject alike, so that every publish is acknowledged by JetStream. Unacknowledged
messages are redelivered after `ack_wait_s` (a restarted consumer gets its tail back then).
With exactly_once each answer carries `Nats-Msg-Id` = its input's stream sequence, so that
JetStream drops an answer republished after a crash (within the stream's duplicate window),
and inputs are acknowledged with a confirmed (double) ack.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from naiad.streams.messages import BrokerMessage, OutgoingMessage
from naiad.streams.spec import StreamSpec

KEY_HEADER = "key"
MSG_ID_HEADER = "Nats-Msg-Id"


def stream_name(subject: str) -> str:
    """The name naiad gives a stream it creates for `subject` (names cannot hold . * > or
    white space)."""
    return re.sub(r"[.*>\s]", "_", subject)


class JetStreamAdapter:
    def __init__(self, spec: StreamSpec) -> None:
        self._spec = spec
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._sub: JetStreamContext.PullSubscription | None = None

    async def connect(self) -> None:
        spec = self._spec
        self._nc = await nats.connect(spec.broker, allow_reconnect=True, max_reconnect_attempts=-1)
        self._js = self._nc.jetstream()
        for subject in dict.fromkeys((spec.input_topic, spec.output_topic, spec.errors_to)):
            await self._ensure_stream(subject)
        self._sub = await self._js.pull_subscribe(
            spec.input_topic,
            durable=spec.group,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=spec.ack_wait_s,
                max_ack_pending=-1,
            ),
        )

    async def fetch(self, max_count: int, timeout_s: float) -> list[BrokerMessage]:
        assert self._sub is not None, "not connected"
        try:
            messages = await self._sub.fetch(max_count, timeout=timeout_s)
        except (TimeoutError, nats.errors.TimeoutError):  # no message came
            return []
        return [self._message(m) for m in messages]

    async def deliver(
        self, outgoing: Sequence[OutgoingMessage], consumed: Sequence[BrokerMessage]
    ) -> None:
        assert self._js is not None, "not connected"
        acks: list[asyncio.Future[Any]] = []
        for out in outgoing:
            headers = {k: _header_text(v) for k, v in out.headers.items()}
            if out.key is not None:
                headers[KEY_HEADER] = _header_text(out.key)
            if self._spec.exactly_once:
                source = out.source
                headers[MSG_ID_HEADER] = f"{source.partition}:{source.position}"
            acks.append(await self._js.publish_async(out.topic, out.value, headers=headers))
        await asyncio.gather(*acks)  # raises the first refusal: then nothing is acknowledged
        for message in consumed:
            if self._spec.exactly_once:
                await message.token.ack_sync()
            else:
                await message.token.ack()

    async def lag(self) -> dict[str, int]:
        assert self._sub is not None, "not connected"
        info = await self._sub.consumer_info()
        return {self._spec.input_topic: int(info.num_pending or 0)}

    async def close(self) -> None:
        if self._nc is not None:
            # Not drain(): it waits (up to 30 s) for the pull subscription's pending requests.
            await self._nc.flush()
            await self._nc.close()
            self._nc = None

    async def _ensure_stream(self, subject: str) -> None:
        assert self._js is not None
        try:
            await self._js.find_stream_name_by_subject(subject)
        except nats.js.errors.NotFoundError:
            await self._js.add_stream(name=stream_name(subject), subjects=[subject])

    def _message(self, message: Msg) -> BrokerMessage:
        metadata = message.metadata
        headers = {k.lower(): v.encode() for k, v in (message.headers or {}).items()}
        key = headers.pop(KEY_HEADER, None)
        return BrokerMessage(
            partition=message.subject,
            position=metadata.sequence.stream,
            key=key,
            value=message.data,
            headers=headers,
            timestamp_s=metadata.timestamp.timestamp() if metadata.timestamp else None,
            token=message,
        )


def _header_text(value: bytes) -> str:
    # NATS headers are text lines: no line breaks inside a value.
    return value.decode("utf-8", "replace").replace("\r", " ").replace("\n", " ")
