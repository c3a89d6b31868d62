"""Immutable snapshots of what the repository serves; a change publishes new ones.

Readers (every inference request) take the current snapshot without a lock; writers build a
new one under the repository's registry lock. Nothing here is mutated after construction.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from naiad.repository.layout import Fingerprint
from naiad.repository.types import ModelState, ServedModel
from naiad_protocol.model_config_pb2 import ModelConfig


@dataclass(frozen=True)
class VersionView:
    """One version: its state and, when it serves, the running model and its config."""

    version: int
    state: ModelState
    reason: str = ""
    model: ServedModel | None = None
    config: ModelConfig | None = None

    @property
    def serving(self) -> bool:
        return self.state is ModelState.READY and self.model is not None


@dataclass(frozen=True)
class ModelView:
    """One model: its versions, or, when it failed before any version was known, the reason."""

    name: str
    versions: Mapping[int, VersionView] = field(default_factory=dict)
    reason: str = ""
    """Why the model as a whole is unavailable (unreadable config...), when it has no versions."""
    state: ModelState = ModelState.UNAVAILABLE
    """The model's state while it has no versions: UNAVAILABLE (failed) or UNLOADED."""
    fingerprint: Fingerprint | None = None
    """The model directory's content at the last load attempt (poll mode compares it)."""
    temp_dir: Path | None = None
    """A directory of uploaded files to delete once the versions loaded from it are stopped."""

    @functools.cached_property
    def latest_ready(self) -> VersionView | None:
        """The highest version that serves, or None."""
        ready = [v for v in self.versions.values() if v.serving]
        return max(ready, key=lambda v: v.version) if ready else None

    def serving(self) -> list[VersionView]:
        return [v for v in self.versions.values() if v.serving]

    @property
    def as_expected(self) -> bool:
        """Every version READY, being unloaded or unloaded (see Engine's strict readiness)."""
        if not self.versions:
            return self.state.expected
        return all(v.state.expected for v in self.versions.values())

    def with_states(self, versions: list[int], state: ModelState, reason: str = "") -> ModelView:
        """A copy in which `versions` have `state` and `reason` and no model."""
        updated = dict(self.versions)
        for number in versions:
            updated[number] = VersionView(number, state, reason)
        return replace(self, versions=updated)


@dataclass(frozen=True)
class Snapshot:
    """Every known model's view; replaced as a whole on each change."""

    models: Mapping[str, ModelView] = field(default_factory=dict)

    @functools.cached_property
    def as_expected(self) -> bool:
        """Every model as it should be; computed once per snapshot, read by readiness checks."""
        return all(view.as_expected for view in self.models.values())

    @functools.cached_property
    def serving_names(self) -> list[str]:
        """Models with at least one serving version, sorted."""
        return sorted(name for name, view in self.models.items() if view.latest_ready)

    def with_model(self, view: ModelView) -> Snapshot:
        return Snapshot({**self.models, view.name: view})

    def without(self, name: str) -> Snapshot:
        return Snapshot({k: v for k, v in self.models.items() if k != name})
