"""Composes the server: repository, engine, gRPC front end; runs until a signal asks it to stop."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field

from naiad.engine.engine import Engine
from naiad.engine.loader import load_served_model
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


class NaiadServer:
    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.repository = ModelRepository(
            options.model_repository,
            factory=load_served_model,
            control_mode=options.model_control_mode,
            startup_models=options.startup_models,
            poll_interval_s=options.poll_interval_s,
        )
        self.engine = Engine(self.repository)
        self._grpc = GrpcFrontEnd(
            self.engine, options.grpc_host, options.grpc_port, options.max_message_bytes
        )

    @property
    def grpc_address(self) -> str:
        host = "127.0.0.1" if self._grpc.host in ("0.0.0.0", "[::]") else self._grpc.host
        return f"{host}:{self._grpc.port}"

    async def start(self) -> None:
        """Loads the start-up models, then serves. Returns once ready."""
        await self._grpc.start()
        await asyncio.to_thread(self.repository.start)
        self.engine.set_ready(True)
        await self._grpc.set_serving(True)

    async def stop(self) -> None:
        """Stops accepting, lets in-flight requests finish within the grace, unloads models."""
        self.engine.set_ready(False)
        await self._grpc.set_serving(False)
        await self._grpc.stop(self.options.grace_s)
        await asyncio.to_thread(self.repository.stop)

    async def run_until_signalled(self, on_ready: object = None) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        if callable(on_ready):
            on_ready(self)
        await stop.wait()
        log.info("shutting down: finishing in-flight requests (grace %.0f s)", self.options.grace_s)
        await self.stop()
