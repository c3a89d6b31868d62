"""The CallContext of a gRPC call: its deadline, its caller and the trace headers in its
metadata."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping

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


def _token(context: grpc.aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == AUTHORIZATION and isinstance(value, str):
            return value
    return None


class CallContexts:
    """Builds the CallContext of each call; with an Authenticator, authenticates it first
    (raising Unauthenticated), without one every caller is None."""

    def __init__(self, authenticator: Authenticator | None = None) -> None:
        self._authenticator = authenticator

    def caller(self, context: grpc.aio.ServicerContext) -> Caller | None:
        if self._authenticator is None:
            return None
        return self._authenticator.authenticate(_token(context), "grpc")

    def unary(self, context: grpc.aio.ServicerContext) -> CallContext:
        """A unary call's context: its caller, deadline and trace headers."""
        return CallContext(
            "grpc", _deadline_s(context), self.caller(context), _TraceHeaders(context)
        )

    def stream(
        self, context: grpc.aio.ServicerContext
    ) -> tuple[CallContext, Callable[[object], CallContext]]:
        """A stream's context as it opens (authenticated now: a stream without a good token is
        refused whole), and what gives each of its requests a context: the stream's deadline,
        no trace headers (each request may belong to its own trace), and with authentication
        the token verified again, so that a revoked key or an expired token stops a stream that
        is already open (verification is cached: a hash or dictionary lookup per request)."""
        deadline_s = _deadline_s(context)
        opened = CallContext("grpc", deadline_s, self.caller(context))
        authenticator = self._authenticator
        if authenticator is None:
            return opened, lambda _: opened
        token = _token(context)

        def per_request(_: object) -> CallContext:
            return CallContext("grpc", deadline_s, authenticator.authenticate(token, "grpc"))

        return opened, per_request
