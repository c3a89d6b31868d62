"""Redis Streams: a consumer group on the input stream, XADD for answers, XACK after them.

A message's fields: `value` (the payload), `key` (optional), and every other field a header.
Answers are written the same way. The group is created at the stream's start (and the stream
with it) when missing, so nothing written before the first start is skipped. A restarted
consumer of the same name first re-reads its own pending entries (read, never acknowledged),
then new ones. With exactly_once the answers' XADDs and the inputs' XACK run in one MULTI, so
that an input is acknowledged if and only if its answer was written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from naiad.streams.messages import BrokerMessage, OutgoingMessage
from naiad.streams.spec import StreamSpec

VALUE_FIELD = b"value"
KEY_FIELD = b"key"


class RedisStreamsAdapter:
    def __init__(self, spec: StreamSpec) -> None:
        self._spec = spec
        self._client: aioredis.Redis | None = None
        self._cursor: bytes | None = b"0"
        """Where the re-read of this consumer's pending entries stands; None once done."""

    async def connect(self) -> None:
        self._client = aioredis.from_url(self._spec.broker)
        try:
            await self._client.xgroup_create(
                self._spec.input_topic, self._spec.group, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def fetch(self, max_count: int, timeout_s: float) -> list[BrokerMessage]:
        client = self._require()
        spec = self._spec
        if self._cursor is not None:
            reply = await client.xreadgroup(
                spec.group, spec.member, {spec.input_topic: self._cursor}, count=max_count
            )
            entries = [(i, f) for i, f in _entries(reply) if f]
            if entries:
                self._cursor = entries[-1][0]
                return [self._message(i, f) for i, f in entries]
            self._cursor = None
        reply = await client.xreadgroup(
            spec.group,
            spec.member,
            {spec.input_topic: ">"},
            count=max_count,
            block=max(1, int(timeout_s * 1000)),
        )
        return [self._message(i, f) for i, f in _entries(reply)]

    async def deliver(
        self, outgoing: Sequence[OutgoingMessage], consumed: Sequence[BrokerMessage]
    ) -> None:
        client = self._require()
        spec = self._spec
        ids = [message.token for message in consumed]
        pipe = client.pipeline(transaction=spec.exactly_once)
        for out in outgoing:
            fields: dict[bytes, bytes] = {
                k.encode(): v
                for k, v in out.headers.items()
                if k.encode() not in (VALUE_FIELD, KEY_FIELD)
            }
            fields[VALUE_FIELD] = out.value
            if out.key is not None:
                fields[KEY_FIELD] = out.key
            pipe.xadd(out.topic, fields)  # type: ignore[arg-type]
        if spec.exactly_once and ids:
            pipe.xack(spec.input_topic, spec.group, *ids)
        await pipe.execute()
        if not spec.exactly_once and ids:
            await client.xack(spec.input_topic, spec.group, *ids)

    async def lag(self) -> dict[str, int]:
        for group in await self._require().xinfo_groups(self._spec.input_topic):
            name = group.get("name")
            if name in (self._spec.group, self._spec.group.encode()):
                return {self._spec.input_topic: int(group.get("lag") or 0)}
        return {}

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _message(self, entry_id: bytes, fields: dict[bytes, bytes]) -> BrokerMessage:
        millis = int(entry_id.split(b"-", 1)[0])
        headers = {
            k.decode("utf-8", "replace").lower(): v
            for k, v in fields.items()
            if k not in (VALUE_FIELD, KEY_FIELD)
        }
        return BrokerMessage(
            partition=self._spec.input_topic,
            position=millis,
            key=fields.get(KEY_FIELD),
            value=fields.get(VALUE_FIELD, b""),
            headers=headers,
            timestamp_s=millis / 1000,
            token=entry_id,
        )

    def _require(self) -> aioredis.Redis:
        if self._client is None:
            raise RuntimeError("the Redis adapter is not connected")
        return self._client


def _entries(reply: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """The entries of a one-stream XREADGROUP reply (RESP2: [[stream, entries]])."""
    return list(reply[0][1]) if reply else []
