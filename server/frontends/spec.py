"""What the engine tells a front-end process it starts: one picklable value."""

from __future__ import annotations

from dataclasses import dataclass, field

from naiad.frontends.region import RegionFds, RegionLayout
from naiad.observability.logs import LogConfig
from naiad.security.server_security import SecurityOptions


@dataclass(frozen=True)
class FrontEndSpec:
    index: int
    """0..N-1; also the high bits of this front end's request ids."""
    control_path: str
    """The engine's control socket."""
    fds: RegionFds
    """The shared region's descriptors, as numbered in the front-end process."""
    layout: RegionLayout
    grpc_host: str
    grpc_port: int
    http_host: str | None
    http_port: int | None
    """None: no HTTP listener."""
    max_message_bytes: int
    max_streams_per_connection: int
    security: SecurityOptions = field(default_factory=SecurityOptions)
    event_loop: str = "asyncio"
    log_config: LogConfig = field(default_factory=LogConfig)
    rollout_routes: bool = False
    """Serve the HTTP rollout admin routes, answered by the engine's rollouts."""
    grace_s: float = 30.0
    """How long a front end told by SIGTERM to stop waits for its calls in flight."""

    @property
    def id_base(self) -> int:
        """Request ids of this front end start above it: unique across the server."""
        return self.index << 48
