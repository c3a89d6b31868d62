"""Bearer tokens to callers: the one check every front end makes before a call goes further.

A front end hands over the value of the call's `authorization` header (gRPC metadata or HTTP
header) and gets a Caller back, or Unauthenticated. A value that looks like a JWT (three
dot-separated parts) goes to the JWT verifier, any other to the API keys; an unknown, expired or
forged token is answered the same way, so a caller learns nothing about which it was.
"""

from __future__ import annotations

from dataclasses import dataclass

from naiad.engine.context import Caller
from naiad.errors import Unauthenticated
from naiad.security import audit
from naiad.security.api_keys import ApiKeys
from naiad.security.jwt_tokens import JwtVerifier

AUTHORIZATION = "authorization"
"""The header (and gRPC metadata key, lower-case as gRPC requires) carrying the token."""
_REFUSED = "missing or invalid bearer token (send 'authorization: Bearer <token>')"


@dataclass
class Authenticator:
    api_keys: ApiKeys | None = None
    jwt: JwtVerifier | None = None

    def authenticate(self, authorization: str | None, protocol: str) -> Caller:
        """The caller the header's token names; raises Unauthenticated (and writes an audit
        line) when there is none."""
        caller = self._caller(authorization) if authorization else None
        if caller is None:
            reason = "no token" if not authorization else "token did not verify"
            audit.denied("-", "authenticate", "", protocol, reason)
            raise Unauthenticated(_REFUSED)
        return caller

    def _caller(self, authorization: str) -> Caller | None:
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        if token.count(".") == 2:
            return self.jwt.caller(token) if self.jwt is not None else None
        return self.api_keys.caller(token) if self.api_keys is not None else None

    def reload(self) -> None:
        """Re-reads the key files now (SIGHUP)."""
        for source in (self.api_keys, self.jwt):
            if source is not None:
                source.reload()
