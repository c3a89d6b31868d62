"""The authorization layer: every engine verb checked against the caller's scopes.

A decision depends only on the caller, the action and the model's *name*, never on whether
the model exists: a caller without a grant on `secret-model` is told PERMISSION_DENIED whether
or not there is one, so names cannot be probed. Listings (statistics of all models, the
repository index) show only the models the caller may see.

Endpoint groups can also be switched off for everyone (`--disable-api repository`), as with
Triton's restricted protocols, for deployments that want no run-time repository control.

Calls from inside the process (CallContext protocol "internal": warm-up, batch jobs) carry no
caller and pass; any other call without a caller means a front end did not authenticate, and
is refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from naiad.engine.context import CallContext
from naiad.engine.layers import EngineLayer
from naiad.engine.protocol import InferenceEngine, ModelDescription, VersionStats
from naiad.engine.request import InferRequest, InferResponse
from naiad.errors import PermissionDenied, Unauthenticated
from naiad.repository.types import IndexEntry
from naiad.security import audit
from naiad.security.scopes import (
    ACTIONS,
    ADMIN,
    INFER,
    METADATA,
    REPOSITORY,
    SERVER_WIDE,
    STATISTICS,
)
from naiad_protocol.model_config_pb2 import ModelConfig

_INTERNAL = "internal"


class AccessPolicy:
    """Decides one (context, action, model); writes the audit lines."""

    def __init__(self, *, authenticated: bool, disabled: Collection[str] = ()) -> None:
        unknown = set(disabled) - set(ACTIONS)
        if unknown:
            raise ValueError(
                f"unknown API group(s) {', '.join(sorted(unknown))}; expected {', '.join(ACTIONS)}"
            )
        self.authenticated = authenticated
        self.disabled = frozenset(disabled)

    def check(self, context: CallContext, action: str, model: str) -> None:
        """Returns when allowed; raises PermissionDenied or Unauthenticated otherwise."""
        if action in self.disabled:
            self._deny(context, action, model, f"the {action} API is disabled on this server")
        caller = context.caller
        if caller is None:
            if self.authenticated and context.protocol != _INTERNAL:
                audit.denied("-", action, model, context.protocol, "no caller")
                raise Unauthenticated("this call needs a bearer token")
            return
        if not caller.scopes.allows(action, model):
            what = f"model '{model}'" if model else "this server"
            self._deny(context, action, model, f"not allowed to {action} on {what}")

    def check_any(self, context: CallContext, action: str) -> None:
        """For a listing: allowed when the caller may `action` on some model."""
        if action in self.disabled:
            self._deny(context, action, "", f"the {action} API is disabled on this server")
        caller = context.caller
        if caller is None:
            self.check(context, action, SERVER_WIDE)
        elif not caller.scopes.grants_any(action):
            self._deny(context, action, "", f"not allowed to {action} on any model")

    def visible(self, context: CallContext, action: str, model: str) -> bool:
        caller = context.caller
        return caller is None or caller.scopes.allows(action, model)

    def _deny(self, context: CallContext, action: str, model: str, reason: str) -> None:
        who = context.caller.identity if context.caller is not None else "-"
        audit.denied(who, action, model, context.protocol, reason)
        raise PermissionDenied(reason)


def audit_allowed(context: CallContext, action: str, model: str) -> None:
    who = context.caller.identity if context.caller is not None else "-"
    audit.allowed(who, action, model, context.protocol)


class AuthorizationLayer(EngineLayer):
    def __init__(self, inner: InferenceEngine, policy: AccessPolicy) -> None:
        super().__init__(inner)
        self.policy = policy

    def submit(self, request: InferRequest, context: CallContext) -> asyncio.Future[InferResponse]:
        self.policy.check(context, INFER, request.model_name)
        return self.inner.submit(request, context)

    def describe(self, name: str, version: str, context: CallContext) -> ModelDescription:
        self.policy.check(context, METADATA, name)
        return self.inner.describe(name, version, context)

    def config(self, name: str, version: str, context: CallContext) -> ModelConfig:
        self.policy.check(context, METADATA, name)
        return self.inner.config(name, version, context)

    def model_ready(self, name: str, version: str, context: CallContext) -> bool:
        self.policy.check(context, METADATA, name)
        return self.inner.model_ready(name, version, context)

    def statistics(self, name: str, version: str, context: CallContext) -> list[VersionStats]:
        if name:
            self.policy.check(context, STATISTICS, name)
            return self.inner.statistics(name, version, context)
        self.policy.check_any(context, STATISTICS)
        found = self.inner.statistics(name, version, context)
        return [s for s in found if self.policy.visible(context, STATISTICS, s.name)]

    async def index(self, ready_only: bool, context: CallContext) -> list[IndexEntry]:
        self.policy.check_any(context, REPOSITORY)
        entries = await self.inner.index(ready_only, context)
        return [e for e in entries if self.policy.visible(context, REPOSITORY, e.name)]

    async def load(
        self, name: str, config_json: str | None, files: dict[str, bytes], context: CallContext
    ) -> None:
        self.policy.check(context, REPOSITORY, name)
        audit_allowed(context, "repository.load", name)
        await self.inner.load(name, config_json, files, context)

    async def unload(self, name: str, context: CallContext) -> None:
        self.policy.check(context, REPOSITORY, name)
        audit_allowed(context, "repository.unload", name)
        await self.inner.unload(name, context)


def check_admin(policy: AccessPolicy | None, context: CallContext, what: str) -> None:
    """For front-end endpoints that are not engine verbs (log settings): admin, audited."""
    if policy is not None:
        policy.check(context, ADMIN, SERVER_WIDE)
    audit_allowed(context, f"admin.{what}", SERVER_WIDE)
