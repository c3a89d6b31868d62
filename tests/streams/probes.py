"""Each broker's own client, used by the tests to write inputs and read back what a stream wrote:
the same `Probe` interface for Kafka, Redis Streams and NATS JetStream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

PARTITIONS = 3
"""Kafka topics the tests create have this many partitions; the other brokers have one log."""


@dataclass
class Record:
    """A message as a test writes or reads it."""

    value: bytes
    key: bytes | None = None
    headers: dict[str, bytes] = field(default_factory=dict)
    partition: int = 0
    """Kafka partition (written to; read from); 0 elsewhere."""


class Probe(Protocol):
    url: str

    def create(self, *topics: str) -> None: ...

    def produce(self, topic: str, records: Sequence[Record]) -> None: ...

    def unacknowledged(self, topic: str, group: str) -> int:
        """Messages of `topic` the group has not acknowledged (Kafka: not committed, read or
        not; Redis and NATS: read and not acknowledged)."""
        ...

    def read(self, topic: str, count: int, timeout_s: float = 30.0) -> list[Record]:
        """At least `count` records of `topic` (all there are once `count` arrived), in log
        order per partition; fewer if the timeout passes first."""
        ...


def _deadline_reader(count: int, timeout_s: float) -> tuple[float, int]:
    return time.monotonic() + timeout_s, count


class RedisProbe:
    def __init__(self, url: str) -> None:
        import redis

        self.url = url
        self._client = redis.Redis.from_url(url)

    def create(self, *topics: str) -> None:
        pass  # XADD creates a stream

    def produce(self, topic: str, records: Sequence[Record]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for record in records:
            fields: dict[Any, Any] = dict(record.headers)
            fields["value"] = record.value
            if record.key is not None:
                fields["key"] = record.key
            pipe.xadd(topic, fields)
        pipe.execute()

    def unacknowledged(self, topic: str, group: str) -> int:
        summary: Any = self._client.xpending(topic, group)
        return int(summary["pending"])

    def read(self, topic: str, count: int, timeout_s: float = 30.0) -> list[Record]:
        deadline, _ = _deadline_reader(count, timeout_s)
        while True:
            entries: Any = self._client.xrange(topic)
            if len(entries) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        found = []
        for _, fields in entries:
            headers = {k.decode(): v for k, v in fields.items() if k not in (b"value", b"key")}
            found.append(Record(fields.get(b"value", b""), fields.get(b"key"), headers))
        return found


class NatsProbe:
    def __init__(self, url: str) -> None:
        self.url = url

    def _run(self, work: Any) -> Any:
        import nats

        async def main() -> Any:
            client = await nats.connect(self.url)
            try:
                return await work(client.jetstream())
            finally:
                await client.close()

        return asyncio.run(main())

    def create(self, *topics: str) -> None:
        import nats.js.errors

        from naiad.streams.nats_jetstream import stream_name

        async def work(js: Any) -> None:
            for topic in topics:
                try:
                    await js.find_stream_name_by_subject(topic)
                except nats.js.errors.NotFoundError:
                    await js.add_stream(name=stream_name(topic), subjects=[topic])

        self._run(work)

    def produce(self, topic: str, records: Sequence[Record]) -> None:
        async def work(js: Any) -> None:
            for record in records:
                headers = {k: v.decode() for k, v in record.headers.items()}
                if record.key is not None:
                    headers["key"] = record.key.decode()
                await js.publish(topic, record.value, headers=headers or None)

        self._run(work)

    def unacknowledged(self, topic: str, group: str) -> int:
        from naiad.streams.nats_jetstream import stream_name

        async def work(js: Any) -> int:
            info = await js.consumer_info(stream_name(topic), group)
            return int(info.num_ack_pending)

        return int(self._run(work))

    def read(self, topic: str, count: int, timeout_s: float = 30.0) -> list[Record]:
        import nats.errors
        import nats.js.errors

        from naiad.streams.nats_jetstream import stream_name

        async def work(js: Any) -> list[Record]:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    info = await js.stream_info(stream_name(topic))
                    total = info.state.messages
                except nats.js.errors.NotFoundError:
                    total = 0
                if total >= count or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            found = []
            for sequence in range(1, total + 1):
                message = await js.get_msg(stream_name(topic), sequence)
                headers = {k.lower(): v.encode() for k, v in (message.headers or {}).items()}
                key = headers.pop("key", None)
                found.append(Record(message.data or b"", key, headers))
            return found

        return list(self._run(work))


class KafkaProbe:
    def __init__(self, url: str) -> None:
        from confluent_kafka import Producer

        self.url = url
        self._servers = url.split("://", 1)[1]
        self._producer = Producer(
            {"bootstrap.servers": self._servers, "linger.ms": 1, "log.connection.close": False}
        )

    def create(self, *topics: str) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self._servers})
        futures = admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in topics])
        for future in futures.values():
            future.result(10)

    def produce(self, topic: str, records: Sequence[Record]) -> None:
        for record in records:
            self._producer.produce(
                topic,
                value=record.value,
                key=record.key,
                headers=list(record.headers.items()),
                partition=record.partition,
            )
        assert self._producer.flush(30) == 0

    def unacknowledged(self, topic: str, group: str) -> int:
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": self._servers, "group.id": group})
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        total = 0
        for committed in consumer.committed(partitions, timeout=10):
            _, high = consumer.get_watermark_offsets(committed, timeout=10)
            total += high - max(committed.offset, 0)
        consumer.close()
        return total

    def read(self, topic: str, count: int, timeout_s: float = 30.0) -> list[Record]:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        consumer = Consumer(
            {
                "bootstrap.servers": self._servers,
                "group.id": f"probe-{time.monotonic_ns()}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            }  # fmt: skip
        )
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        found: list[Record] = []
        deadline = time.monotonic() + timeout_s
        quiet_until = 0.0
        while time.monotonic() < deadline:
            batch = consumer.consume(500, 0.2)
            for message in batch:
                if message.error() is None:
                    pairs: list[Any] = list(message.headers() or [])
                    headers = {k: v for k, v in pairs}
                    found.append(
                        Record(message.value(), message.key(), headers, message.partition())  # type: ignore[arg-type]
                    )
            if len(found) >= count:
                # read on briefly: a duplicate can still be on its way
                quiet_until = quiet_until or time.monotonic() + 0.3
                if time.monotonic() > quiet_until:
                    break
        consumer.close()
        return found


def probe_for(url: str) -> Probe:
    scheme = url.split("://", 1)[0]
    return {"redis": RedisProbe, "nats": NatsProbe, "kafka": KafkaProbe}[scheme](url)
