"""What the composition root (app.py) holds a list of: the server's listeners.

Each front end owns one listening socket and its protocol: gRPC (transport/grpc_server.py),
the HTTP server (transport/http/server.py) answering the REST API on one port and the metrics on
another, and later broker consumers and front-end processes. The server starts them in list order
before the models load (so that probes see it live and not yet ready), tells them when it
starts and stops taking traffic, and stops them in the same order.
"""

from __future__ import annotations

from typing import Protocol


class FrontEnd(Protocol):
    name: str
    """Short and unique: "grpc", "http", "metrics"."""

    @property
    def address(self) -> str:
        """Dialable host:port, once started (a requested port 0 is resolved)."""
        ...

    async def start(self) -> None:
        """Binds and starts answering; raises OSError when the address cannot be bound."""
        ...

    async def serving(self, serving: bool) -> None:
        """Told when the server starts or stops taking traffic (e.g. grpc.health.v1 status)."""
        ...

    async def stop(self, grace_s: float) -> None:
        """Stops accepting; calls in flight get up to `grace_s` to finish."""
        ...
