"""The repository's vocabulary: what the engine hands it, states, index entries, control modes."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from naiad.config.settings import ModelSettings
from naiad_protocol.model_config_pb2 import ModelConfig


class ServedModel(Protocol):
    """One loaded model version as the engine runs it."""

    @property
    def config(self) -> ModelConfig:
        """The effective config (e.g. instance groups as they actually run), for ModelConfig.

        Read once, right after the factory returns; treated as read-only afterwards.
        """
        ...

    def stop(self) -> None:
        """Blocks until requests already accepted have finished, then frees the resources.

        Called at most once, after the repository stopped routing new requests to this version.
        A request that resolved this version just before may still arrive afterwards; the
        engine sends it to the version that replaced this one, or answers Unavailable when
        none did (the engine's own ServedModel says so through its `stopping` flag; the
        repository never reads it, so it is not part of this protocol).
        """
        ...


ModelFactory = Callable[[ModelSettings, ModelConfig], ServedModel]
"""Starts one model version (sessions, batcher, warm-up); raises to fail the load."""


class ModelState(enum.Enum):
    """A version's state. `wire` is how RepositoryIndex spells it (Triton's four states)."""

    READY = "READY"
    UNAVAILABLE = "UNAVAILABLE"
    """Failed to load (the reason says why), or named by the version policy but missing."""
    LOADING = "LOADING"
    UNLOADING = "UNLOADING"
    UNLOADED = "UNLOADED"
    """Stopped on request; reported as UNAVAILABLE with reason "unloaded", as Triton does."""

    @property
    def wire(self) -> str:
        return "UNAVAILABLE" if self is ModelState.UNLOADED else self.value

    @property
    def expected(self) -> bool:
        """Whether a version in this state leaves a strictly ready server ready."""
        return self in (ModelState.READY, ModelState.UNLOADING, ModelState.UNLOADED)


WIRE_STATES = ("READY", "UNAVAILABLE", "LOADING", "UNLOADING")


class ControlMode(enum.Enum):
    """Triton's --model-control-mode."""

    NONE = "none"
    """Load every model at start; load and unload requests are refused."""
    EXPLICIT = "explicit"
    """Load only the startup models; load and unload on request."""
    POLL = "poll"
    """Load every model at start; follow changes in the repository; requests refused."""


@dataclass(frozen=True)
class IndexEntry:
    """One RepositoryIndex row. A model never loaded has version "" and state None."""

    name: str
    version: str
    state: ModelState | None
    reason: str = ""
