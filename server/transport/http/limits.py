"""How long and how much an HTTP connection may ask of the server."""

from __future__ import annotations

from dataclasses import dataclass

MAX_HEADER_BYTES = 16 * 1024


@dataclass(frozen=True)
class HttpLimits:
    """Bounds on each client of an HttpServer: waits, sizes and counts."""

    idle_timeout_s: float = 75.0
    """A kept-alive connection may wait this long for the first byte of its next request
    (above Prometheus' default 60 s scrape gap and the usual 60 s of load balancers)."""
    head_timeout_s: float = 10.0
    """A request head must be complete this long after its first byte (on a new connection:
    after the connection is ready), however steadily its bytes arrive: a client dribbling a
    header (slow loris) is cut off."""
    read_timeout_s: float = 30.0
    """Once a body has started, the longest pause between two of its reads."""
    handshake_timeout_s: float = 10.0
    """TLS handshake, and TLS shutdown, bound."""
    send_timeout_s: float = 10.0
    """A client that stops reading an answer is cut off after this long."""
    max_connections: int = 256
    """Open connections, those in a TLS handshake included. Beyond it a plain connection gets
    a 503 and is closed, a TLS one is closed at once."""
    max_header_bytes: int = MAX_HEADER_BYTES
    """Request line and header fields together; more is answered 431."""
    max_body_bytes: int = 0
    """A request body, as sent and once decompressed; more is answered 413. 0: no body is
    accepted at all (the metrics port)."""
    max_pipelined: int = 16
    """Requests read ahead of the one being answered (HTTP/1.1 pipelining); beyond it the
    connection stops reading until answers catch up."""

    def __post_init__(self) -> None:
        for name in (
            "idle_timeout_s",
            "head_timeout_s",
            "read_timeout_s",
            "handshake_timeout_s",
            "send_timeout_s",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"HttpLimits.{name} must be positive, not {getattr(self, name)}")
        if self.max_connections < 1 or self.max_header_bytes < 256 or self.max_pipelined < 1:
            raise ValueError(f"HttpLimits out of range: {self}")
        if self.max_body_bytes < 0:
            raise ValueError(f"HttpLimits.max_body_bytes must not be negative: {self}")
