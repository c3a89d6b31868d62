"""A target's rollout variant: the scenario's model served as version 1 (stable) and an
identical version 2 (candidate), with the target's rollout plan in rollout.toml, so that what
a run measures is the rollout's own cost, never a difference between two models."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from bench.scenario import ScenarioError

STABLE, CANDIDATE = 1, 2
SERVE_BOTH = {"all": {}}
"""The version_policy a rollout variant's config gets: both versions serve."""


def plan_text(plan: dict[str, Any]) -> str:
    """rollout.toml for `plan` (rollout settings and an optional `gates` table), between
    versions 1 and 2."""
    if "stable" in plan or "candidate" in plan:
        raise ScenarioError("a target's rollout names no versions: stable is 1, candidate 2")
    lines = [f"stable = {STABLE}", f"candidate = {CANDIDATE}"]
    gates = plan.get("gates", {})
    if not isinstance(gates, dict):
        raise ScenarioError("a target's rollout.gates must be a table")
    lines += [f"{key} = {_value(value)}" for key, value in plan.items() if key != "gates"]
    if gates:
        lines.append("[gates]")
        lines += [f"{key} = {_value(value)}" for key, value in gates.items()]
    return "\n".join(lines) + "\n"


def add_candidate(model_dir: Path, stable_onnx: Path, plan: dict[str, Any]) -> None:
    """Adds version 2 (the same file as version 1) and rollout.toml to `model_dir`."""
    candidate_dir = model_dir / str(CANDIDATE)
    candidate_dir.mkdir()
    try:
        os.link(stable_onnx, candidate_dir / "model.onnx")
    except OSError:
        shutil.copyfile(stable_onnx, candidate_dir / "model.onnx")
    (model_dir / "rollout.toml").write_text(plan_text(plan))


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise ScenarioError(f"a rollout setting must be a string, number or boolean, not {value!r}")
