"""Optional OpenTelemetry tracing: spans per request, parented by the `traceparent` the caller
sent (gRPC metadata or an HTTP header)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import grpc
import modelgen
import numpy as np
import pytest
from obs_helpers import FAST_CONFIG, fast_model

from naiad.engine.engine import Engine
from naiad.engine.loader import load_served_model
from naiad.observability import tracing
from naiad.repository.manager import ModelRepository
from naiad.security.guard import Guard
from naiad.transport.grpc_server import INT32_MAX, GrpcFrontEnd
from naiad.transport.http.messages import HttpRequest
from naiad.transport.http.rest import RestApi
from naiad_client import AsyncClient, InferenceServerError
from naiad_protocol import grpc_service_pb2_grpc as pb_grpc

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def test_without_opentelemetry_there_is_no_tracer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    assert tracing.load_tracer() is None


async def test_spans_continue_the_callers_trace(tmp_path: Path) -> None:
    sdk = pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    root = modelgen.write_repository(
        tmp_path / "repo", {"fast": {1: fast_model}}, {"fast": FAST_CONFIG}
    )
    repository = ModelRepository(str(root), factory=load_served_model)
    await asyncio.to_thread(repository.start)
    core = Engine(repository)
    core.accept(True)
    engine = tracing.TracingLayer(core, provider.get_tracer("naiad"))
    front = GrpcFrontEnd(engine, "127.0.0.1", 0, INT32_MAX)
    await front.start()
    try:
        address = f"127.0.0.1:{front.port}"
        async with grpc.aio.insecure_channel(address) as channel, AsyncClient(address) as client:
            request = client.prepare(
                "fast", {"INPUT0": np.ones((1, 4), np.float32)}, request_id="t1"
            )
            metadata = (("traceparent", f"00-{TRACE_ID}-{PARENT_ID}-01"),)
            await pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, metadata=metadata)
            with pytest.raises(InferenceServerError):
                await client.infer("fast", {"INPUT0": np.ones((1, 5), np.float32)}, request_id="t2")
        body = json.dumps(
            {
                "id": "h1",
                "inputs": [
                    {"name": "INPUT0", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}
                ],
            }  # fmt: skip
        ).encode()
        headers = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
        http = HttpRequest("POST", "/v2/models/fast/infer", "", headers, body)
        answer = await RestApi(engine, Guard(), 1 << 20)(http)
        assert answer is not None and answer.status == 200
    finally:
        await front.stop(0)
        repository.stop()

    finished = exporter.get_finished_spans()
    spans = {s.attributes["naiad.request_id"]: s for s in finished if s.name == "naiad.infer"}
    traced = spans["t1"]
    children = {
        s.name: s for s in finished if s.parent and s.parent.span_id == traced.context.span_id
    }
    assert set(children) == {"naiad.queue", "naiad.execute"}
    assert children["naiad.queue"].end_time <= children["naiad.execute"].start_time
    assert children["naiad.execute"].end_time <= traced.end_time
    assert traced.name == "naiad.infer"
    assert format(traced.context.trace_id, "032x") == TRACE_ID
    assert traced.parent is not None and format(traced.parent.span_id, "016x") == PARENT_ID
    assert traced.attributes["naiad.model"] == "fast" and traced.attributes["naiad.version"] == "1"
    assert traced.attributes["naiad.status"] == "OK"
    assert traced.attributes["naiad.protocol"] == "grpc"
    over_http = spans["h1"]
    assert over_http.attributes["naiad.protocol"] == "http"
    assert format(over_http.context.trace_id, "032x") == TRACE_ID
    refused = spans["t2"]
    assert refused.parent is None  # no traceparent: a trace of its own
    assert refused.attributes["naiad.status"] == "INVALID_ARGUMENT"
    assert not refused.status.is_ok
