"""The connector against each real broker (Redis Streams, NATS JetStream, Kafka): answers equal to
in-process ONNX Runtime, keys and correlation ids kept, per-partition order, dead letters with
reasons, back-pressure on a full model queue, exactly-once options."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from in_process import InProcessStream
from probes import PARTITIONS, Probe, Record, probe_for
from scorer import MODEL, NUM_IN, features, onnxruntime_answer

from naiad.streams.spec import StreamSpec


def spec_for(probe: Probe, topics: tuple[str, str, str], **settings: object) -> StreamSpec:
    source, answers, errors = topics
    return StreamSpec(
        broker=probe.url,
        model=MODEL,
        input_topic=source,
        output_topic=answers,
        error_topic=errors,
        group="tests",
        consumer="tests",
        session_timeout_s=6.0,
        **settings,  # type: ignore[arg-type]
    )


def keyed_records(count: int) -> list[Record]:
    """Message i: key k<i%5>, correlation id c<i>, features(i); Kafka partition by key."""
    return [
        Record(
            json.dumps(features(i).tolist()).encode(),
            key=f"k{i % 5}".encode(),
            headers={"correlation-id": f"c{i}".encode(), "trace": b"kept"},
            partition=(i % 5) % PARTITIONS,
        )
        for i in range(count)
    ]


def test_every_message_is_answered_like_onnxruntime_in_partition_order(
    probe: Probe, topics: tuple[str, str, str], repository: Path
) -> None:
    count = 60
    probe.create(*topics)
    probe.produce(topics[0], keyed_records(count))  # a burst waits before the stream starts
    with InProcessStream(repository, spec_for(probe, topics)) as stream:
        answers = probe.read(topics[1], count)
        assert len(answers) == count, "one answer per message, no duplicates in a clean run"
        expected = onnxruntime_answer(repository, np.stack([features(i) for i in range(count)]))
        order: dict[int, list[int]] = defaultdict(list)
        for answer in answers:
            i = int(answer.headers["correlation-id"].decode()[1:])
            assert answer.key == f"k{i % 5}".encode()
            assert answer.headers["trace"] == b"kept"
            document = json.loads(answer.value)
            assert document["id"] == f"c{i}" and document["model_name"] == MODEL
            np.testing.assert_allclose(document["outputs"]["OUTPUT0"], expected[i], rtol=1e-5)
            order[answer.partition].append(i)
        for partition, seen in order.items():
            for key in range(5):
                of_key = [i for i in seen if i % 5 == key]
                assert of_key == sorted(of_key), f"partition {partition}: key k{key} reordered"
        [stats] = stream.engine.statistics(MODEL, "", stream.engine_context)
        assert stats.stats.execution_count < count, "a burst of messages shares batches"
        # Counted once the broker acknowledged the answer, which can follow its delivery here.
        stream.wait_for(lambda: stream.value("naiad_stream_messages_total", outcome="ok") == count)
        assert stream.value("naiad_stream_end_to_end_seconds_count") == count
        stream.wait_for(lambda: stream.lag_samples() and not any(stream.lag_samples().values()))


def test_malformed_messages_go_to_the_error_topic_with_their_reasons(
    probe: Probe, topics: tuple[str, str, str], repository: Path
) -> None:
    good = json.dumps(features(0).tolist()).encode()
    bad = {
        b"{not json": "malformed JSON",
        json.dumps([1.0] * (NUM_IN - 1)).encode(): "shape [7]",
        json.dumps({"INPUT9": [0.0] * NUM_IN}).encode(): "unknown input",
        json.dumps(["a"] * NUM_IN).encode(): "not FP32",
    }
    records = [Record(good, key=b"first")]
    records += [Record(value, key=f"bad{n}".encode()) for n, value in enumerate(bad)]
    records.append(Record(good, key=b"last"))
    probe.create(*topics)
    probe.produce(topics[0], records)
    with InProcessStream(repository, spec_for(probe, topics)) as stream:
        answers = probe.read(topics[1], 2)
        rejected = probe.read(topics[2], len(bad))
        assert sorted(a.key for a in answers) == [b"first", b"last"], "the stream went on"
        assert len(rejected) == len(bad)
        for record in rejected:
            assert record.value in bad, "the original payload, unchanged"
            reason = record.headers["naiad-error"].decode()
            assert bad[record.value] in reason, reason
            assert record.headers["naiad-error-stage"] == b"decode"
        assert stream.value("naiad_stream_errors_total", stage="decode") == len(bad)
        stream.wait_for(
            lambda: stream.value("naiad_stream_messages_total", outcome="error") == len(bad)
        )


def test_a_burst_larger_than_the_model_queue_pauses_consumption_instead_of_rejecting(
    probe: Probe, topics: tuple[str, str, str], small_queue_repository: Path
) -> None:
    count = 300  # the model's queue holds 4; the stream may hold 256 in flight
    probe.create(*topics)
    probe.produce(topics[0], keyed_records(count))
    spec = spec_for(probe, topics)
    with InProcessStream(small_queue_repository, spec) as stream:
        answers = probe.read(topics[1], count)
        assert len(answers) == count
        assert probe.read(topics[2], 0, timeout_s=0) == [], "nothing rejected"
        assert stream.value("naiad_stream_backpressure_pauses_total") > 0
        assert stream.value("naiad_stream_backpressure_seconds_total") > 0


@pytest.mark.parametrize("message_format", ["v2-json", "raw"])
def test_v2_and_raw_payloads(
    redis_url: str, topics: tuple[str, str, str], repository: Path, message_format: str
) -> None:
    probe = probe_for(redis_url)  # the formats are the core's: one broker shows them
    x = features(7)
    if message_format == "raw":
        value = x.tobytes()
    else:
        value = json.dumps(
            {
                "inputs": [
                    {"name": "INPUT0", "datatype": "FP32", "shape": [1, NUM_IN], "data": x.tolist()}
                ]
            }  # fmt: skip
        ).encode()
    probe.create(*topics)
    probe.produce(topics[0], [Record(value, key=b"only")])
    with InProcessStream(repository, spec_for(probe, topics, format=message_format)):
        [answer] = probe.read(topics[1], 1)
    expected = onnxruntime_answer(repository, x[None])[0]
    if message_format == "raw":
        got = np.frombuffer(answer.value, np.float32)
        assert answer.headers["naiad-shape"] == b"1,3"
    else:
        got = np.array(json.loads(answer.value)["outputs"][0]["data"], np.float32)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert answer.key == b"only"


def test_exactly_once_delivery(
    probe: Probe, topics: tuple[str, str, str], repository: Path
) -> None:
    count = 20
    probe.create(*topics)
    probe.produce(topics[0], keyed_records(count))
    with InProcessStream(repository, spec_for(probe, topics, exactly_once=True)) as stream:
        answers = probe.read(topics[1], count)
        assert sorted(a.headers["correlation-id"] for a in answers) == sorted(
            f"c{i}".encode() for i in range(count)
        )
        stream.wait_for(lambda: stream.lag_samples() and not any(stream.lag_samples().values()))
