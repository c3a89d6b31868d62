"""API keys: static bearer tokens from a TOML file that holds only their SHA-256 hashes.

    [[keys]]
    id = "fraud-ci"                    # who the key is: logs, audit lines, rate limits
    sha256 = "5e88..."                 # hex SHA-256 of the secret (`naiad keys new` makes both)
    scopes = ["infer:fraud*", "metadata"]
    rate = 50.0                        # optional: requests/s, instead of --rate-limit-per-caller
    burst = 100                        # optional, with rate
    expires = 2027-06-30T00:00:00Z     # optional

Keys are random 256-bit secrets, so one unsalted SHA-256 is enough: there is no dictionary to
try, and a leaked file gives no usable secret. The file is re-read when it changes (see
WatchedFile), so keys rotate without a restart: add the new key, move clients, remove the old.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import secrets
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from naiad.engine.context import Caller
from naiad.security.scopes import Scopes
from naiad.security.watched_file import RECHECK_S, WatchedFile

SECRET_PREFIX = "naiad_"
"""New secrets start with this, so a leaked one is recognisable in logs and scanners."""


@dataclass(frozen=True)
class ApiKey:
    caller: Caller
    expires_s: float | None
    """time.time() after which the key no longer verifies; None: never."""


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def parse_keys(text: str) -> dict[str, ApiKey]:
    """{sha256 hex: ApiKey} from the file's text; raises ValueError listing every problem."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not TOML: {exc}") from None
    entries = document.get("keys", [])
    if not isinstance(entries, list) or set(document) - {"keys"}:
        raise ValueError("expected only [[keys]] tables")
    keys: dict[str, ApiKey] = {}
    problems: list[str] = []
    for number, entry in enumerate(entries, 1):
        try:
            digest, key = _parse_entry(entry)
        except ValueError as exc:
            problems.append(f"key {number}: {exc}")
            continue
        if digest in keys:
            problems.append(
                f"key {number}: the same secret as key '{keys[digest].caller.identity}'"
            )
        keys[digest] = key
    if problems:
        raise ValueError("; ".join(problems))
    return keys


def _parse_entry(entry: object) -> tuple[str, ApiKey]:
    if not isinstance(entry, Mapping):
        raise ValueError("not a table")
    unknown = set(entry) - {"id", "sha256", "scopes", "rate", "burst", "expires"}
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")
    identity, digest = entry.get("id"), entry.get("sha256")
    if not isinstance(identity, str) or not identity:
        raise ValueError("'id' must be a non-empty string")
    if identity == "-":
        raise ValueError("'id' must not be '-', the name of the anonymous caller")
    if not isinstance(digest, str) or len(digest) != 64 or not _is_hex(digest):
        raise ValueError(f"'{identity}': 'sha256' must be 64 hex digits")
    scopes = entry.get("scopes", [])
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise ValueError(f"'{identity}': 'scopes' must be a list of strings")
    rate = _rate(entry, identity)
    expires = entry.get("expires")
    if expires is not None and not isinstance(expires, dt.datetime):
        raise ValueError(f"'{identity}': 'expires' must be a TOML date-time")
    if isinstance(expires, dt.datetime) and expires.tzinfo is None:
        expires = expires.replace(tzinfo=dt.UTC)
    caller = Caller(identity, Scopes.parse(scopes), rate)
    return digest.lower(), ApiKey(caller, expires.timestamp() if expires else None)


def _rate(entry: Mapping[str, object], identity: str) -> tuple[float, float] | None:
    rate, burst = entry.get("rate"), entry.get("burst")
    if rate is None:
        if burst is not None:
            raise ValueError(f"'{identity}': 'burst' needs 'rate'")
        return None
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 < rate < math.inf:
        raise ValueError(f"'{identity}': 'rate' must be a positive number")
    if burst is None:
        burst = max(1.0, float(rate))
    if not isinstance(burst, int | float) or isinstance(burst, bool) or not 1 <= burst < math.inf:
        raise ValueError(f"'{identity}': 'burst' must be a number >= 1")
    return float(rate), float(burst)


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


class ApiKeys:
    """The keys of one file, followed as the file changes."""

    def __init__(
        self,
        path: str | Path,
        *,
        recheck_s: float = RECHECK_S,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._file = WatchedFile(path, parse_keys, recheck_s=recheck_s, clock=monotonic)
        self._wall_clock = wall_clock

    def caller(self, secret: str) -> Caller | None:
        """The key's caller, or None for an unknown or expired secret."""
        key = self._file.current().get(hash_secret(secret))
        if key is None or (key.expires_s is not None and self._wall_clock() >= key.expires_s):
            return None
        return key.caller

    def reload(self) -> bool:
        return self._file.reload()


def key_entry(identity: str, secret: str, scopes: list[str]) -> str:
    """The TOML entry for a new key (what `naiad keys new` prints)."""
    Scopes.parse(scopes)  # refuse a typo now rather than when the server reads the file
    # JSON string syntax is valid TOML basic-string syntax: quotes, backslashes and control
    # characters come out escaped.
    listed = ", ".join(json.dumps(scope) for scope in scopes)
    return (
        f'[[keys]]\nid = {json.dumps(identity)}\nsha256 = "{hash_secret(secret)}"\n'
        f"scopes = [{listed}]\n"
    )
