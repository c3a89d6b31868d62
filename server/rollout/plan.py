"""A model's rollout plan: which version is stable, which is the candidate, and how unversioned
requests are split between them. Typed and validated once, when it is read; never mutated
(a change is a new plan)."""

from __future__ import annotations

import enum
import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from naiad.errors import InvalidArgument

PLAN_FILENAME = "rollout.toml"
"""Where a model declares its plan: next to its config.pbtxt."""


class RolloutMode(enum.Enum):
    CANARY = "canary"
    """A share (`candidate_percent`) of unversioned requests, drawn at random, meets the
    candidate."""
    AB = "ab"
    """A request parameter (`key`), hashed, picks the arm: the same key always meets the same
    version; `candidate_percent` of the key space goes to the candidate."""
    BLUE_GREEN = "blue-green"
    """Every unversioned request meets the `live` side; switching is one atomic step."""
    SHADOW = "shadow"
    """The stable version answers every unversioned request (the copy to the candidate is
    not forked yet)."""


class Side(enum.Enum):
    STABLE = "stable"
    CANDIDATE = "candidate"


@dataclass(frozen=True)
class HealthGates:
    """Thresholds past which a candidate is unhealthy; None: not checked."""

    max_error_rate: float | None = None
    """Failed share of the candidate's requests, 0..1."""
    max_p99_ms: float | None = None
    """The candidate's 99th percentile latency, milliseconds."""
    max_divergence: float | None = None
    """Shadow only: mean absolute difference of outputs against the stable version."""

    def __post_init__(self) -> None:
        if self.max_error_rate is not None and not 0.0 <= self.max_error_rate <= 1.0:
            raise InvalidArgument(f"max_error_rate must be within 0..1, not {self.max_error_rate}")
        for name in ("max_p99_ms", "max_divergence"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise InvalidArgument(f"{name} must be a finite number >= 0, not {value}")


@dataclass(frozen=True)
class RolloutPlan:
    """One model's rollout between two of its versions."""

    stable: int
    """The version that serves unless the plan sends a request elsewhere."""
    candidate: int
    """The version being rolled out."""
    mode: RolloutMode
    candidate_percent: float = 0.0
    """canary: share of unversioned requests; ab: share of keys; 0..100."""
    key: str = ""
    """ab: the request parameter whose value picks the arm (e.g. "user_id")."""
    step_percent: float = 0.0
    """canary: added to the candidate's share at each step, up to 100; 0: the share stays."""
    step_every_requests: int = 0
    """canary: a step after this many unversioned requests at the current share; 0: never."""
    step_every_s: float = 0.0
    """canary: a step after this many seconds at the current share; 0: never."""
    live: Side = Side.STABLE
    """blue-green: the side every unversioned request meets."""
    gates: HealthGates = field(default_factory=HealthGates)

    def __post_init__(self) -> None:
        for name in ("stable", "candidate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgument(f"{name} must be a version number >= 1, not {value!r}")
        if self.stable == self.candidate:
            raise InvalidArgument(f"stable and candidate are the same version ({self.stable})")
        percent = self.candidate_percent
        if not (math.isfinite(percent) and 0.0 <= percent <= 100.0):
            raise InvalidArgument(f"candidate_percent must be within 0..100, not {percent}")
        if not (math.isfinite(self.step_percent) and 0.0 <= self.step_percent <= 100.0):
            raise InvalidArgument(f"step_percent must be within 0..100, not {self.step_percent}")
        if self.step_every_requests < 0 or not (
            math.isfinite(self.step_every_s) and self.step_every_s >= 0
        ):
            raise InvalidArgument("step_every_requests and step_every_s must be >= 0")
        if self.step_percent > 0 and not (self.step_every_requests or self.step_every_s):
            raise InvalidArgument("step_percent needs step_every_requests or step_every_s")
        if self.step_percent > 0 and self.mode is not RolloutMode.CANARY:
            raise InvalidArgument("only a canary steps its share (step_percent)")
        if self.mode is RolloutMode.AB and not self.key:
            raise InvalidArgument("an A/B rollout needs the request parameter 'key' to split by")

    def switched(self) -> RolloutPlan:
        """blue-green: the same plan with the other side live."""
        other = Side.CANDIDATE if self.live is Side.STABLE else Side.STABLE
        return replace(self, live=other)


def plan_from_mapping(values: dict[str, Any]) -> RolloutPlan:
    """A plan from parsed TOML (or JSON): raises InvalidArgument naming what is wrong."""
    known = {
        "stable", "candidate", "mode", "candidate_percent", "key", "live", "gates",
        "step_percent", "step_every_requests", "step_every_s",
    }  # fmt: skip
    unknown = sorted(set(values) - known)
    if unknown:
        raise InvalidArgument(f"unknown rollout setting(s): {', '.join(unknown)}")
    for name in ("stable", "candidate", "mode"):
        if name not in values:
            raise InvalidArgument(f"a rollout plan needs '{name}'")
    gates = values.get("gates", {})
    if not isinstance(gates, dict):
        raise InvalidArgument("'gates' must be a table")
    try:
        return RolloutPlan(
            stable=values["stable"],
            candidate=values["candidate"],
            mode=RolloutMode(values["mode"]),
            candidate_percent=float(values.get("candidate_percent", 0.0)),
            key=str(values.get("key", "")),
            step_percent=float(values.get("step_percent", 0.0)),
            step_every_requests=_count("step_every_requests", values.get("step_every_requests", 0)),
            step_every_s=float(values.get("step_every_s", 0.0)),
            live=Side(values.get("live", "stable")),
            gates=HealthGates(**{k: _number(k, v) for k, v in gates.items()}),
        )
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"bad rollout plan: {exc}") from None


def read_plan(model_dir: Path) -> RolloutPlan | None:
    """The plan in `model_dir`/rollout.toml, or None when there is none.

    Raises InvalidArgument for a file that is not valid TOML or not a valid plan.
    """
    path = model_dir / PLAN_FILENAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"{path}: cannot read: {exc}") from None
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidArgument(f"{path}: not valid TOML: {exc}") from None
    try:
        return plan_from_mapping(values)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{path}: {exc.message}") from None


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"gate '{name}' must be a number, not {value!r}")
    return float(value)


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"'{name}' must be a whole number, not {value!r}")
    return value
