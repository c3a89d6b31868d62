"""What a front end applies itself, before and beside the engine's authorization layer."""

from __future__ import annotations

from dataclasses import dataclass, field

from naiad.limits import DEFAULT_LIMITS, TensorLimits
from naiad.security.authenticator import Authenticator
from naiad.security.authorization import AccessPolicy
from naiad.security.rate_limit import StreamQuota


@dataclass(frozen=True)
class Guard:
    """One per server, shared by its front ends (gRPC, HTTP)."""

    authenticator: Authenticator | None = None
    """None: no authentication; every call's caller is None."""
    policy: AccessPolicy = field(default_factory=lambda: AccessPolicy(authenticated=False))
    """The same policy the engine's AuthorizationLayer applies; front ends use it for the
    endpoints that are not engine verbs (log settings)."""
    tensor_limits: TensorLimits = DEFAULT_LIMITS
    streams: StreamQuota = field(default_factory=lambda: StreamQuota(None))
    open_health: bool = True
    """Server liveness and readiness answer without a token (probes cannot send one)."""
