"""At-least-once across a crash: `naiad stream` killed with SIGKILL mid-stream and started again
answers every input at least once, on each real broker. Duplicates (the unacknowledged tail
reprocessed) are counted and reported, not forbidden."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections import Counter
from pathlib import Path

from probes import Probe, Record
from processes import naiad
from scorer import MODEL, features

from naiad.streams.command import READY_PREFIX

COUNT = 400
CHUNK = 10
CHUNK_EVERY_S = 0.05


def stream_command(probe: Probe, topics: tuple[str, str, str], repository: Path) -> list[str]:
    source, answers, errors = topics
    return [
        "stream", "--model-repository", str(repository), "--model", MODEL,
        "--broker", probe.url, "--input-topic", source, "--output-topic", answers,
        "--error-topic", errors, "--group", "crash", "--consumer", "crash",
        "--ack-wait-s", "1", "--session-timeout-s", "6",
    ]  # fmt: skip


def kill_with_work_in_hand(probe: Probe, source: str, timeout_s: float = 10.0) -> None:
    """Returns once the stream holds read, unacknowledged messages. A slow producer (each probe
    call connects anew) can leave the stream idle between chunks; killed then, it would leave
    nothing to redeliver and the test would not test a crash. The fixed 100 ms batching delay
    keeps what is seen here unacknowledged until the kill lands."""
    deadline = time.monotonic() + timeout_s
    while probe.unacknowledged(source, "crash") == 0:
        assert time.monotonic() < deadline, "the stream never held unacknowledged messages"
        time.sleep(0.005)


def test_a_killed_stream_restarted_answers_every_input_at_least_once(
    probe: Probe,
    topics: tuple[str, str, str],
    long_delay_repository: Path,
    record_property: object,
) -> None:
    repository = long_delay_repository
    probe.create(*topics)
    records = [
        Record(
            json.dumps(features(i).tolist()).encode(),
            key=f"k{i % 7}".encode(),
            headers={"correlation-id": f"c{i}".encode()},
            partition=i % 3,
        )
        for i in range(COUNT)
    ]
    produced = threading.Event()

    def trickle() -> None:  # inputs keep arriving while the stream is killed
        for start in range(CHUNK, COUNT, CHUNK):
            probe.produce(topics[0], records[start : start + CHUNK])
            time.sleep(CHUNK_EVERY_S)
        produced.set()

    command = stream_command(probe, topics, repository)
    with naiad(*command, ready_prefix=READY_PREFIX) as first:
        probe.produce(topics[0], records[:CHUNK])
        assert len(probe.read(topics[1], CHUNK)) >= CHUNK, "the stream consumes"
        producer = threading.Thread(target=trickle, daemon=True)
        producer.start()
        before = probe.read(topics[1], COUNT // 4)
        kill_with_work_in_hand(probe, topics[0])
        first.process.send_signal(signal.SIGKILL)
        assert first.process.wait(10) == -signal.SIGKILL
        assert not produced.is_set() and len(before) < COUNT, "the kill landed mid-stream"
        tail = probe.unacknowledged(topics[0], "crash")
        assert tail > 0, "the killed stream left read, unacknowledged messages behind"
    producer.join(30)
    with naiad(*command, ready_prefix=READY_PREFIX):
        deadline = time.monotonic() + 60
        wanted = COUNT
        while True:  # duplicates count towards a read's total: read on until every id is in
            answers = probe.read(topics[1], wanted, timeout_s=max(0, deadline - time.monotonic()))
            seen = Counter(a.headers["correlation-id"].decode() for a in answers)
            missing = [f"c{i}" for i in range(COUNT) if f"c{i}" not in seen]
            if not missing or time.monotonic() > deadline:
                break
            wanted = len(answers) + len(missing)
        assert not missing, f"{len(missing)} inputs never answered, e.g. {missing[:5]}"
    duplicates = sum(n - 1 for n in seen.values())
    assert set(seen) == {f"c{i}" for i in range(COUNT)}
    assert probe.read(topics[2], 0, timeout_s=0) == []
    broker = probe.url.split(":")[0]
    print(
        f"\n{broker}: {COUNT} inputs, {len(answers)} answers, {duplicates} duplicates;"
        f" killed at {len(before)} answered, {tail} unacknowledged"
    )
    record_property("duplicates", duplicates)  # type: ignore[operator]
