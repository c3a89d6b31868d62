"""What a front end knows about one call besides the request itself, handed to the engine.

Every entry point (gRPC today; HTTP, broker consumers, batch jobs, shadow copies later) builds
one CallContext per request and passes it down the engine's layers unchanged. Layers read it
(the tracing layer parents its span on `trace`, the authorization layer checks `caller`); none
replaces it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

from naiad.security.scopes import NONE, Scopes

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, as an authenticating front end established it."""

    identity: str
    """A stable name for the principal: a token's subject, a certificate's common name."""
    scopes: Scopes = field(default=NONE, compare=False)
    """What the principal may do (see naiad.security.scopes)."""
    rate: tuple[float, float] | None = None
    """This principal's own (requests per second, burst), overriding the server's per-caller
    rate; None: the server's."""


class CallContext(NamedTuple):
    """One call's identity, deadline, protocol and trace context; immutable.

    A NamedTuple rather than a frozen dataclass: one is built per request, and this is about
    four times cheaper to build.
    """

    protocol: str = "internal"
    """The entry point's name ("grpc", "http", "batch", ...), for logs and metrics labels."""
    deadline_s: float | None = None
    """time.monotonic() instant after which the caller no longer waits; None: no deadline."""
    caller: Caller | None = None
    """Set by an authenticating front end; None where no authentication is configured."""
    trace: Mapping[str, str] = _NO_HEADERS
    """W3C trace-context headers the caller sent (`traceparent`, `tracestate`), lower-case."""

    def expired(self) -> bool:
        return self.deadline_s is not None and time.monotonic() >= self.deadline_s


INTERNAL = CallContext()
"""The context of a call made from inside the process (warm-up, tests, batch jobs)."""
