"""Native counter objects (naiad._native Stats and what it holds) as plain picklable copies.

The front ends' ModelStatistics must read the engine's own counters; the native objects cannot
cross a process boundary, so the engine sends a copy with the same attribute names.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from naiad.engine.protocol import VersionStats

_NATIVE_MODULE = "naiad._native"


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return [_copy(item) for item in value]
    if type(value).__module__ != _NATIVE_MODULE:
        return value
    fields = {}
    for name in dir(value):
        if name.startswith("_"):
            continue
        attribute = getattr(value, name)
        if not callable(attribute):
            fields[name] = _copy(attribute)
    return SimpleNamespace(**fields)


def stats_snapshot(stats: list[VersionStats]) -> list[VersionStats]:
    """`stats` with each native Stats replaced by a plain copy of every attribute it has."""
    return [VersionStats(item.name, item.version, _copy(item.stats)) for item in stats]
