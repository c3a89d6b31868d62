"""The CallContext of a gRPC call: its deadline, its caller and the trace headers in its
metadata."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping

import grpc

from naiad.engine.context import CallContext, Caller
from naiad.security.authenticator import AUTHORIZATION, Authenticator

TRACE_HEADERS = ("traceparent", "tracestate")


class _TraceHeaders(Mapping[str, str]):
    """The call's trace-context metadata, read from the call only if a layer asks for it."""

    __slots__ = ("_context", "_headers")

    def __init__(self, context: grpc.aio.ServicerContext) -> None:
        self._context = context
        self._headers: dict[str, str] | None = None

    def _read(self) -> dict[str, str]:
        if self._headers is None:
            metadata = self._context.invocation_metadata() or ()
            self._headers = {
                key: value
                for key, value in metadata
                if key in TRACE_HEADERS and isinstance(value, str)
            }
        return self._headers

    def __getitem__(self, key: str) -> str:
        return self._read()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())

    def __len__(self) -> int:
        return len(self._read())


def _deadline_s(context: grpc.aio.ServicerContext) -> float | None:
    remaining = context.time_remaining()
    return time.monotonic() + remaining if remaining is not None else None


class CallContexts:
    """Builds the CallContext of each call; with an Authenticator, authenticates it first
    (raising Unauthenticated), without one every caller is None."""

    def __init__(self, authenticator: Authenticator | None = None) -> None:
        self._authenticator = authenticator

    def caller(self, context: grpc.aio.ServicerContext) -> Caller | None:
        if self._authenticator is None:
            return None
        token = None
        for key, value in context.invocation_metadata() or ():
            if key == AUTHORIZATION and isinstance(value, str):
                token = value
                break
        return self._authenticator.authenticate(token, "grpc")

    def unary(self, context: grpc.aio.ServicerContext) -> CallContext:
        """A unary call's context: its caller, deadline and trace headers."""
        return CallContext(
            "grpc", _deadline_s(context), self.caller(context), _TraceHeaders(context)
        )

    def stream(self, context: grpc.aio.ServicerContext) -> CallContext:
        """The context every request of one stream shares: the stream's caller (authenticated
        once, when it opens) and deadline, and no trace headers (one stream carries many
        requests, each of which may belong to its own trace)."""
        return CallContext("grpc", _deadline_s(context), self.caller(context))
