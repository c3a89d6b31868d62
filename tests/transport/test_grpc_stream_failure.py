"""ModelStreamInfer over a real grpc.aio server: a broken stream ends with INTERNAL at once."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from naiad.engine.context import CallContext
from naiad.engine.layers import EngineLayer
from naiad.engine.request import InferRequest, InferResponse
from naiad.errors import Unavailable
from naiad.transport.grpc_server import INT32_MAX, GrpcFrontEnd
from naiad_protocol import grpc_service_pb2 as pb
from naiad_protocol import grpc_service_pb2_grpc as pb_grpc


class ScriptedEngine(EngineLayer):
    """Answers "ok" requests, refuses "busy" ones, and has a bug on "bug" ones."""

    def __init__(self) -> None:
        super().__init__(inner=None)  # type: ignore[arg-type]

    def submit(self, request: InferRequest, context: CallContext) -> asyncio.Future[InferResponse]:
        assert context.protocol == "grpc"
        if request.id == "busy":
            raise Unavailable("queue is full")
        if request.id == "bug":
            raise RuntimeError("a bug in a layer")
        future = asyncio.get_running_loop().create_future()
        future.set_result(InferResponse(request.model_name, "1", request.id, []))
        return future

    def server_ready(self) -> bool:
        return True


@pytest.fixture
async def stub():  # type: ignore[no-untyped-def]
    front = GrpcFrontEnd(ScriptedEngine(), "127.0.0.1", 0, INT32_MAX)
    await front.start()
    try:
        async with grpc.aio.insecure_channel(front.address) as channel:
            yield pb_grpc.GRPCInferenceServiceStub(channel)
    finally:
        await front.stop(0)


async def test_errors_travel_in_the_stream_and_a_bug_ends_it_with_internal(stub) -> None:  # type: ignore[no-untyped-def]
    call = stub.ModelStreamInfer()
    await call.write(pb.ModelInferRequest(model_name="m", id="ok"))
    answer = await asyncio.wait_for(call.read(), 5)
    assert answer.error_message == "" and answer.infer_response.id == "ok"
    assert answer.infer_response.parameters["triton_final_response"].bool_param
    await call.write(pb.ModelInferRequest(model_name="m", id="busy"))
    refused = await asyncio.wait_for(call.read(), 5)
    assert refused.error_message == "queue is full" and refused.infer_response.id == "busy"

    # The client keeps its side open: only the server can end the stream now.
    await call.write(pb.ModelInferRequest(model_name="m", id="bug"))
    with pytest.raises(grpc.aio.AioRpcError) as ended:
        await asyncio.wait_for(call.read(), 5)
    assert ended.value.code() is grpc.StatusCode.INTERNAL
    assert ended.value.details() == "internal error: a bug in a layer"


async def test_the_server_keeps_serving_after_a_broken_stream(stub) -> None:  # type: ignore[no-untyped-def]
    broken = stub.ModelStreamInfer()
    await broken.write(pb.ModelInferRequest(model_name="m", id="bug"))
    with pytest.raises(grpc.aio.AioRpcError):
        await asyncio.wait_for(broken.read(), 5)
    response = await asyncio.wait_for(
        stub.ModelInfer(pb.ModelInferRequest(model_name="m", id="ok")), 5
    )
    assert response.id == "ok"
    ready = await stub.ServerReady(pb.ServerReadyRequest())
    assert ready.ready
