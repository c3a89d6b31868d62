"""The composition root: repository, engine and its layers, front ends; runs until a signal
asks it to stop."""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path

from naiad.engine.engine import Engine
from naiad.engine.layers import Layer, compose
from naiad.engine.loader import gpu_available, load_served_model
from naiad.engine.protocol import InferenceEngine
from naiad.engine.response_cache import ResponseCache
from naiad.ensemble.factory import EnsembleFactory
from naiad.front_end import FrontEnd
from naiad.frontends.launch import frontends_for, pooled_front_ends
from naiad.frontends.pool import FrontEndPool, PoolListener
from naiad.monitor import MonitorBook, MonitorLayer, MonitorSettings
from naiad.monitor.book import DEFAULT_STATE_DIRNAME as MONITOR_STATE_DIRNAME
from naiad.monitor.metrics import MonitorCollector
from naiad.monitor.settings import SETTINGS_FILE as MONITOR_FILE
from naiad.observability.access_log import AccessLogLayer
from naiad.observability.cache_metrics import CacheCollector
from naiad.observability.ledger import StatsLedger
from naiad.observability.metrics import MetricsRoute, build_registry
from naiad.observability.tracing import TracingLayer, load_tracer
from naiad.repository.manager import ModelRepository
from naiad.repository.uploads import MAX_UPLOAD_BYTES
from naiad.rollout.admin import RolloutAdmin
from naiad.rollout.book import RolloutBook
from naiad.rollout.layer import RolloutLayer
from naiad.rollout.metrics import RolloutCollector
from naiad.rollout.store import DEFAULT_STATE_DIRNAME, StateStore
from naiad.security.server_security import SecurityOptions, ServerSecurity
from naiad.shm.system import SystemSharedMemory
from naiad.streams.front_end import StreamFrontEnd
from naiad.streams.metrics import StreamMetrics
from naiad.streams.spec import StreamSpec
from naiad.transport.grpc_server import INT32_MAX, MAX_STREAMS_PER_CONNECTION, GrpcFrontEnd
from naiad.transport.http.limits import HttpLimits
from naiad.transport.http.rest import RestApi
from naiad.transport.http.server import HttpServer

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
    """Largest request accepted (a gRPC message, an HTTP body as sent and once decompressed);
    larger ones get RESOURCE_EXHAUSTED on gRPC, 413 on HTTP."""
    grace_s: float = 30.0
    """How long shutdown waits for in-flight requests."""
    http_host: str | None = None
    """None: the gRPC host."""
    http_port: int | None = 8000
    """The v2 REST API, health endpoints included; None disables it, 0 picks a free port."""
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
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    """All files of one RepositoryModelLoad together; more is refused before writing any."""
    security: SecurityOptions = field(default_factory=SecurityOptions)
    """TLS, authentication, authorization and limits (naiad.security)."""
    streams: tuple[StreamSpec, ...] = ()
    """Broker topics answered through the same engine (naiad.streams), after gRPC and HTTP."""
    rollout_state_dir: str | None = None
    """Where running rollouts keep their state across restarts; None: `.naiad-rollout` in the
    model repository."""
    cache_bytes: int = 0
    """The response cache's cap, shared by every model with response_cache enabled; 0: none."""
    allow_client_shm: bool = False
    """Clients may register system shared memory regions (/dev/shm objects) and place tensors
    in them, over gRPC and HTTP alike. Off by default: a caller could then map any shared
    memory object of the server's user."""
    monitor: MonitorSettings | None = None
    """Watch every model with these settings (--monitor); None: only models with a
    monitor.toml (naiad.monitor)."""
    monitor_state_dir: str | None = None
    """Labels and captured samples; None: `.naiad-monitor` in the model repository."""
    frontends: int | None = 1
    """gRPC/HTTP front-end processes sharing the ports (naiad.frontends); 1 serves them in
    this process, as before; None: from the CPU budget (launch.frontends_for)."""


class NaiadServer:
    """The composition root: builds the repository, the engine and its layers, and the front
    ends; starts and stops them in order.

    Engine stack, outermost first: AccessLogLayer (--access-log), TracingLayer
    (--otel-tracing), AuthorizationLayer, RateLimitLayer (when a limit is set), RolloutLayer
    (the versions of unversioned requests, per each model's rollout.toml), MonitorLayer (when
    --monitor is given or a model has a monitor.toml), then the core
    Engine over the ModelRepository. A new wrapper (routing, monitoring) is one more entry in
    `layers`. Front ends, in start order: grpc, http (the REST API, health included), the broker
    streams (--stream), metrics;
    a new front end is one more entry in `front_ends`. gRPC and HTTP share the security's Guard
    and certificate. With `frontends` > 1, gRPC and HTTP run in that many processes instead
    (a FrontEndPool, naiad.frontends) over this process's engine stack.
    """

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        # Only the metrics read the ledger; without them nothing should hold stopped models.
        self.ledger = StatsLedger() if options.metrics_port is not None else None
        state_dir = options.rollout_state_dir or str(
            Path(options.model_repository) / DEFAULT_STATE_DIRNAME
        )
        self.rollouts = RolloutBook(store=StateStore(Path(state_dir)))
        self.cache = ResponseCache(options.cache_bytes) if options.cache_bytes > 0 else None
        ensembles = EnsembleFactory(functools.partial(load_served_model, cache=self.cache))
        factory = self.ledger.timed(ensembles) if self.ledger else ensembles
        self.monitors = _monitor_book(options)
        if self.monitors is not None:
            factory = self.monitors.reading_settings(factory)
        self.repository = ModelRepository(
            options.model_repository,
            factory=self.rollouts.reading_plans(factory),
            control_mode=options.model_control_mode,
            startup_models=options.startup_models,
            poll_interval_s=options.poll_interval_s,
            gpu_available=gpu_available(),
            max_upload_bytes=options.max_upload_bytes,
        )
        self.security = ServerSecurity(options.security)
        self.core = ensembles.bind(
            Engine(self.repository, strict_readiness=options.strict_readiness)
        )
        rollout = functools.partial(RolloutLayer, book=self.rollouts)
        layers = [*_layers(options), *self.security.layers(), rollout]
        if self.monitors is not None:
            layers.append(functools.partial(MonitorLayer, book=self.monitors))
        self.engine: InferenceEngine = compose(self.core, layers)
        self.shared_memory = SystemSharedMemory() if options.allow_client_shm else None
        self.pool: FrontEndPool | None = None
        num_frontends = frontends_for(options, monitoring=self.monitors is not None)
        if num_frontends > 1:
            admin = RolloutAdmin(self.rollouts, self.repository.ready_versions)
            self.pool = pooled_front_ends(
                options, num_frontends, self.engine, self._retains_inputs, admin
            )
            self.front_ends: list[FrontEnd] = [self.pool]
            if options.http_port is not None:
                self.front_ends.append(PoolListener(self.pool))
        else:
            self.front_ends = self._in_process_front_ends(options)
        registry = build_registry(self.repository, self.ledger) if self.ledger else None
        if registry is not None:
            registry.register(RolloutCollector(self.rollouts))
            if self.cache is not None:
                registry.register(CacheCollector(self.cache))
            if self.monitors is not None:
                registry.register(MonitorCollector(self.monitors))
        stream_metrics = StreamMetrics(registry) if options.streams else None
        for number, spec in enumerate(options.streams):
            assert stream_metrics is not None
            name = "stream" if len(options.streams) == 1 else f"stream{number + 1}"
            self.front_ends.append(StreamFrontEnd(self.engine, spec, stream_metrics, name=name))
        if options.metrics_port is not None and registry is not None:
            host = options.metrics_host or options.grpc_host
            route = MetricsRoute(registry)
            self.front_ends.append(HttpServer(host, options.metrics_port, route, "metrics"))

    def _in_process_front_ends(self, options: ServerOptions) -> list[FrontEnd]:
        front_ends: list[FrontEnd] = [
            GrpcFrontEnd(
                self.engine,
                options.grpc_host,
                options.grpc_port,
                options.max_message_bytes,
                guard=self.security.guard,
                tls=self.security.tls,
                max_streams_per_connection=(
                    options.security.max_streams_per_connection or MAX_STREAMS_PER_CONNECTION
                ),
                shared_memory=self.shared_memory,
            )
        ]
        if options.http_port is not None:
            host = options.http_host or options.grpc_host
            admin = RolloutAdmin(self.rollouts, self.repository.ready_versions)
            api = RestApi(
                self.engine,
                self.security.guard,
                options.max_message_bytes,
                rollout=admin,
                shared_memory=self.shared_memory,
                monitor=self.monitors,
            )
            limits = HttpLimits(max_body_bytes=options.max_message_bytes)
            front_ends.append(
                HttpServer(
                    host, options.http_port, api, "http", tls=self.security.tls, limits=limits
                )
            )
        return front_ends

    def _retains_inputs(self) -> bool:
        """Whether the engine stack may keep a request's inputs after answering it: monitors
        sample them, shadow rollouts copy them."""
        return self.monitors is not None or bool(self.rollouts.names())

    @property
    def grpc_address(self) -> str:
        return self.addresses["grpc"]

    @property
    def addresses(self) -> dict[str, str]:
        """Front-end name -> dialable host:port: grpc, then http and metrics when enabled."""
        return {front.name: front.address for front in self.front_ends}

    async def start(self) -> None:
        """Starts the front ends, loads the start-up models, then takes traffic. Returns once
        ready. The front ends answer before the models load, so that probes see the server
        live and not yet ready while it loads."""
        for front in self.front_ends:
            await front.start()
        if self.monitors is not None:
            self.monitors.start()
        await asyncio.to_thread(self.repository.start)
        self.core.accept(True)
        for front in self.front_ends:
            await front.serving(True)

    async def stop(self) -> None:
        """Stops taking traffic, stops the front ends (in-flight requests finish within the
        grace), then unloads the models."""
        self.core.accept(False)
        for front in self.front_ends:
            await front.serving(False)
        for front in self.front_ends:
            await front.stop(self.options.grace_s)
        await asyncio.to_thread(self.repository.stop)
        if self.shared_memory is not None:
            self.shared_memory.unregister()  # unmaps every region
        self.rollouts.save()  # canary progress as it stood at the stop
        if self.monitors is not None:
            await asyncio.to_thread(self.monitors.stop)

    def reload(self) -> None:
        """SIGHUP: certificates and key files read again, in every front-end process too."""
        self.security.reload()
        if self.pool is not None:
            self.pool.reload()

    async def run_until_signalled(self, on_ready: object = None) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        log.info("event loop: %s.%s", type(loop).__module__, type(loop).__qualname__)
        await self.start()
        if callable(on_ready):
            on_ready(self)
        await stop.wait()
        log.info("shutting down: finishing in-flight requests (grace %.0f s)", self.options.grace_s)
        await self.stop()


def _layers(options: ServerOptions) -> list[Layer]:
    """The engine's wrappers the options ask for, outermost first."""
    layers: list[Layer] = []
    if options.access_log:
        layers.append(AccessLogLayer)
    if options.otel_tracing:
        tracer = load_tracer()
        if tracer is None:
            raise RuntimeError("tracing needs OpenTelemetry: pip install 'naiad[otel]'")
        layers.append(functools.partial(TracingLayer, tracer=tracer))
    return layers


def _monitor_book(options: ServerOptions) -> MonitorBook | None:
    """The monitor, when --monitor is given or a model of the repository has a monitor.toml
    at start (otherwise the request path carries no monitoring layer at all)."""
    root = Path(options.model_repository)
    if options.monitor is None and not any(root.glob(f"*/{MONITOR_FILE}")):
        return None
    state_dir = options.monitor_state_dir or str(root / MONITOR_STATE_DIRNAME)
    return MonitorBook(options.monitor, Path(state_dir))
