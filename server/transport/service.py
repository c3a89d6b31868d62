"""GRPCInferenceService: each handler decodes, makes one engine call, encodes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import grpc

import naiad
from naiad.engine.context import CallContext
from naiad.engine.protocol import InferenceEngine, StreamAnswer
from naiad.engine.request import InferRequest
from naiad.errors import InvalidArgument, NaiadError, Unimplemented, error_text
from naiad.observability import logs
from naiad.security.authorization import check_admin
from naiad.security.guard import Guard
from naiad.security.rate_limit import ANONYMOUS
from naiad.security.scopes import ADMIN, INFER, SERVER_WIDE
from naiad.shm.system import SystemSharedMemory
from naiad.transport.call_context import CallContexts
from naiad.transport.infer_codec import decode_request, encode_response, output_placements
from naiad.transport.model_codec import model_metadata, model_statistics
from naiad.transport.shm_tensors import Placement, SharedMemoryTensors
from naiad.transport.status import STATUS, unary
from naiad.transport.stream_codec import encode_stream_answer
from naiad.transport.wire_request import DecodeError, WireRequest, read, response_bytes
from naiad_protocol import grpc_service_pb2 as pb
from naiad_protocol import grpc_service_pb2_grpc as pb_grpc

EXTENSIONS = (
    "model_repository",
    "model_configuration",
    "statistics",
    "schedule_policy",
    "parameters",
    "binary_tensor_data",
    "logging",
)
SHARED_MEMORY_EXTENSION = "system_shared_memory"


def extensions(shared_memory: SystemSharedMemory | None) -> list[str]:
    """What ServerMetadata lists: system_shared_memory only when regions can be registered."""
    return [*EXTENSIONS, SHARED_MEMORY_EXTENSION] if shared_memory is not None else [*EXTENSIONS]


log = logging.getLogger("naiad.transport")


class InferenceService(pb_grpc.GRPCInferenceServiceServicer):
    """Every handler builds its call's CallContext first (authenticating it when the guard
    has an authenticator); the engine's layers authorize it."""

    def __init__(
        self,
        engine: InferenceEngine,
        guard: Guard | None = None,
        shared_memory: SystemSharedMemory | None = None,
    ) -> None:
        self._engine = engine
        self._guard = guard or Guard()
        self._calls = CallContexts(self._guard.authenticator)
        self._limits = self._guard.tensor_limits
        self._regions = shared_memory
        self._shm = SharedMemoryTensors(shared_memory)
        self._extensions = extensions(shared_memory)

    def _health_check(self, context: grpc.aio.ServicerContext) -> None:
        if not self._guard.open_health:
            self._calls.caller(context)

    @unary
    async def ServerLive(self, request, context):  # type: ignore[no-untyped-def]
        self._health_check(context)
        return pb.ServerLiveResponse(live=True)

    @unary
    async def ServerReady(self, request, context):  # type: ignore[no-untyped-def]
        self._health_check(context)
        return pb.ServerReadyResponse(ready=self._engine.server_ready())

    @unary
    async def ModelReady(self, request, context):  # type: ignore[no-untyped-def]
        call = self._calls.unary(context)
        return pb.ModelReadyResponse(
            ready=self._engine.model_ready(request.name, request.version, call)
        )

    @unary
    async def ServerMetadata(self, request, context):  # type: ignore[no-untyped-def]
        self._calls.caller(context)  # any authenticated caller may read it
        return pb.ServerMetadataResponse(
            name="naiad", version=naiad.__version__, extensions=self._extensions
        )

    @unary
    async def ModelMetadata(self, request, context):  # type: ignore[no-untyped-def]
        call = self._calls.unary(context)
        return model_metadata(self._engine.describe(request.name, request.version, call))

    @unary
    async def ModelConfig(self, request, context):  # type: ignore[no-untyped-def]
        call = self._calls.unary(context)
        return pb.ModelConfigResponse(
            config=self._engine.config(request.name, request.version, call)
        )

    @unary
    async def ModelStatistics(self, request, context):  # type: ignore[no-untyped-def]
        found = self._engine.statistics(request.name, request.version, self._calls.unary(context))
        return pb.ModelStatisticsResponse(
            model_stats=[model_statistics(s.name, s.version, s.stats) for s in found]
        )

    @unary
    async def RepositoryIndex(self, request, context):  # type: ignore[no-untyped-def]
        entries = await self._engine.index(request.ready, self._calls.unary(context))
        return pb.RepositoryIndexResponse(
            models=[
                pb.RepositoryIndexResponse.ModelIndex(
                    name=e.name,
                    version=e.version,
                    state=e.state.wire if e.state is not None else "",
                    reason=e.reason,
                )
                for e in entries
            ]
        )

    @unary
    async def RepositoryModelLoad(self, request, context):  # type: ignore[no-untyped-def]
        call = self._calls.unary(context)
        config: str | None = None
        files: dict[str, bytes] = {}
        for key, param in request.parameters.items():
            if key == "config":
                config = param.string_param
            elif key.startswith("file:"):
                files[key[len("file:") :]] = param.bytes_param
            else:
                raise InvalidArgument(f"unrecognized load parameter '{key}'")
        await self._engine.load(request.model_name, config, files, call)
        return pb.RepositoryModelLoadResponse()

    @unary
    async def RepositoryModelUnload(self, request, context):  # type: ignore[no-untyped-def]
        await self._engine.unload(request.model_name, self._calls.unary(context))
        return pb.RepositoryModelUnloadResponse()

    async def ModelInfer(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        """Takes the request's bytes (raw_methods.py): bytes that are no ModelInferRequest end
        the call with UNKNOWN and protobuf's words, as grpc's own deserializer answered them."""
        try:
            wire = read(request, self._limits)
        except DecodeError as exc:
            await context.abort(grpc.StatusCode.UNKNOWN, f"Unexpected {type(exc)}: {exc}")
            raise AssertionError("unreachable: abort raises") from None
        return await self._infer(wire, context)

    @unary
    async def _infer(self, wire: WireRequest, context: grpc.aio.ServicerContext) -> bytes:
        call = self._calls.unary(context)
        if wire.request is not None:
            return response_bytes(await self._engine.submit(wire.request, call))
        message = wire.message
        assert message is not None
        decoded = decode_request(message, self._limits, self._shm)
        placed = output_placements(message, self._shm)
        response = await self._engine.submit(decoded, call)
        if not placed:
            return response_bytes(response)
        self._shm.write_outputs(response, placed)
        return encode_response(response, placed=placed).SerializeToString()

    async def ModelStreamInfer(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> None:
        """Answers each request as soon as it is ready; errors travel in error_message and
        leave the stream open. A stream refused at its start (authentication, the stream cap)
        ends with that error's status; a failure of the stream itself (bytes that are no
        ModelInferRequest among them) ends it with INTERNAL."""
        try:
            opened, per_request = self._calls.stream(context)
            with self._guard.streams.open(_who(opened)):
                await self._answer_stream(requests, context, per_request)
        except NaiadError as exc:
            await context.abort(STATUS[exc.code], error_text(exc))

    async def _answer_stream(
        self,
        requests: AsyncIterator[bytes],
        context: grpc.aio.ServicerContext,
        per_request: Callable[[WireRequest], CallContext],
    ) -> None:
        limits, shm = self._limits, self._shm

        async def messages() -> AsyncIterator[WireRequest]:
            async for raw in requests:
                yield read(raw, limits)

        def decode(wire: WireRequest) -> InferRequest:
            if wire.request is not None:
                return wire.request
            assert wire.message is not None
            output_placements(wire.message, shm)  # a bad output placement fails before running
            return decode_request(wire.message, limits, shm)

        async def send(answer: StreamAnswer[WireRequest]) -> None:
            wire = answer.message
            if answer.response is not None and wire.request is not None:
                await context.write(response_bytes(answer.response, in_stream=True))
                return
            echoed = StreamAnswer(wire.echo(), answer.response, answer.error)
            encoded = encode_stream_answer(*_write_placed(echoed, shm))
            await context.write(encoded.SerializeToString())

        try:
            await self._engine.stream(messages(), decode, per_request, send)
        except Exception as exc:
            log.exception("stream failed")
            await context.abort(grpc.StatusCode.INTERNAL, error_text(exc))

    @unary
    async def SystemSharedMemoryStatus(self, request, context):  # type: ignore[no-untyped-def]
        regions = self._shared_memory(context)
        response = pb.SystemSharedMemoryStatusResponse()
        for status in regions.status(request.name):
            response.regions[status.name].CopyFrom(
                pb.SystemSharedMemoryStatusResponse.RegionStatus(
                    name=status.name,
                    key=status.key,
                    offset=status.offset,
                    byte_size=status.byte_size,
                )
            )
        return response

    @unary
    async def SystemSharedMemoryRegister(self, request, context):  # type: ignore[no-untyped-def]
        regions = self._shared_memory(context)
        regions.register(request.name, request.key, request.offset, request.byte_size)
        return pb.SystemSharedMemoryRegisterResponse()

    @unary
    async def SystemSharedMemoryUnregister(self, request, context):  # type: ignore[no-untyped-def]
        self._shared_memory(context).unregister(request.name)
        return pb.SystemSharedMemoryUnregisterResponse()

    def _shared_memory(self, context: grpc.aio.ServicerContext) -> SystemSharedMemory:
        """The registry, once the caller may use it (anyone who may infer on some model)."""
        self._guard.policy.check_any(self._calls.unary(context), INFER)
        if self._regions is None:
            raise Unimplemented("system shared memory is turned off on this server")
        return self._regions

    async def CudaSharedMemoryStatus(self, request, context):  # type: ignore[no-untyped-def]
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            "CUDA shared memory is not supported by naiad (use system shared memory)",
        )

    CudaSharedMemoryRegister = CudaSharedMemoryStatus

    @unary
    async def CudaSharedMemoryUnregister(self, request, context):  # type: ignore[no-untyped-def]
        # No CUDA region can ever be registered, so there is none to unregister: the call
        # succeeds, as unregistering an unknown region does in Triton. perf_analyzer's
        # clean-up after --shared-memory system unregisters both kinds and fails otherwise.
        self._calls.unary(context)
        return pb.CudaSharedMemoryUnregisterResponse()

    async def TraceSetting(self, request, context):  # type: ignore[no-untyped-def]
        await _unimplemented(context, "trace settings")

    @unary
    async def LogSettings(self, request, context):  # type: ignore[no-untyped-def]
        call = self._calls.unary(context)
        if request.settings:
            check_admin(self._guard.policy, call, "log_settings")
        else:
            self._guard.policy.check(call, ADMIN, SERVER_WIDE)  # reading them: no audit line
        config = logs.update(_log_setting_values(request))
        return _log_settings_response(config)


def _write_placed(
    answer: StreamAnswer[pb.ModelInferRequest], shm: SharedMemoryTensors
) -> tuple[StreamAnswer[pb.ModelInferRequest], dict[str, Placement]]:
    """Writes the answer's shared memory outputs; the answer becomes the error when that fails."""
    if answer.response is None:
        return answer, {}
    placed = output_placements(answer.message, shm)
    if placed:
        try:
            shm.write_outputs(answer.response, placed)
        except NaiadError as exc:
            return StreamAnswer(answer.message, None, exc), {}
    return answer, placed


def _who(call: CallContext) -> str:
    return call.caller.identity if call.caller is not None else ANONYMOUS


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
