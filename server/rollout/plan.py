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


DIVERGENCE_METRICS = ("mean_abs", "max_abs", "argmax")


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
    """Shadow only: the mean of `divergence_metric` over the window of compared requests."""
    divergence_metric: str = "mean_abs"
    """One of DIVERGENCE_METRICS: per request, the mean or the largest absolute difference
    over every output element, or `argmax`: the share of output rows whose argmax differs."""
    reject_nan: bool = True
    """A candidate answer holding NaN or infinity counts as a failure (the caller still gets
    it: the version answered, and answered wrong)."""
    min_requests: int = 20
    """Outcomes needed before a gate is judged: one early failure is not a 100 % error rate.
    A candidate that fails every request is rolled back after this many caller failures."""
    window: int = 200
    """The most recent outcomes the gates look at."""

    def __post_init__(self) -> None:
        if self.max_error_rate is not None and not 0.0 <= self.max_error_rate <= 1.0:
            raise InvalidArgument(f"max_error_rate must be within 0..1, not {self.max_error_rate}")
        if self.divergence_metric not in DIVERGENCE_METRICS:
            names = ", ".join(DIVERGENCE_METRICS)
            raise InvalidArgument(
                f"divergence_metric must be one of {names}, not {self.divergence_metric!r}"
            )
        for name in ("min_requests", "window"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgument(f"{name} must be a whole number >= 1, not {value!r}")
        if self.min_requests > self.window:
            raise InvalidArgument("min_requests must not exceed window")
        if not isinstance(self.reject_nan, bool):
            raise InvalidArgument(f"reject_nan must be true or false, not {self.reject_nan!r}")
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
    sample_percent: float = 100.0
    """shadow: the share of unversioned requests copied to the candidate, 0..100."""

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
        if not (math.isfinite(self.sample_percent) and 0.0 <= self.sample_percent <= 100.0):
            raise InvalidArgument(
                f"sample_percent must be within 0..100, not {self.sample_percent}"
            )
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
        "step_percent", "step_every_requests", "step_every_s", "sample_percent",
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
            candidate_percent=_float("candidate_percent", values.get("candidate_percent", 0.0)),
            key=str(values.get("key", "")),
            step_percent=_float("step_percent", values.get("step_percent", 0.0)),
            step_every_requests=_count("step_every_requests", values.get("step_every_requests", 0)),
            step_every_s=_float("step_every_s", values.get("step_every_s", 0.0)),
            live=Side(values.get("live", "stable")),
            gates=_gates(gates),
            sample_percent=_float("sample_percent", values.get("sample_percent", 100.0)),
        )
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"bad rollout plan: {exc}") from None


def plan_to_mapping(plan: RolloutPlan) -> dict[str, Any]:
    """The plan as plan_from_mapping reads it (JSON- and TOML-ready); gates left at None are
    left out."""
    values: dict[str, Any] = {
        "stable": plan.stable,
        "candidate": plan.candidate,
        "mode": plan.mode.value,
        "candidate_percent": plan.candidate_percent,
        "key": plan.key,
        "step_percent": plan.step_percent,
        "step_every_requests": plan.step_every_requests,
        "step_every_s": plan.step_every_s,
        "live": plan.live.value,
        "sample_percent": plan.sample_percent,
    }
    values["gates"] = {k: v for k, v in vars(plan.gates).items() if v is not None}
    return values


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


def _gates(values: dict[str, Any]) -> HealthGates:
    known = set(HealthGates.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise InvalidArgument(f"unknown gate(s): {', '.join(unknown)}")
    found: dict[str, Any] = {}
    for name, value in values.items():
        if name in ("divergence_metric", "reject_nan"):
            found[name] = value
        elif value is None:
            found[name] = None  # a threshold switched off (JSON null)
        elif name in ("min_requests", "window"):
            found[name] = _count(name, value)
        else:
            found[name] = _number(name, value)
    return HealthGates(**found)


def _float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"'{name}' must be a number, not {value!r}")
    return float(value)


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"gate '{name}' must be a number, not {value!r}")
    return float(value)


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"'{name}' must be a whole number, not {value!r}")
    return value
