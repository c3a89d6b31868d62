"""JWT bearer tokens, verified against a JSON Web Key Set file.

A token verifies when its signature checks out with the key its `kid` names (or the set's only
key), with that key's own algorithm (never `none`, never one the token picks), and when its
issuer and audience are the configured ones, it has a subject, and it is inside its validity
window give or take `leeway_s` of clock skew. The subject becomes the caller's identity; the
scopes come from the OAuth 2 `scope` claim (space-separated) or the `scp` claim (a list).

Verified tokens are cached until they expire: verifying a signature costs tens of microseconds,
a dictionary lookup does not. The key set file is followed like the API keys file; a changed
set empties the cache, so a withdrawn key stops verifying at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from naiad.engine.context import Caller
from naiad.security.scopes import Scopes
from naiad.security.watched_file import RECHECK_S, WatchedFile

_CACHE_LIMIT = 10_000


def _jwt() -> Any:
    try:
        import jwt
    except ImportError:
        raise ValueError("JWT verification needs PyJWT: pip install 'naiad[auth]'") from None
    return jwt


@dataclass(frozen=True)
class JwtSettings:
    jwks: Path
    """The key set: {"keys": [JWK, ...]} (RSA, EC, OKP or oct keys)."""
    issuer: str
    audience: str
    leeway_s: float = 30.0
    """Clock skew allowed on exp, nbf and iat."""


class _KeySet:
    def __init__(self, text: str) -> None:
        jwt = _jwt()
        try:
            document = json.loads(text)
            if not isinstance(document, dict):
                raise ValueError("the top level is not an object")
            keys = jwt.PyJWKSet.from_dict(document).keys
        except Exception as exc:  # PyJWT raises KeyError, NotImplementedError, ... for bad JWKs
            raise ValueError(f"not a usable JSON Web Key Set: {exc}") from None
        self.by_id = {key.key_id: key for key in keys if key.key_id}
        self.only = keys[0] if len(keys) == 1 else None


class JwtVerifier:
    def __init__(
        self,
        settings: JwtSettings,
        *,
        recheck_s: float = RECHECK_S,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._jwt = _jwt()
        self._settings = settings
        self._file = WatchedFile(settings.jwks, _KeySet, recheck_s=recheck_s, clock=monotonic)
        self._wall_clock = wall_clock
        self._keys = self._file.current()
        self._verified: dict[str, tuple[Caller, float]] = {}

    def caller(self, token: str) -> Caller | None:
        """The token's caller, or None when it does not verify."""
        keys = self._file.current()
        if keys is not self._keys:
            self._keys = keys
            self._verified.clear()
        cached = self._verified.get(token)
        if cached is not None:
            caller, expires_s = cached
            if self._wall_clock() < expires_s + self._settings.leeway_s:
                return caller
            del self._verified[token]
        claims = self._verify(token, keys)
        if claims is None:
            return None
        caller = Caller(str(claims["sub"]), _scopes(claims))
        if len(self._verified) >= _CACHE_LIMIT:
            self._verified.clear()
        self._verified[token] = (caller, float(claims["exp"]))
        return caller

    def reload(self) -> bool:
        return self._file.reload()

    def _verify(self, token: str, keys: _KeySet) -> dict[str, Any] | None:
        jwt = self._jwt
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = keys.by_id.get(kid) if kid is not None else keys.only
            if key is None:
                return None
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name],
                audience=self._settings.audience,
                issuer=self._settings.issuer,
                # Times are checked below against the injected clock, the one the cache uses,
                # so a token's validity window has one definition.
                options={
                    "require": ["exp", "iss", "aud", "sub"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
            _scopes(claims)  # a malformed scope claim refuses the token
            if not self._in_window(claims):
                return None
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError):
            return None
        return dict(claims)

    def _in_window(self, claims: dict[str, Any]) -> bool:
        """exp, and nbf and iat where present, against the wall clock give or take the leeway.
        Raises TypeError for a time claim that is not a number."""
        now, leeway = self._wall_clock(), self._settings.leeway_s
        times = {name: claims[name] for name in ("exp", "nbf", "iat") if name in claims}
        for name, value in times.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"'{name}' is not a number")
        if now >= times["exp"] + leeway:
            return False
        return all(times[name] <= now + leeway for name in ("nbf", "iat") if name in times)


def _scopes(claims: dict[str, Any]) -> Scopes:
    value = claims.get("scope", claims.get("scp", []))
    listed = value.split() if isinstance(value, str) else value
    if not isinstance(listed, list) or not all(isinstance(s, str) for s in listed):
        raise ValueError("scope claim is neither a string nor a list of strings")
    return Scopes.parse(listed, strict=False)
