"""Liveness and readiness, and the KServe v2 REST health endpoints that report them.

v2 REST semantics: 200 with an empty body when true, 400 when false (as Triton answers).
"""

from __future__ import annotations

import re
from http import HTTPStatus
from urllib.parse import unquote

from naiad.engine.engine import Engine
from naiad.observability.listener import Response
from naiad.repository.transitions import UNLOADED
from naiad.repository.types import IndexEntry, ModelState

_MODEL_READY = re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?/ready$")


class Readiness:
    """Whether the server and its models are ready.

    Strict: ready once started and while every model that should be loaded serves, i.e. every
    known version is READY, except those unloaded on request and those being unloaded; a model
    that is loading or failed makes the server not ready. Not strict: ready once started.
    """

    def __init__(self, engine: Engine, *, strict: bool) -> None:
        self._engine = engine
        self.strict = strict

    def server_ready(self) -> bool:
        if not self._engine.ready:
            return False
        if not self.strict:
            return True
        return all(_expected(e) for e in self._engine.repository.index())

    def model_ready(self, name: str, version: str = "") -> bool:
        return self._engine.model_ready(name, version)


def _expected(entry: IndexEntry) -> bool:
    if entry.state in (None, ModelState.READY, ModelState.UNLOADING):
        return True
    return entry.state is ModelState.UNAVAILABLE and entry.reason == UNLOADED


class HealthRoutes:
    """GET /v2/health/live, /v2/health/ready, /v2/models/{name}[/versions/{v}]/ready."""

    def __init__(self, readiness: Readiness) -> None:
        self._readiness = readiness

    async def __call__(self, path: str) -> Response | None:
        if path == "/v2/health/live":
            return _answer(True)
        if path == "/v2/health/ready":
            return _answer(self._readiness.server_ready())
        match = _MODEL_READY.match(path)
        if match is None:
            return None
        name, version = unquote(match.group(1)), unquote(match.group(2) or "")
        return _answer(self._readiness.model_ready(name, version))


def _answer(value: bool) -> Response:
    return Response(HTTPStatus.OK if value else HTTPStatus.BAD_REQUEST)
