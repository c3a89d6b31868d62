"""The KServe v2 REST health endpoints, answered from the engine's readiness (no I/O).

v2 REST semantics: 200 with an empty body when true, 400 when false (as Triton answers).
Server liveness and readiness answer anyone (probes); a model's readiness goes through the
engine's authorization like its metadata, so it needs a token when the server asks for one.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from urllib.parse import unquote

from naiad.engine.context import CallContext
from naiad.engine.protocol import InferenceEngine
from naiad.errors import ErrorCode, NaiadError, error_text
from naiad.observability.listener import Response

HTTP = CallContext("http")
_MODEL_READY = re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?/ready$")
_REFUSED = {
    ErrorCode.UNAUTHENTICATED: HTTPStatus.UNAUTHORIZED,
    ErrorCode.PERMISSION_DENIED: HTTPStatus.FORBIDDEN,
}


class HealthRoutes:
    """GET /v2/health/live, /v2/health/ready, /v2/models/{name}[/versions/{v}]/ready."""

    def __init__(self, engine: InferenceEngine) -> None:
        self._engine = engine

    async def __call__(self, path: str) -> Response | None:
        if path == "/v2/health/live":
            return _answer(True)
        if path == "/v2/health/ready":
            return _answer(self._engine.server_ready())
        match = _MODEL_READY.match(path)
        if match is None:
            return None
        name, version = unquote(match.group(1)), unquote(match.group(2) or "")
        try:
            return _answer(self._engine.model_ready(name, version, HTTP))
        except NaiadError as exc:
            status = _REFUSED.get(exc.code)
            if status is None:
                raise
            body = json.dumps({"error": error_text(exc)}).encode()
            return Response(status, body, "application/json")


def _answer(value: bool) -> Response:
    return Response(HTTPStatus.OK if value else HTTPStatus.BAD_REQUEST)
