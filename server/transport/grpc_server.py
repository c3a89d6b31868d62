"""The grpc.aio server: channel options, the inference service and grpc.health.v1."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from naiad.engine.protocol import InferenceEngine
from naiad.security.guard import Guard
from naiad.shm.system import SystemSharedMemory
from naiad.transport.raw_methods import SERVICE_NAME, add_inference_service
from naiad.transport.service import InferenceService

if TYPE_CHECKING:
    from naiad.security.tls import ServerTls

INT32_MAX = 2**31 - 1
MAX_STREAMS_PER_CONNECTION = 1000
"""Concurrent calls one connection may hold open (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS).
Calls beyond it wait in the client for a free slot; none fails. Generous, so that a benchmark
multiplexing hundreds of calls over one channel is not throttled, while one connection cannot
hold an unbounded number of streams, each with its buffers."""


@dataclass(frozen=True)
class ConnectionPolicy:
    """How the server polices its HTTP/2 connections: pings, dead peers, idle connections and
    slow handshakes. The grpc core channel argument each field sets is named in its docstring;
    grpc's doc/keepalive.md explains how they interact."""

    keepalive_time_ms: int = 60_000
    """grpc.keepalive_time_ms: the server pings a connection that carries calls but has been
    quiet this long, so a peer that vanished (no FIN, no RST) is noticed; gRPC's default is 2 h."""
    keepalive_timeout_ms: int = 20_000
    """grpc.keepalive_timeout_ms: a ping unanswered this long closes the connection, failing
    its calls, and the engine cancels their requests."""
    min_ping_interval_ms: int = 10_000
    """grpc.http2.min_ping_interval_without_data_ms: client pings closer together than this,
    while the server sends nothing, are strikes. 10 s admits any client whose keepalive is 10 s
    or more (gRPC's default of 5 min refuses many tuned clients); Triton clients ping never."""
    max_ping_strikes: int = 2
    """grpc.http2.max_ping_strikes: one strike more and the server sends GOAWAY
    (ENHANCE_YOUR_CALM, "too_many_pings") and closes the connection."""
    permit_without_calls: bool = False
    """grpc.keepalive_permit_without_calls: whether pings are fine on a connection with no call
    in flight. False: every ping after the first on an idle connection is a strike (gRPC's and
    Triton's default); idle connections are closed by max_idle_ms, not kept alive."""
    max_idle_ms: int = 300_000
    """grpc.max_connection_idle_ms: a connection without a call for this long gets a GOAWAY;
    clients reconnect on their next call. Bounds what an idle client holds."""
    handshake_timeout_ms: int = 10_000
    """grpc.server_handshake_timeout_ms: the TLS and HTTP/2 handshake of a new connection must
    finish within this (gRPC's default is 120 s): a client that connects and stalls is cut off."""

    def channel_options(self) -> list[tuple[str, int]]:
        return [
            ("grpc.keepalive_time_ms", self.keepalive_time_ms),
            ("grpc.keepalive_timeout_ms", self.keepalive_timeout_ms),
            ("grpc.http2.min_ping_interval_without_data_ms", self.min_ping_interval_ms),
            ("grpc.http2.max_ping_strikes", self.max_ping_strikes),
            ("grpc.keepalive_permit_without_calls", int(self.permit_without_calls)),
            ("grpc.max_connection_idle_ms", self.max_idle_ms),
            ("grpc.server_handshake_timeout_ms", self.handshake_timeout_ms),
        ]


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
    calls within a grace.

    With `tls` the port is TLS only; when it has a client CA, every connection must present a
    client certificate signed by it (see ServerTls.grpc_credentials). `max_streams_per_connection`
    None leaves grpc's default (no limit); `connections` polices pings and idle connections.
    """

    name = "grpc"

    def __init__(
        self,
        engine: InferenceEngine,
        host: str,
        port: int,
        max_message_bytes: int,
        *,
        guard: Guard | None = None,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        tls: ServerTls | None = None,
        max_streams_per_connection: int | None = MAX_STREAMS_PER_CONNECTION,
        connections: ConnectionPolicy = ConnectionPolicy(),
        shared_memory: SystemSharedMemory | None = None,
        reuse_port: bool = False,
    ) -> None:
        """`shared_memory`: the regions clients register (None: shared memory RPCs and tensor
        placements answer UNIMPLEMENTED). `reuse_port`: bind with SO_REUSEPORT, so that
        front-end processes share the port (naiad.frontends)."""
        if max_streams_per_connection is not None and max_streams_per_connection < 1:
            raise ValueError(
                f"max_streams_per_connection must be at least 1, not {max_streams_per_connection}"
            )
        self._engine = engine
        self._tls = tls
        self._max_streams = max_streams_per_connection
        self._connections = connections
        self._guard = guard
        self._shared_memory = shared_memory
        self._max_message_bytes = max_message_bytes
        self._interceptors = list(interceptors)
        self._reuse_port = reuse_port
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
            options=self._options(),
        )
        service = InferenceService(self._engine, self._guard, self._shared_memory)
        add_inference_service(service, server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        address = f"{self.host}:{self.port}"
        if self._tls is None:
            bound = server.add_insecure_port(address)
        else:
            bound = server.add_secure_port(address, self._tls.grpc_credentials())
        if bound == 0:
            raise OSError(f"cannot bind gRPC to {self.host}:{self.port}")
        self.port = bound
        self._server = server
        await server.start()

    def _options(self) -> list[tuple[str, int]]:
        options = [
            ("grpc.max_send_message_length", INT32_MAX),
            ("grpc.max_receive_message_length", self._max_message_bytes),
            ("grpc.so_reuseport", int(self._reuse_port)),
            *self._connections.channel_options(),
        ]
        if self._max_streams is not None:
            options.append(("grpc.max_concurrent_streams", self._max_streams))
        return options

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
