"""The one place domain errors become HTTP status codes and `{"error": ...}` bodies.

Triton's choices where it has one (400 bad input, 404 unknown model, 503 unavailable or queue
full, 501 unsupported, 500 internal); the rest in plain HTTP terms.
"""

from __future__ import annotations

import json
import math
from http import HTTPStatus

from naiad.errors import ErrorCode, ResourceExhausted, error_code, error_text
from naiad.transport.http.messages import JSON, HttpResponse

STATUS = {
    ErrorCode.INVALID_ARGUMENT: HTTPStatus.BAD_REQUEST,
    ErrorCode.NOT_FOUND: HTTPStatus.NOT_FOUND,
    ErrorCode.UNAVAILABLE: HTTPStatus.SERVICE_UNAVAILABLE,
    ErrorCode.UNIMPLEMENTED: HTTPStatus.NOT_IMPLEMENTED,
    ErrorCode.INTERNAL: HTTPStatus.INTERNAL_SERVER_ERROR,
    ErrorCode.CANCELLED: HTTPStatus.BAD_REQUEST,
    ErrorCode.DEADLINE_EXCEEDED: HTTPStatus.GATEWAY_TIMEOUT,
    ErrorCode.FAILED_PRECONDITION: HTTPStatus.BAD_REQUEST,
    ErrorCode.ALREADY_EXISTS: HTTPStatus.CONFLICT,
    ErrorCode.RESOURCE_EXHAUSTED: HTTPStatus.TOO_MANY_REQUESTS,
    ErrorCode.UNAUTHENTICATED: HTTPStatus.UNAUTHORIZED,
    ErrorCode.PERMISSION_DENIED: HTTPStatus.FORBIDDEN,
    ErrorCode.TOO_LARGE: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
}


def error_body(text: str) -> bytes:
    return json.dumps({"error": text}).encode()


def error_response(error: BaseException) -> HttpResponse:
    """The answer to a request that failed with `error`: its status, its message, and for a
    rate limit the seconds until a retry can succeed (Retry-After)."""
    code = error_code(error)
    headers: tuple[tuple[str, str], ...] = ()
    if code is ErrorCode.UNAUTHENTICATED:
        headers = (("WWW-Authenticate", "Bearer"),)
    elif isinstance(error, ResourceExhausted) and error.retry_after_s is not None:
        headers = (("Retry-After", str(max(1, math.ceil(error.retry_after_s)))),)
    return HttpResponse(STATUS[code], error_body(error_text(error)), JSON, headers)
