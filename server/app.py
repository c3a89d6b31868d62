"""Composes the server: repository, engine, gRPC front end, HTTP health and metrics listeners;
runs until a signal asks it to stop."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field

from naiad.engine.engine import Engine
from naiad.engine.loader import gpu_available, load_served_model
from naiad.observability.health import HealthRoutes, Readiness
from naiad.observability.ledger import StatsLedger
from naiad.observability.listener import HttpListener
from naiad.observability.metrics import MetricsRoute, build_registry
from naiad.observability.observed import ObservedEngine
from naiad.observability.tracing import TraceContextInterceptor, load_tracer
from naiad.repository.manager import ModelRepository
from naiad.transport.grpc_server import INT32_MAX, GrpcFrontEnd

log = logging.getLogger("naiad")


@dataclass(frozen=True)
class ServerOptions:
    """Start-up options; the CLI flags map one to one."""

    model_repository: str
    grpc_host: str = "0.0.0.0"
    grpc_port: int = 8001
    """0 picks a free port."""
    model_control_mode: str = "none"
    """none: load everything at start; explicit: load on request; poll: follow the directory."""
    startup_models: tuple[str, ...] = field(default_factory=tuple)
    poll_interval_s: float = 15.0
    max_message_bytes: int = INT32_MAX
    """Largest request accepted; larger ones get RESOURCE_EXHAUSTED."""
    grace_s: float = 30.0
    """How long shutdown waits for in-flight requests."""
    http_host: str | None = None
    """None: the gRPC host."""
    http_port: int | None = 8000
    """Health endpoints (/v2/health/...); None disables them, 0 picks a free port."""
    metrics_host: str | None = None
    """None: the gRPC host."""
    metrics_port: int | None = 8002
    """Prometheus /metrics; None disables it, 0 picks a free port."""
    strict_readiness: bool = True
    """Ready only while every model that should be loaded is READY (see health.Readiness)."""
    access_log: bool = False
    """One log line per inference request (logger naiad.access)."""
    otel_tracing: bool = False
    """A span per inference request; needs the OpenTelemetry API (extra `otel`)."""


class NaiadServer:
    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        # Only the metrics read the ledger; without them nothing should hold stopped models.
        self.ledger = StatsLedger() if options.metrics_port is not None else None
        self.repository = ModelRepository(
            options.model_repository,
            factory=self.ledger.timed(load_served_model) if self.ledger else load_served_model,
            control_mode=options.model_control_mode,
            startup_models=options.startup_models,
            poll_interval_s=options.poll_interval_s,
            gpu_available=gpu_available(),
        )
        tracer = load_tracer() if options.otel_tracing else None
        if options.otel_tracing and tracer is None:
            raise RuntimeError("tracing needs OpenTelemetry: pip install 'naiad[otel]'")
        self.engine = (
            ObservedEngine(self.repository, access_log=options.access_log, tracer=tracer)
            if options.access_log or tracer is not None
            else Engine(self.repository)
        )
        self.readiness = Readiness(self.engine, strict=options.strict_readiness)
        self._grpc = GrpcFrontEnd(
            self.engine,
            options.grpc_host,
            options.grpc_port,
            options.max_message_bytes,
            ready=self.readiness.server_ready,
            interceptors=[TraceContextInterceptor()] if tracer is not None else (),
        )
        self.http: HttpListener | None = None
        if options.http_port is not None:
            host = options.http_host or options.grpc_host
            routes = HealthRoutes(self.readiness)
            self.http = HttpListener(host, options.http_port, routes, "http")
        self.metrics: HttpListener | None = None
        if options.metrics_port is not None and self.ledger is not None:
            host = options.metrics_host or options.grpc_host
            route = MetricsRoute(build_registry(self.repository, self.ledger))
            self.metrics = HttpListener(host, options.metrics_port, route, "metrics")

    @property
    def listeners(self) -> list[HttpListener]:
        return [listener for listener in (self.http, self.metrics) if listener is not None]

    @property
    def grpc_address(self) -> str:
        host = "127.0.0.1" if self._grpc.host in ("0.0.0.0", "[::]") else self._grpc.host
        return f"{host}:{self._grpc.port}"

    @property
    def addresses(self) -> dict[str, str]:
        """Listener name -> dialable host:port: grpc, then http and metrics when enabled."""
        return {"grpc": self.grpc_address, **{x.name: x.address for x in self.listeners}}

    async def start(self) -> None:
        """Loads the start-up models, then serves. Returns once ready.

        The HTTP listeners start before the models load, so that probes see the server live
        and not yet ready while it loads.
        """
        await self._grpc.start()
        for listener in self.listeners:
            await listener.start()
        await asyncio.to_thread(self.repository.start)
        self.engine.set_ready(True)
        await self._grpc.set_serving(True)

    async def stop(self) -> None:
        """Stops accepting, lets in-flight requests finish within the grace, unloads models."""
        self.engine.set_ready(False)
        await self._grpc.set_serving(False)
        await self._grpc.stop(self.options.grace_s)
        await asyncio.to_thread(self.repository.stop)
        for listener in self.listeners:
            await listener.stop()

    async def run_until_signalled(self, on_ready: object = None) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("event loop: %s.%s", type(loop).__module__, type(loop).__qualname__)
        await self.start()
        if callable(on_ready):
            on_ready(self)
        await stop.wait()
        log.info("shutting down: finishing in-flight requests (grace %.0f s)", self.options.grace_s)
        await self.stop()
