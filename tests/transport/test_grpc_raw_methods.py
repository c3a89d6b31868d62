"""ModelInfer and ModelStreamInfer registered on bytes, over a real grpc.aio server: both decode
paths answer alike, bad bytes get the status grpc's own deserializer gave them, and the server
keeps serving every other method."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest

from naiad.engine.context import CallContext
from naiad.engine.layers import EngineLayer
from naiad.engine.request import InferOutput, InferRequest, InferResponse
from naiad.transport.grpc_server import INT32_MAX, GrpcFrontEnd
from naiad_protocol import grpc_service_pb2 as pb
from naiad_protocol import grpc_service_pb2_grpc as pb_grpc

DECODE_ERROR = (
    "Unexpected <class 'google.protobuf.message.DecodeError'>: Error parsing message with type"
    " 'inference.ModelInferRequest'"
)


class EchoEngine(EngineLayer):
    """Answers every request with its inputs as outputs, doubled."""

    def __init__(self) -> None:
        super().__init__(inner=None)  # type: ignore[arg-type]
        self.received: list[InferRequest] = []

    def submit(self, request: InferRequest, context: CallContext) -> asyncio.Future[InferResponse]:
        self.received.append(request)
        outputs = [InferOutput(i.name + "_out", i.datatype, i.data * 2) for i in request.inputs]
        future = asyncio.get_running_loop().create_future()
        future.set_result(InferResponse(request.model_name, "1", request.id, outputs))
        return future

    def server_ready(self) -> bool:
        return True


@pytest.fixture
async def served():  # type: ignore[no-untyped-def]
    engine = EchoEngine()
    front = GrpcFrontEnd(engine, "127.0.0.1", 0, INT32_MAX)
    await front.start()
    try:
        async with grpc.aio.insecure_channel(front.address) as channel:
            yield engine, channel
    finally:
        await front.stop(0)


def raw_request(id: str = "r", data: bytes = b"\1\0\0\0\2\0\0\0") -> pb.ModelInferRequest:
    message = pb.ModelInferRequest(model_name="m", id=id)
    message.inputs.add(name="x", datatype="INT32", shape=[2])
    message.raw_input_contents.append(data)
    return message


def typed_request(id: str = "r") -> pb.ModelInferRequest:
    message = pb.ModelInferRequest(model_name="m", id=id)
    message.inputs.add(name="x", datatype="INT32", shape=[2]).contents.int_contents.extend([1, 2])
    return message


def doubled(response: pb.ModelInferResponse) -> list[int]:
    return np.frombuffer(response.raw_output_contents[0], np.int32).tolist()


async def test_raw_and_typed_requests_get_the_same_answer(served) -> None:  # type: ignore[no-untyped-def]
    engine, channel = served
    stub = pb_grpc.GRPCInferenceServiceStub(channel)
    fast = await stub.ModelInfer(raw_request())
    typed = await stub.ModelInfer(typed_request())
    assert fast == typed
    assert doubled(fast) == [2, 4] and fast.outputs[0].name == "x_out" and fast.id == "r"
    assert [r.inputs[0].data.tolist() for r in engine.received] == [[1, 2], [1, 2]]


async def test_bad_input_keeps_its_status_and_the_server_keeps_serving(served) -> None:  # type: ignore[no-untyped-def]
    _, channel = served
    stub = pb_grpc.GRPCInferenceServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.ModelInfer(raw_request(data=b"\0" * 5))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unexpected total byte size 5, expecting 8" in (refused.value.details() or "")

    garbage = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
    with pytest.raises(grpc.aio.AioRpcError) as corrupt:
        await garbage(b"\x0a\x05ab")
    assert corrupt.value.code() == grpc.StatusCode.UNKNOWN
    assert (corrupt.value.details() or "").startswith(DECODE_ERROR)

    assert (await stub.ServerLive(pb.ServerLiveRequest())).live
    assert doubled(await stub.ModelInfer(raw_request())) == [2, 4]


async def test_a_stream_answers_both_paths_and_errors_in_place(served) -> None:  # type: ignore[no-untyped-def]
    _, channel = served
    call = pb_grpc.GRPCInferenceServiceStub(channel).ModelStreamInfer()
    answers = {}
    for message in (raw_request("fast"), typed_request("typed"), raw_request("bad", b"\0")):
        await call.write(message)
        answer = await asyncio.wait_for(call.read(), 5)
        answers[answer.infer_response.id] = answer
    assert doubled(answers["fast"].infer_response) == doubled(answers["typed"].infer_response)
    for answer in answers.values():
        assert answer.infer_response.parameters["triton_final_response"].bool_param
    assert "unexpected total byte size 1" in answers["bad"].error_message
    assert answers["bad"].infer_response.model_name == "m"
    await call.done_writing()
    assert await call.code() == grpc.StatusCode.OK


async def test_bytes_that_are_no_request_end_the_stream_with_internal(served) -> None:  # type: ignore[no-untyped-def]
    _, channel = served
    call = channel.stream_stream("/inference.GRPCInferenceService/ModelStreamInfer")()
    await call.write(raw_request("ok").SerializeToString())
    first = pb.ModelStreamInferResponse.FromString(await asyncio.wait_for(call.read(), 5))
    assert first.infer_response.id == "ok"
    await call.write(b"\x0a\x05ab")
    assert await asyncio.wait_for(call.code(), 5) == grpc.StatusCode.INTERNAL
    assert "Error parsing message with type 'inference.ModelInferRequest'" in await call.details()
