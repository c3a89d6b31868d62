"""A small grpc.aio fake of the v2 service, run on its own thread, for client tests.

ModelInfer echoes each input back as output ``OUT_<name>``; model "missing" is NOT_FOUND and model
"busy" is UNAVAILABLE. On streams, requests are answered in reverse order of arrival, a few at a
time (or after a short lull), and model "bad" gets an ``error_message`` answer. The server can
listen with TLS, and records each call's method and metadata (``FakeServer.calls``).
"""

from __future__ import annotations

import asyncio
import threading

import grpc

from naiad_protocol import grpc_service_pb2 as pb
from naiad_protocol import grpc_service_pb2_grpc as pb_grpc
from naiad_protocol import model_config_pb2 as mc

STREAM_GROUP = 3  # stream answers are held until this many requests arrived, then reversed
STREAM_FLUSH_S = 0.05  # ...or until no request came for this long


def echo(request: pb.ModelInferRequest) -> pb.ModelInferResponse:
    response = pb.ModelInferResponse(
        model_name=request.model_name, model_version=request.model_version or "1", id=request.id
    )
    wanted = {o.name for o in request.outputs}
    for tensor, raw in zip(request.inputs, request.raw_input_contents, strict=True):
        name = "OUT_" + tensor.name
        if wanted and name not in wanted:
            continue
        response.outputs.add(name=name, datatype=tensor.datatype, shape=tensor.shape)
        response.raw_output_contents.append(raw)
    for key, value in request.parameters.items():
        response.parameters[key].CopyFrom(value)
    return response


class FakeService(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self) -> None:
        self.load_requests: list[pb.RepositoryModelLoadRequest] = []
        self.unloaded: list[str] = []

    async def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=True)

    async def ModelReady(self, request, context):
        return pb.ModelReadyResponse(ready=request.name == "echo")

    async def ServerMetadata(self, request, context):
        return pb.ServerMetadataResponse(name="fake", version="0", extensions=["statistics"])

    async def ModelMetadata(self, request, context):
        response = pb.ModelMetadataResponse(name=request.name, versions=["1"], platform="fake")
        response.inputs.add(name="x", datatype="FP32", shape=[-1, 4])
        return response

    async def ModelConfig(self, request, context):
        config = mc.ModelConfig(name=request.name, platform="fake", max_batch_size=8)
        config.input.add(name="x", data_type=mc.TYPE_FP32, dims=[4])
        return pb.ModelConfigResponse(config=config)

    async def ModelStatistics(self, request, context):
        response = pb.ModelStatisticsResponse()
        response.model_stats.add(name=request.name or "echo", version="1", inference_count=7)
        return response

    async def RepositoryIndex(self, request, context):
        response = pb.RepositoryIndexResponse()
        response.models.add(name="echo", version="1", state="READY")
        return response

    async def RepositoryModelLoad(self, request, context):
        self.load_requests.append(request)
        return pb.RepositoryModelLoadResponse()

    async def RepositoryModelUnload(self, request, context):
        self.unloaded.append(request.model_name)
        return pb.RepositoryModelUnloadResponse()

    async def ModelInfer(self, request, context):
        if request.model_name == "missing":
            await context.abort(grpc.StatusCode.NOT_FOUND, "Request for unknown model: 'missing'")
        if request.model_name == "busy":
            await context.abort(grpc.StatusCode.UNAVAILABLE, "queue full")
        return echo(request)

    async def ModelStreamInfer(self, request_iterator, context):
        queue: asyncio.Queue[pb.ModelInferRequest | None] = asyncio.Queue()

        async def pump() -> None:
            async for request in request_iterator:
                queue.put_nowait(request)
            queue.put_nowait(None)

        pumping = asyncio.ensure_future(pump())
        held: list[pb.ModelInferRequest] = []
        while True:
            try:
                request = await asyncio.wait_for(queue.get(), STREAM_FLUSH_S)
            except TimeoutError:
                request = held[-1] if held else None  # flush what is held
            else:
                if request is not None:
                    held.append(request)
                    if len(held) < STREAM_GROUP:
                        continue
            for answer in map(self._stream_answer, reversed(held)):
                yield answer
            held.clear()
            if request is None and pumping.done():
                break
        await pumping

    @staticmethod
    def _stream_answer(request: pb.ModelInferRequest) -> pb.ModelStreamInferResponse:
        if request.model_name == "bad":
            return pb.ModelStreamInferResponse(
                error_message="INVALID_ARGUMENT: bad input",
                infer_response=pb.ModelInferResponse(id=request.id),
            )
        response = echo(request)
        response.parameters["triton_final_response"].bool_param = True
        return pb.ModelStreamInferResponse(infer_response=response)


class MetadataRecorder(grpc.aio.ServerInterceptor):
    """Appends (method, {metadata key: value}) for every call, streams once when they open."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []

    async def intercept_service(self, continuation, handler_call_details):
        metadata = dict(handler_call_details.invocation_metadata or ())
        self.calls.append((handler_call_details.method.rsplit("/", 1)[-1], metadata))
        return await continuation(handler_call_details)


class FakeServer:
    """Runs FakeService on 127.0.0.1:<any port> in a background event loop thread; with
    ``credentials`` (grpc.ssl_server_credentials) it speaks TLS only."""

    def __init__(self, credentials: grpc.ServerCredentials | None = None) -> None:
        self.service = FakeService()
        self.credentials = credentials
        self.recorder = MetadataRecorder()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: grpc.aio.Server | None = None
        self.port = 0

    def start(self) -> FakeServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self._server = grpc.aio.server(interceptors=[self.recorder])
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(self.service, self._server)
        if self.credentials is None:
            self.port = self._server.add_insecure_port("127.0.0.1:0")
        else:
            self.port = self._server.add_secure_port("127.0.0.1:0", self.credentials)
        await self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._server.stop(None), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def calls(self) -> list[tuple[str, dict[str, str]]]:
        return self.recorder.calls
