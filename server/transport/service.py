"""GRPCInferenceService: each handler decodes, makes one engine call, encodes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import grpc

import naiad
from naiad.engine.engine import Engine
from naiad.engine.request import InferResponse
from naiad.errors import InvalidArgument, NaiadError
from naiad.observability import logs
from naiad.transport.infer_codec import decode_request, encode_response
from naiad.transport.model_codec import model_metadata, model_statistics
from naiad.transport.status import unary
from naiad_protocol import grpc_service_pb2 as pb
from naiad_protocol import grpc_service_pb2_grpc as pb_grpc

EXTENSIONS = (
    "model_repository",
    "model_configuration",
    "statistics",
    "schedule_policy",
    "parameters",
)

_END_OF_INPUT = object()


class InferenceService(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, engine: Engine, ready: Callable[[], bool]) -> None:
        self._engine = engine
        self._ready = ready

    @unary
    async def ServerLive(self, request, context):  # type: ignore[no-untyped-def]
        return pb.ServerLiveResponse(live=True)

    @unary
    async def ServerReady(self, request, context):  # type: ignore[no-untyped-def]
        return pb.ServerReadyResponse(ready=self._ready())

    @unary
    async def ModelReady(self, request, context):  # type: ignore[no-untyped-def]
        return pb.ModelReadyResponse(ready=self._engine.model_ready(request.name, request.version))

    @unary
    async def ServerMetadata(self, request, context):  # type: ignore[no-untyped-def]
        return pb.ServerMetadataResponse(
            name="naiad", version=naiad.__version__, extensions=EXTENSIONS
        )

    @unary
    async def ModelMetadata(self, request, context):  # type: ignore[no-untyped-def]
        settings, _ = self._engine.model(request.name, request.version)
        return model_metadata(settings, self._engine.ready_versions(request.name))

    @unary
    async def ModelConfig(self, request, context):  # type: ignore[no-untyped-def]
        _, config = self._engine.model(request.name, request.version)
        return pb.ModelConfigResponse(config=config)

    @unary
    async def ModelStatistics(self, request, context):  # type: ignore[no-untyped-def]
        found = self._engine.statistics(request.name, request.version)
        return pb.ModelStatisticsResponse(
            model_stats=[model_statistics(s.name, s.version, s.stats) for s in found]
        )

    @unary
    async def RepositoryIndex(self, request, context):  # type: ignore[no-untyped-def]
        entries = self._engine.repository.index(ready_only=request.ready)
        return pb.RepositoryIndexResponse(
            models=[
                pb.RepositoryIndexResponse.ModelIndex(
                    name=e.name,
                    version=e.version,
                    state=e.state.value if e.state is not None else "",
                    reason=e.reason,
                )
                for e in entries
            ]
        )

    @unary
    async def RepositoryModelLoad(self, request, context):  # type: ignore[no-untyped-def]
        config: str | None = None
        files: dict[str, bytes] = {}
        for key, param in request.parameters.items():
            if key == "config":
                config = param.string_param
            elif key.startswith("file:"):
                files[key[len("file:") :]] = param.bytes_param
            else:
                raise InvalidArgument(f"unrecognized load parameter '{key}'")
        await self._engine.load(request.model_name, config, files)
        return pb.RepositoryModelLoadResponse()

    @unary
    async def RepositoryModelUnload(self, request, context):  # type: ignore[no-untyped-def]
        await self._engine.unload(request.model_name)
        return pb.RepositoryModelUnloadResponse()

    @unary
    async def ModelInfer(self, request, context):  # type: ignore[no-untyped-def]
        response = await self._engine.submit(decode_request(request))
        return encode_response(response)

    async def ModelStreamInfer(
        self, requests: AsyncIterator[pb.ModelInferRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ModelStreamInferResponse]:
        """Answers each request as soon as it is ready; errors travel in error_message."""
        answers: asyncio.Queue[object] = asyncio.Queue()
        in_flight: set[asyncio.Future[InferResponse]] = set()

        def answer(message: pb.ModelInferRequest, future: asyncio.Future[InferResponse]) -> None:
            in_flight.discard(future)
            if future.cancelled():
                return
            error = future.exception()
            if error is None:
                answers.put_nowait(_stream_answer(future.result()))
            else:
                answers.put_nowait(_stream_error(message, error))

        async def read() -> None:
            async for message in requests:
                try:
                    future = self._engine.submit(decode_request(message))
                except NaiadError as exc:
                    answers.put_nowait(_stream_error(message, exc))
                    continue
                in_flight.add(future)
                future.add_done_callback(lambda f, m=message: answer(m, f))
            answers.put_nowait(_END_OF_INPUT)

        reader = asyncio.ensure_future(read())
        input_ended = False
        try:
            while not (input_ended and not in_flight and answers.empty()):
                item = await answers.get()
                if item is _END_OF_INPUT:
                    input_ended = True
                    continue
                yield item  # type: ignore[misc]
        finally:
            reader.cancel()
            for future in list(in_flight):
                future.cancel()

    async def SystemSharedMemoryStatus(self, request, context):  # type: ignore[no-untyped-def]
        await _unimplemented(context, "system shared memory")

    SystemSharedMemoryRegister = SystemSharedMemoryStatus
    SystemSharedMemoryUnregister = SystemSharedMemoryStatus

    async def CudaSharedMemoryStatus(self, request, context):  # type: ignore[no-untyped-def]
        await _unimplemented(context, "CUDA shared memory")

    CudaSharedMemoryRegister = CudaSharedMemoryStatus
    CudaSharedMemoryUnregister = CudaSharedMemoryStatus

    async def TraceSetting(self, request, context):  # type: ignore[no-untyped-def]
        await _unimplemented(context, "trace settings")

    @unary
    async def LogSettings(self, request, context):  # type: ignore[no-untyped-def]
        config = logs.update(_log_setting_values(request))
        return _log_settings_response(config)


async def _unimplemented(context: grpc.aio.ServicerContext, what: str) -> None:
    await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{what} is not supported by naiad")


def _log_setting_values(request: pb.LogSettingsRequest) -> dict[str, logs.SettingValue]:
    values: dict[str, logs.SettingValue] = {}
    for key, setting in request.settings.items():
        kind = setting.WhichOneof("parameter_choice")
        if kind is None:
            raise InvalidArgument(f"log setting '{key}' has no value")
        values[key] = getattr(setting, kind)
    return values


def _log_settings_response(config: logs.LogConfig) -> pb.LogSettingsResponse:
    response = pb.LogSettingsResponse()
    for key, value in vars(config).items():
        setting = response.settings[key]
        if isinstance(value, bool):
            setting.bool_param = value
        elif isinstance(value, int):
            setting.uint32_param = value
        else:
            setting.string_param = value
    return response


def _stream_answer(response: InferResponse) -> pb.ModelStreamInferResponse:
    answer = pb.ModelStreamInferResponse()
    encoded = encode_response(response, into=answer.infer_response)
    encoded.parameters["triton_final_response"].bool_param = True
    return answer


def _stream_error(
    message: pb.ModelInferRequest, error: BaseException
) -> pb.ModelStreamInferResponse:
    text = error.message if isinstance(error, NaiadError) else f"internal error: {error}"
    response = pb.ModelInferResponse(
        model_name=message.model_name, model_version=message.model_version, id=message.id
    )
    response.parameters["triton_final_response"].bool_param = True
    return pb.ModelStreamInferResponse(error_message=text, infer_response=response)
