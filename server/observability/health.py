"""The KServe v2 REST health endpoints, answered from the engine's readiness (no I/O).

v2 REST semantics: 200 with an empty body when true, 400 when false (as Triton answers).
Server liveness and readiness answer anyone unless the guard says otherwise (probes carry no
token); a model's readiness goes through the engine's authorization like its metadata, with the
caller the request's `authorization` header names.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from urllib.parse import unquote

from naiad.engine.context import CallContext
from naiad.engine.protocol import InferenceEngine
from naiad.errors import ErrorCode, NaiadError, error_text
from naiad.observability.listener import RequestHead, Response
from naiad.security.authenticator import AUTHORIZATION
from naiad.security.guard import Guard

_MODEL_READY = re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?/ready$")
_REFUSED = {
    ErrorCode.UNAUTHENTICATED: HTTPStatus.UNAUTHORIZED,
    ErrorCode.PERMISSION_DENIED: HTTPStatus.FORBIDDEN,
}


class HealthRoutes:
    """GET /v2/health/live, /v2/health/ready, /v2/models/{name}[/versions/{v}]/ready."""

    def __init__(self, engine: InferenceEngine, guard: Guard | None = None) -> None:
        self._engine = engine
        self._guard = guard or Guard()

    async def __call__(self, head: RequestHead) -> Response | None:
        try:
            return self._answer(head)
        except NaiadError as exc:
            status = _REFUSED.get(exc.code)
            if status is None:
                raise
            body = json.dumps({"error": error_text(exc)}).encode()
            return Response(status, body, "application/json")

    def _answer(self, head: RequestHead) -> Response | None:
        path = head.path
        if path in ("/v2/health/live", "/v2/health/ready"):
            if not self._guard.open_health:
                self._context(head)
            live = path == "/v2/health/live"
            return _answer(live or self._engine.server_ready())
        match = _MODEL_READY.match(path)
        if match is None:
            return None
        name, version = unquote(match.group(1)), unquote(match.group(2) or "")
        return _answer(self._engine.model_ready(name, version, self._context(head)))

    def _context(self, head: RequestHead) -> CallContext:
        """The request's context; raises Unauthenticated for a missing or bad token when the
        server authenticates."""
        authenticator = self._guard.authenticator
        if authenticator is None:
            return CallContext("http")
        caller = authenticator.authenticate(head.headers.get(AUTHORIZATION), "http")
        return CallContext("http", None, caller)


def _answer(value: bool) -> Response:
    return Response(HTTPStatus.OK if value else HTTPStatus.BAD_REQUEST)
