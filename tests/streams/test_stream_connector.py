"""The connector core over an in-memory broker and the real engine: acknowledgement only after
delivery, retries, latency from the broker's timestamp on an injected clock, rejections by
stage, correlation ids; InOrder's per-partition release."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from memory_broker import MemoryBroker
from scorer import MODEL, NUM_IN, features

from naiad.engine.engine import Engine
from naiad.engine.loader import load_served_model
from naiad.repository.manager import ModelRepository
from naiad.streams.connector import Connector, ConnectorOptions
from naiad.streams.messages import BrokerMessage
from naiad.streams.metrics import StreamMetrics
from naiad.streams.ordering import InOrder, Slot
from naiad.streams.spec import StreamSpec

SPEC = StreamSpec(
    broker="redis://memory", model=MODEL, input_topic="in", output_topic="out", error_topic="err"
)
QUICK = ConnectorOptions(retry_s=0.001, lag_interval_s=0.05, deliver_attempts=3)


@pytest.fixture
async def engine(repository: Path) -> AsyncIterator[Engine]:
    repo = ModelRepository(
        str(repository), factory=load_served_model, control_mode="explicit",
        startup_models=(MODEL,),
    )  # fmt: skip
    await asyncio.to_thread(repo.start)
    engine = Engine(repo)
    engine.accept(True)
    yield engine
    await asyncio.to_thread(repo.stop)


def message(i: int, value: bytes | None = None, **fields: object) -> BrokerMessage:
    body = value if value is not None else json.dumps(features(i).tolist()).encode()
    settings: dict[str, object] = {"partition": "p0", "position": i, "key": None, "value": body}
    settings.update(fields)
    return BrokerMessage(**settings)  # type: ignore[arg-type]


async def run_until_answered(connector: Connector, broker: MemoryBroker, count: int) -> None:
    task = asyncio.create_task(connector.run())
    while len(broker.acknowledged) < count and not task.done():
        await asyncio.sleep(0.005)
    connector.stop()
    await task


async def test_inputs_are_acknowledged_only_after_their_answers_were_delivered(
    engine: Engine,
) -> None:
    broker = MemoryBroker([message(i) for i in range(40)], refusals=1)
    connector = Connector(engine, broker, SPEC, StreamMetrics(None), options=QUICK)
    await run_until_answered(connector, broker, 40)
    assert [m.position for m in broker.acknowledged] == list(range(40)), "each once, in order"
    delivered = [out.source.position for out in broker.produced]
    assert set(delivered) == set(range(40)) and len(delivered) > 40, "the refused round again"


async def test_a_broker_that_keeps_refusing_ends_the_stream_with_nothing_acknowledged(
    engine: Engine,
) -> None:
    broker = MemoryBroker([message(i) for i in range(5)], refusals=99)
    connector = Connector(engine, broker, SPEC, StreamMetrics(None), options=QUICK)
    with pytest.raises(ConnectionError):
        await connector.run()
    assert broker.acknowledged == [] and broker.rounds == QUICK.deliver_attempts


async def test_latency_runs_from_the_broker_timestamp_to_the_delivery_on_the_injected_clock(
    engine: Engine,
) -> None:
    broker = MemoryBroker([message(i, timestamp_s=999.75) for i in range(8)])
    metrics = StreamMetrics(None)
    connector = Connector(engine, broker, SPEC, metrics, options=QUICK, clock=lambda: 1000.0)
    await run_until_answered(connector, broker, 8)
    assert metrics.value("naiad_stream_end_to_end_seconds_sum", stream=SPEC.label) == 8 * 0.25
    assert (
        metrics.value("naiad_stream_end_to_end_seconds_bucket", stream=SPEC.label, le="0.25") == 8
    )


async def test_rejections_name_their_stage_and_keep_their_place(engine: Engine) -> None:
    spec = StreamSpec(**{**SPEC.__dict__, "format": "v2-json"})
    good = {"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, NUM_IN],
                        "data": features(0).tolist()}]}  # fmt: skip
    wrong_output = {**good, "outputs": [{"name": "NOPE"}]}
    broker = MemoryBroker(
        [
            message(0, json.dumps(good).encode()),
            message(1, b"[]"),
            message(2, json.dumps(wrong_output).encode()),
            message(3, json.dumps(good).encode()),
        ]
    )
    connector = Connector(engine, broker, spec, StreamMetrics(None), options=QUICK)
    await run_until_answered(connector, broker, 4)
    out = {o.source.position: o for o in broker.produced}
    assert [o.source.position for o in broker.produced] == [0, 1, 2, 3], "in input order"
    assert (out[0].topic, out[3].topic) == ("out", "out")
    assert out[1].topic == "err" and out[1].headers["naiad-error-stage"] == b"decode"
    assert b"must be a JSON object" in out[1].headers["naiad-error"]
    assert out[2].topic == "err" and out[2].headers["naiad-error-stage"] == b"inference"
    assert (
        b"NOPE" in out[2].headers["naiad-error"]
        and out[2].value == message(2, json.dumps(wrong_output).encode()).value
    )


async def test_the_correlation_id_comes_from_the_header_then_the_key_then_the_position(
    engine: Engine,
) -> None:
    broker = MemoryBroker(
        [
            message(0, key=b"key0", headers={"correlation-id": b"corr0"}),
            message(1, key=b"key1"),
            message(2),
        ]
    )
    connector = Connector(engine, broker, SPEC, StreamMetrics(None), options=QUICK)
    await run_until_answered(connector, broker, 3)
    ids = [json.loads(o.value)["id"] for o in broker.produced]
    assert ids == ["corr0", "key1", "p0@2"]
    assert [o.headers["correlation-id"] for o in broker.produced] == [b"corr0", b"key1", b"p0@2"]
    assert [o.key for o in broker.produced] == [b"key0", b"key1", None]


async def test_in_order_holds_a_partition_behind_its_unfinished_head() -> None:
    loop = asyncio.get_running_loop()
    order = InOrder()
    futures = [loop.create_future() for _ in range(3)]
    slots = [Slot(message(i), futures[i]) for i in range(3)]
    other = Slot(message(9, partition="p1"), None, ("decode", "bad"))
    for slot in (*slots, other):
        order.push(slot)
    futures[2].set_result(None)
    futures[1].set_result(None)
    assert order.pop_ready() == [other], "p1 goes on; p0 waits for its head"
    futures[0].set_result(None)
    assert order.pop_ready() == slots and len(order) == 0
