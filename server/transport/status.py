"""The one place domain errors become gRPC status codes."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from naiad.errors import ErrorCode, NaiadError, ResourceExhausted, error_text

log = logging.getLogger("naiad.transport")

STATUS = {
    ErrorCode.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.UNIMPLEMENTED: grpc.StatusCode.UNIMPLEMENTED,
    ErrorCode.INTERNAL: grpc.StatusCode.INTERNAL,
    ErrorCode.CANCELLED: grpc.StatusCode.CANCELLED,
    ErrorCode.DEADLINE_EXCEEDED: grpc.StatusCode.DEADLINE_EXCEEDED,
    ErrorCode.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    ErrorCode.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorCode.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    ErrorCode.TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED,
}

RETRY_PUSHBACK = "grpc-retry-pushback-ms"

R = TypeVar("R")
Handler = Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[R]]


def unary(handler: Handler[R]) -> Handler[R]:
    """Wraps a unary handler so domain errors end the call with their status and message."""

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
        try:
            return await handler(self, request, context)
        except NaiadError as exc:
            if isinstance(exc, ResourceExhausted) and exc.retry_after_s is not None:
                # gRPC's own retry hint (gRFC A6), read by clients' retry policies.
                pushback_ms = str(max(1, math.ceil(exc.retry_after_s * 1000)))
                context.set_trailing_metadata(((RETRY_PUSHBACK, pushback_ms),))
            await context.abort(STATUS[exc.code], error_text(exc))
        except Exception as exc:
            log.exception("unexpected error in %s", handler.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, error_text(exc))
        raise AssertionError("unreachable: abort raises")

    return wrapper
