"""The grpc.aio server: channel options, the inference service and grpc.health.v1."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from naiad.engine.protocol import InferenceEngine
from naiad.transport.service import InferenceService
from naiad_protocol import grpc_service_pb2_grpc as pb_grpc

INT32_MAX = 2**31 - 1
SERVICE_NAME = "inference.GRPCInferenceService"


class ReadinessHealth(health.aio.HealthServicer):  # type: ignore[misc]
    """grpc.health.v1 whose Check follows the server's readiness as it is now."""

    def __init__(self, ready: Callable[[], bool]) -> None:
        super().__init__()
        self._ready = ready

    async def Check(self, request, context):  # type: ignore[no-untyped-def]
        if request.service not in ("", SERVICE_NAME):
            return await super().Check(request, context)
        serving = health_pb2.HealthCheckResponse.SERVING
        not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
        return health_pb2.HealthCheckResponse(status=serving if self._ready() else not_serving)


class GrpcFrontEnd:
    """The gRPC front end: owns the grpc.aio server; start() binds, stop() drains in-flight
    calls within a grace."""

    name = "grpc"

    def __init__(
        self,
        engine: InferenceEngine,
        host: str,
        port: int,
        max_message_bytes: int,
        *,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    ) -> None:
        self._engine = engine
        self._max_message_bytes = max_message_bytes
        self._interceptors = list(interceptors)
        self.host = host
        self.port = port
        self._server: grpc.aio.Server | None = None
        self._health = ReadinessHealth(engine.server_ready)

    @property
    def address(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "[::]") else self.host
        return f"{host}:{self.port}"

    async def start(self) -> None:
        """Binds and starts serving; must run inside the event loop that will serve."""
        server = grpc.aio.server(
            interceptors=self._interceptors,
            options=[
                ("grpc.max_send_message_length", INT32_MAX),
                ("grpc.max_receive_message_length", self._max_message_bytes),
                ("grpc.so_reuseport", 0),
            ],
        )
        service = InferenceService(self._engine)
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(service, server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        bound = server.add_insecure_port(f"{self.host}:{self.port}")
        if bound == 0:
            raise OSError(f"cannot bind gRPC to {self.host}:{self.port}")
        self.port = bound
        self._server = server
        await server.start()

    async def serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else (health_pb2.HealthCheckResponse.NOT_SERVING)
        )
        await self._health.set("", status)
        await self._health.set(SERVICE_NAME, status)

    async def stop(self, grace_s: float) -> None:
        if self._server is not None:
            await self._server.stop(grace_s)
