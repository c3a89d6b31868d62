"""The system shared memory endpoints on the HTTP port (Triton's extension); each decodes,
makes one registry call, encodes.

GET /v2/systemsharedmemory[/region/{name}]/status (a list of {name, key, offset, byte_size}),
POST /v2/systemsharedmemory/region/{name}/register (a JSON {key, offset, byte_size}),
POST /v2/systemsharedmemory[/region/{name}]/unregister. Anyone who may infer on some model
may use them, as on gRPC.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from naiad.engine.context import CallContext
from naiad.errors import InvalidArgument
from naiad.security.authorization import AccessPolicy
from naiad.security.scopes import INFER
from naiad.shm.system import SystemSharedMemory
from naiad.transport.http.messages import HttpRequest, HttpResponse

# The REST API's own helpers, so that a wrong method is the same 405 and a bad body the same 400.
from naiad.transport.http.rest import _OK, _allow, _json, _object

PREFIX = "/v2/systemsharedmemory"
_PATH = re.compile(r"^/v2/systemsharedmemory(?:/region/([^/]+))?/(status|register|unregister)$")


class SharedMemoryRoutes:
    """Answers paths under PREFIX; None for a path there that is no endpoint."""

    def __init__(self, regions: SystemSharedMemory, policy: AccessPolicy) -> None:
        self._regions = regions
        self._policy = policy

    def __call__(
        self, request: HttpRequest, context: CallContext, body: bytes
    ) -> HttpResponse | None:
        """Raises NaiadError and the REST API's method error, which RestApi answers."""
        match = _PATH.match(request.path)
        if match is None:
            return None
        name, verb = unquote(match[1] or ""), match[2]
        if verb == "register" and not name:
            return None  # registering needs a region name in the path
        self._policy.check_any(context, INFER)
        if verb == "status":
            _allow(request.method, "GET")
            return _json([vars(status) for status in self._regions.status(name)])
        _allow(request.method, "POST")
        if verb == "unregister":
            self._regions.unregister(name)
            return _OK
        fields = _object(body)
        self._regions.register(
            name,
            _field(fields, "key", str, ""),
            _field(fields, "offset", int, 0),
            _field(fields, "byte_size", int, None),
        )
        return _OK


def _field(fields: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = fields.get(key, default)
    if value is None or not isinstance(value, kind) or isinstance(value, bool):
        kind_name = "a string" if kind is str else "an integer"
        raise InvalidArgument(f"register request field '{key}' must be {kind_name}")
    return value
