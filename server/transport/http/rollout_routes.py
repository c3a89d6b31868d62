"""The rollout admin endpoints on the HTTP port; each decodes, makes one RolloutAdmin call,
encodes. What `naiad rollout` talks to.

GET /v2/rollout (every rollout), GET /v2/rollout/{m} (status; mode null when none),
POST /v2/rollout/{m}/start (a JSON plan: mode, to, stable, candidate_percent, step_percent,
step_every_s, step_every_requests, sample_percent, key, gates), POST /v2/rollout/{m}/promote,
/abort and /clear. Changes need the `admin` scope on the model (audited); reading needs
`metadata`.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from naiad.engine.context import CallContext
from naiad.rollout.admin import RolloutAdmin
from naiad.security.authorization import AccessPolicy, audit_allowed
from naiad.security.scopes import ADMIN, METADATA
from naiad.transport.http.messages import HttpRequest, HttpResponse

# The REST API's own helpers, so that a wrong method is the same 405 and a bad body the same 400.
from naiad.transport.http.rest import _allow, _json, _object

ROLLOUT_PREFIX = "/v2/rollout"
_PATH = re.compile(r"^/v2/rollout(?:/([^/]+)(?:/(start|promote|abort|clear))?)?$")


class RolloutRoutes:
    """Answers paths under ROLLOUT_PREFIX; None for any other path."""

    def __init__(self, admin: RolloutAdmin, policy: AccessPolicy) -> None:
        self._admin = admin
        self._policy = policy

    def handles(self, path: str) -> bool:
        return path == ROLLOUT_PREFIX or path.startswith(ROLLOUT_PREFIX + "/")

    def __call__(
        self, request: HttpRequest, context: CallContext, body: bytes
    ) -> HttpResponse | None:
        """Raises NaiadError and the REST API's method error, which RestApi answers."""
        match = _PATH.match(request.path)
        if match is None:
            return None
        name = unquote(match[1] or "")
        verb = match[2]
        if not name:
            _allow(request.method, "GET")
            self._policy.check_any(context, METADATA)
            visible = [
                s
                for s in self._admin.statuses()
                if self._policy.visible(context, METADATA, s["model"])
            ]
            return _json(visible)
        if verb is None:
            _allow(request.method, "GET")
            self._policy.check(context, METADATA, name)
            return _json(self._admin.status(name))
        _allow(request.method, "POST")
        self._policy.check(context, ADMIN, name)
        audit_allowed(context, f"rollout.{verb}", name)
        if verb == "start":
            return _json(self._admin.start(name, _object(body)))
        if verb == "promote":
            return _json(self._admin.promote(name))
        if verb == "abort":
            return _json(self._admin.abort(name))
        return _json(self._admin.clear(name))
