"""Scopes: what a token allows, as action groups over model-name patterns.

A scope is `ACTION[:PATTERN]`. ACTION is one of ACTIONS or `*`; PATTERN is a shell-style glob
over model names (`fraud*`, `resnet-?`), `*` when left out. `infer:fraud*` lets a caller infer on
every model whose name starts with "fraud"; `metadata` reads every model's metadata; `*` is
everything. Server-wide actions (admin) are checked with the model name "", which only a
pattern of `*` matches; listings (the repository index, statistics of every model) need a
grant on some model and show only the models granted.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass

INFER = "infer"
"""ModelInfer and ModelStreamInfer."""
METADATA = "metadata"
"""ModelMetadata, ModelConfig, ModelReady. (ServerMetadata, which names no model, answers any
authenticated caller.)"""
STATISTICS = "statistics"
"""ModelStatistics."""
REPOSITORY = "repository"
"""RepositoryIndex, RepositoryModelLoad, RepositoryModelUnload."""
ADMIN = "admin"
"""Log settings, and later rollout and monitoring controls."""

ACTIONS = (INFER, METADATA, STATISTICS, REPOSITORY, ADMIN)
SERVER_WIDE = ""
"""The model name of a check that concerns no one model."""

_CACHE_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class Grant:
    action: str
    """One of ACTIONS, or "*"."""
    pattern: str
    """A glob over model names."""


class Scopes:
    """A parsed set of scopes; `allows` answers from a per-instance cache after the first ask."""

    __slots__ = ("grants", "_matchers", "_cache")

    def __init__(self, grants: Iterable[Grant] = ()) -> None:
        self.grants = tuple(grants)
        self._matchers = [
            (grant.action, re.compile(fnmatch.translate(grant.pattern)).match)
            for grant in self.grants
        ]
        self._cache: dict[tuple[str, str], bool] = {}

    @classmethod
    def parse(cls, specs: Iterable[str], *, strict: bool = True) -> Scopes:
        """Scopes from their text; raises ValueError naming every scope that does not parse,
        or with strict=False skips them (a JWT also carries its identity provider's scopes,
        such as `openid`)."""
        grants, bad = [], []
        for spec in specs:
            action, _, pattern = spec.strip().partition(":")
            if action != "*" and action not in ACTIONS or (pattern == "" and ":" in spec):
                bad.append(spec)
                continue
            grants.append(Grant(action, pattern or "*"))
        if bad and strict:
            raise ValueError(
                f"invalid scope(s) {', '.join(repr(b) for b in bad)}: expected ACTION[:PATTERN]"
                f" with ACTION one of {', '.join(ACTIONS)} or *"
            )
        return cls(grants)

    def allows(self, action: str, model: str) -> bool:
        """Whether `action` on `model` (SERVER_WIDE for none) is granted."""
        key = (action, model)
        found = self._cache.get(key)
        if found is None:
            found = any(
                (granted == "*" or granted == action) and match(model) is not None
                for granted, match in self._matchers
            )
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = found
        return found

    def grants_any(self, action: str) -> bool:
        """Whether `action` is granted on at least some model."""
        return any(granted in ("*", action) for granted, _ in self._matchers)

    def __repr__(self) -> str:
        return f"Scopes({[f'{g.action}:{g.pattern}' for g in self.grants]})"


NONE = Scopes()
EVERYTHING = Scopes([Grant("*", "*")])
