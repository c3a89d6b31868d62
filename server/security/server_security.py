"""The server's security, built once from its options: what the front ends share (the Guard
and the certificate) and the engine layers (authorization, rate limits)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from naiad.engine.layers import Layer
from naiad.limits import DEFAULT_LIMITS, TensorLimits
from naiad.security.api_keys import ApiKeys
from naiad.security.authenticator import Authenticator
from naiad.security.authorization import AccessPolicy, AuthorizationLayer
from naiad.security.guard import Guard
from naiad.security.jwt_tokens import JwtSettings, JwtVerifier
from naiad.security.rate_limit import Limits, RateLimitLayer, StreamQuota
from naiad.security.tls import ServerTls, TlsFiles


@dataclass(frozen=True)
class SecurityOptions:
    """What the security flags ask for; the defaults are an open server on plain TCP."""

    tls: TlsFiles | None = None
    api_keys: Path | None = None
    """--api-keys: a TOML file of hashed keys (see api_keys.py)."""
    jwt: JwtSettings | None = None
    open_health: bool = True
    """Server live/ready without a token (probes)."""
    disabled_apis: frozenset[str] = frozenset()
    """Endpoint groups switched off for every caller (--disable-api)."""
    limits: Limits = field(default_factory=Limits)
    max_streams_per_caller: int | None = None
    max_streams_per_connection: int | None = None
    """HTTP/2 concurrent streams per gRPC connection; None: the gRPC front end's default."""
    tensor_limits: TensorLimits = DEFAULT_LIMITS

    @property
    def authenticated(self) -> bool:
        return self.api_keys is not None or self.jwt is not None


class ServerSecurity:
    """Raises ValueError at construction for a certificate, key file or key set that cannot be
    used, so a misconfigured server refuses to start rather than serving open."""

    def __init__(self, options: SecurityOptions) -> None:
        self.options = options
        self.tls = ServerTls(options.tls) if options.tls is not None else None
        authenticator = None
        if options.authenticated:
            authenticator = Authenticator(
                api_keys=ApiKeys(options.api_keys) if options.api_keys else None,
                jwt=JwtVerifier(options.jwt) if options.jwt else None,
            )
        self.policy = AccessPolicy(
            authenticated=options.authenticated, disabled=options.disabled_apis
        )
        self.guard = Guard(
            authenticator=authenticator,
            policy=self.policy,
            tensor_limits=options.tensor_limits,
            streams=StreamQuota(options.max_streams_per_caller),
            open_health=options.open_health,
        )

    def layers(self) -> list[Layer]:
        """Authorization, then rate limits (only authorized calls spend a token)."""
        layers: list[Layer] = [functools.partial(AuthorizationLayer, policy=self.policy)]
        # API keys may carry their own rates, so they need the layer even without a flag.
        if self.options.limits.any or self.options.api_keys is not None:
            layers.append(functools.partial(RateLimitLayer, limits=self.options.limits))
        return layers

    def reload(self) -> None:
        """SIGHUP: re-reads the certificate and the key files now."""
        if self.tls is not None:
            self.tls.reload()
        if self.guard.authenticator is not None:
            self.guard.authenticator.reload()
