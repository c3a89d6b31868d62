"""The KServe v2 REST API with Triton's extensions: each endpoint decodes, makes one engine
call, encodes.

Endpoints: GET /v2, /v2/health/{live,ready}, /v2/models/{m}[/versions/{v}] and its /ready,
/config and /stats, /v2/models/stats; POST .../infer, /v2/repository/index,
/v2/repository/models/{m}/{load,unload}; GET and POST /v2/logging; GET /v2/openapi.json;
the rollout admin endpoints under /v2/rollout (rollout_routes.py), the monitoring ones under
/v2/monitor (monitor_routes.py); the system shared memory endpoints under
/v2/systemsharedmemory (shm_routes.py) when the server has them. CUDA shared memory and trace
endpoints answer 501, as their gRPC twins answer UNIMPLEMENTED (except a CUDA unregister, which
succeeds: no CUDA region exists).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import naiad
from naiad.engine.context import CallContext
from naiad.engine.protocol import InferenceEngine
from naiad.errors import InvalidArgument, NaiadError, Unimplemented
from naiad.observability import logs
from naiad.security.authenticator import AUTHORIZATION
from naiad.security.authorization import check_admin
from naiad.security.guard import Guard
from naiad.security.scopes import ADMIN, SERVER_WIDE
from naiad.transport.http import compression
from naiad.transport.http.infer_json import HEADER_LENGTH, decode_request, encode_response
from naiad.transport.http.messages import JSON, HttpRequest, HttpResponse
from naiad.transport.http.proto_json import to_json
from naiad.transport.http.status import error_body, error_response
from naiad.transport.model_codec import model_metadata, model_statistics
from naiad.transport.service import extensions
from naiad.transport.shm_tensors import SharedMemoryTensors

if TYPE_CHECKING:
    from naiad.monitor.book import MonitorBook
    from naiad.rollout.admin import RolloutAdmin
    from naiad.shm.system import SystemSharedMemory
    from naiad.transport.http.monitor_routes import MonitorRoutes
    from naiad.transport.http.rollout_routes import RolloutRoutes
    from naiad.transport.http.shm_routes import SharedMemoryRoutes

SHM_PREFIX = "/v2/systemsharedmemory"

log = logging.getLogger("naiad.http")

_MODEL = re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?(?:/(ready|config|stats|infer))?$")
_REPOSITORY = re.compile(r"^/v2/repository/models/([^/]+)/(load|unload)$")
_UNSUPPORTED = re.compile(r"^/v2/(systemsharedmemory|cudasharedmemory|trace)(/.*)?$")
_UNSUPPORTED_NAMES = {
    "systemsharedmemory": "system shared memory",
    "cudasharedmemory": "CUDA shared memory",
    "trace": "trace settings",
}
_CUDA_UNREGISTER = re.compile(r"^/v2/cudasharedmemory(?:/region/[^/]+)?/unregister$")
_OK = HttpResponse(HTTPStatus.OK)
_NOT_READY = HttpResponse(HTTPStatus.BAD_REQUEST)
_COMPRESS_AT_BYTES = 1024
"""Smaller answers go uncompressed whatever the client accepts: gzip would only add bytes."""

Endpoint = Callable[[HttpRequest, CallContext], Awaitable[HttpResponse]]


def _json(value: Any, status: int = HTTPStatus.OK) -> HttpResponse:
    return HttpResponse(status, json.dumps(value, separators=(",", ":")).encode(), JSON)


class RestApi:
    """The HTTP port's handler. `max_body_bytes` also bounds a body once decompressed."""

    def __init__(
        self,
        engine: InferenceEngine,
        guard: Guard,
        max_body_bytes: int,
        rollout: RolloutAdmin | None = None,
        monitor: MonitorBook | None = None,
        shared_memory: SystemSharedMemory | None = None,
    ) -> None:
        """`rollout`: serve the rollout admin endpoints (rollout_routes.py) over it;
        `monitor`: the monitoring endpoints (monitor_routes.py).
        `shared_memory`: serve the system shared memory endpoints (shm_routes.py) over it and
        read and write tensors placed in its regions."""
        self._engine = engine
        self._guard = guard
        self._max_body_bytes = max_body_bytes
        self._openapi: bytes | None = None
        self._rollout: RolloutRoutes | None = None
        if rollout is not None:  # imported here: the routes reuse this module's helpers
            from naiad.transport.http.rollout_routes import RolloutRoutes

            self._rollout = RolloutRoutes(rollout, guard.policy)
        self._monitor: MonitorRoutes | None = None
        if monitor is not None:
            from naiad.transport.http.monitor_routes import MonitorRoutes

            self._monitor = MonitorRoutes(monitor, guard.policy)
        self._shm = SharedMemoryTensors(shared_memory)
        self._extensions = extensions(shared_memory)
        self._shm_routes: SharedMemoryRoutes | None = None
        if shared_memory is not None:
            from naiad.transport.http.shm_routes import SharedMemoryRoutes

            self._shm_routes = SharedMemoryRoutes(shared_memory, guard.policy)

    async def __call__(self, request: HttpRequest) -> HttpResponse | None:
        path = request.path
        try:
            response = await self._route(request, path)
        except NaiadError as exc:
            return error_response(exc)
        except _NotAllowed as exc:
            allowed = ", ".join(exc.allowed)
            return HttpResponse(
                HTTPStatus.METHOD_NOT_ALLOWED,
                error_body(f"{request.method} is not allowed here; use {allowed}"),
                JSON,
                (("Allow", allowed),),
            )
        if response is not None and request.headers.get("accept-encoding"):
            return _compressed(request, response)
        return response

    async def _route(self, request: HttpRequest, path: str) -> HttpResponse | None:
        method = request.method
        match = _MODEL.match(path)
        if match is not None and path != "/v2/models/stats":
            name, version, action = unquote(match[1]), unquote(match[2] or ""), match[3]
            if action == "infer":
                _allow(method, "POST")
                return await self._infer(request, name, version)
            _allow(method, "GET")
            context = self._context(request)
            if action is None:
                described = self._engine.describe(name, version, context)
                return _json(to_json(model_metadata(described)))
            if action == "ready":
                return _OK if self._engine.model_ready(name, version, context) else _NOT_READY
            if action == "config":
                return _json(to_json(self._engine.config(name, version, context)))
            return self._statistics(name, version, context)
        if path in ("/v2/health/live", "/v2/health/ready"):
            _allow(method, "GET")
            if not self._guard.open_health:
                self._context(request)
            live = path == "/v2/health/live" or self._engine.server_ready()
            return _OK if live else _NOT_READY
        if path == "/v2":
            _allow(method, "GET")
            self._context(request)  # any authenticated caller may read it
            return _json(
                {"name": "naiad", "version": naiad.__version__, "extensions": self._extensions}
            )
        if path == "/v2/models/stats":
            _allow(method, "GET")
            return self._statistics("", "", self._context(request))
        match = _REPOSITORY.match(path)
        if match is not None:
            _allow(method, "POST")
            return await self._repository(request, unquote(match[1]), match[2])
        if path == "/v2/repository/index":
            _allow(method, "POST")
            body = _object(self._body(request))
            ready = body.get("ready", False)
            if not isinstance(ready, bool):
                raise InvalidArgument("'ready' must be a boolean")
            entries = await self._engine.index(ready, self._context(request))
            return _json(
                [
                    {
                        "name": e.name,
                        "version": e.version,
                        "state": e.state.wire if e.state is not None else "",
                        "reason": e.reason,
                    }
                    for e in entries
                ]
            )
        if path == "/v2/logging":
            return self._logging(request)
        if path == "/v2/openapi.json":
            _allow(method, "GET")
            return HttpResponse(HTTPStatus.OK, self._openapi_document(), JSON)
        if self._shm_routes is not None and path.startswith(SHM_PREFIX + "/"):
            return self._shm_routes(request, self._context(request), self._body(request))
        if _CUDA_UNREGISTER.match(path):
            _allow(method, "POST")
            self._context(request)
            return _OK  # no CUDA region can exist; see service.CudaSharedMemoryUnregister
        match = _UNSUPPORTED.match(path)
        if match is not None:
            self._context(request)
            raise Unimplemented(f"{_UNSUPPORTED_NAMES[match[1]]} is not supported by naiad")
        if self._rollout is not None and self._rollout.handles(path):
            return self._rollout(request, self._context(request), self._body(request))
        if self._monitor is not None and self._monitor.handles(path):
            return await self._monitor(request, self._context(request), self._body(request))
        return None

    async def _infer(self, request: HttpRequest, name: str, version: str) -> HttpResponse:
        context = self._context(request)
        body = self._body(request)
        decoded, form = decode_request(
            body, request.header(HEADER_LENGTH), name, version, self._guard.tensor_limits, self._shm
        )
        answer = await self._engine.submit(decoded, context)
        if form.placed:
            self._shm.write_outputs(answer, form.placed)
        content, header_length = encode_response(answer, form)
        if header_length is None:
            return HttpResponse(HTTPStatus.OK, content, JSON)
        return HttpResponse(
            HTTPStatus.OK,
            content,
            "application/octet-stream",
            (("Inference-Header-Content-Length", str(header_length)),),
        )

    def _statistics(self, name: str, version: str, context: CallContext) -> HttpResponse:
        found = self._engine.statistics(name, version, context)
        stats = [to_json(model_statistics(s.name, s.version, s.stats)) for s in found]
        return _json({"model_stats": stats})

    async def _repository(self, request: HttpRequest, name: str, verb: str) -> HttpResponse:
        context = self._context(request)
        parameters = _object(self._body(request)).get("parameters", {})
        if not isinstance(parameters, dict):
            raise InvalidArgument("'parameters' must be a JSON object")
        if verb == "unload":
            await self._engine.unload(name, context)
            return _OK
        config: str | None = None
        files: dict[str, bytes] = {}
        for key, value in parameters.items():
            if key == "config":
                if not isinstance(value, str):
                    raise InvalidArgument("load parameter 'config' must be a JSON string")
                config = value
            elif key.startswith("file:"):
                if not isinstance(value, str):
                    raise InvalidArgument(f"load parameter '{key}' must be base64 text")
                try:
                    files[key[len("file:") :]] = base64.b64decode(value, validate=True)
                except binascii.Error:
                    raise InvalidArgument(f"load parameter '{key}' is not valid base64") from None
            else:
                raise InvalidArgument(f"unrecognized load parameter '{key}'")
        await self._engine.load(name, config, files, context)
        return _OK

    def _logging(self, request: HttpRequest) -> HttpResponse:
        _allow(request.method, "GET", "POST")
        context = self._context(request)
        changes: dict[str, logs.SettingValue] = {}
        if request.method == "POST":
            for key, value in _object(self._body(request)).items():
                if not isinstance(value, bool | int | str):
                    raise InvalidArgument(
                        f"log setting '{key}' must be a boolean, number or string"
                    )
                changes[key] = value
        if changes:
            check_admin(self._guard.policy, context, "log_settings")
        else:
            self._guard.policy.check(context, ADMIN, SERVER_WIDE)  # reading them: no audit line
        return _json(vars(logs.update(changes)))

    def _context(self, request: HttpRequest) -> CallContext:
        """The request's context; raises Unauthenticated for a missing or bad token when the
        server authenticates."""
        authenticator = self._guard.authenticator
        trace = {
            k: request.headers[k] for k in ("traceparent", "tracestate") if k in request.headers
        }
        if authenticator is None:
            return CallContext("http", None, None, trace) if trace else _ANONYMOUS
        caller = authenticator.authenticate(request.headers.get(AUTHORIZATION), "http")
        return (
            CallContext("http", None, caller, trace) if trace else CallContext("http", None, caller)
        )

    def _body(self, request: HttpRequest) -> bytes:
        encoding = request.header("content-encoding")
        if not encoding:
            return request.body
        return compression.decompress(request.body, encoding, self._max_body_bytes)

    def _openapi_document(self) -> bytes:
        if self._openapi is None:
            source = resources.files("naiad.transport.http").joinpath("openapi.json")
            self._openapi = source.read_bytes()
        return self._openapi


_ANONYMOUS = CallContext("http")


def _allow(method: str, *allowed: str) -> None:
    if method in allowed or (method == "HEAD" and "GET" in allowed):
        return
    raise _NotAllowed(allowed)


class _NotAllowed(Exception):
    def __init__(self, allowed: tuple[str, ...]) -> None:
        self.allowed = allowed


def _object(body: bytes) -> dict[str, Any]:
    """A request body that must be a JSON object; an empty body is an empty object."""
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"malformed JSON in request body: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidArgument("the request body must be a JSON object")
    return value


def _compressed(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    encoding = compression.choose(request.headers["accept-encoding"])
    if encoding is None or len(response.body) < _COMPRESS_AT_BYTES:
        return response
    return HttpResponse(
        response.status,
        compression.compress(response.body, encoding),
        response.content_type,
        (*response.headers, ("Content-Encoding", encoding), ("Vary", "Accept-Encoding")),
    )
