"""The rollouts' running state on disk: one small JSON file, rewritten whole on each change.

What it keeps per model: where the plan came from (rollout.toml or the admin API), the plan,
the last plan read from rollout.toml, and the router's state (verdict, reason, canary progress,
events). A server that restarts continues each rollout where it stood, instead of sending a
rolled-back candidate traffic again or restarting a canary at its first step.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from naiad.errors import InvalidArgument
from naiad.rollout.plan import RolloutPlan, plan_from_mapping, plan_to_mapping

log = logging.getLogger("naiad.rollout")

STATE_FILENAME = "rollout-state.json"
DEFAULT_STATE_DIRNAME = ".naiad-rollout"
"""Under the first repository root; hidden, so the repository never lists it as a model."""
_FORMAT = 1


@dataclass(frozen=True)
class SavedRollout:
    """One model's entry in the state file."""

    source: str
    """"file" (rollout.toml) or "api" (naiad rollout start / the admin endpoint)."""
    plan: RolloutPlan | None
    """The plan the router ran; None when only a plan file's last reading is kept."""
    state: dict[str, Any]
    """Router.state() at the last save."""
    file_plan: RolloutPlan | None = None
    """The plan rollout.toml held at its last reading (unchanged file: nothing to restart)."""


class StateStore:
    """Reads and atomically rewrites `directory`/rollout-state.json; a failure to write is
    logged once and the server goes on (a read-only repository still serves)."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / STATE_FILENAME
        self._lock = threading.Lock()
        self._warned = False

    def load(self) -> dict[str, SavedRollout]:
        """Every saved rollout by model; an unreadable or corrupt file is logged and ignored."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring rollout state %s: %s", self.path, exc)
            return {}
        found: dict[str, SavedRollout] = {}
        models = data.get("models", {}) if isinstance(data, dict) else {}
        for name, entry in models.items() if isinstance(models, dict) else ():
            try:
                found[name] = SavedRollout(
                    source=str(entry["source"]),
                    plan=_plan(entry.get("plan")),
                    state=dict(entry.get("state") or {}),
                    file_plan=_plan(entry.get("file_plan")),
                )
            except (InvalidArgument, KeyError, TypeError, ValueError) as exc:
                log.warning("ignoring the saved rollout of model '%s': %s", name, exc)
        return found

    def save(self, rollouts: dict[str, SavedRollout]) -> None:
        models = {
            name: {
                "source": saved.source,
                "plan": plan_to_mapping(saved.plan) if saved.plan is not None else None,
                "state": saved.state,
                "file_plan": plan_to_mapping(saved.file_plan)
                if saved.file_plan is not None
                else None,
            }
            for name, saved in sorted(rollouts.items())
        }
        text = json.dumps({"format": _FORMAT, "models": models}, indent=1)
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # Written beside, then renamed over: a crash mid-write leaves the old file.
                fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=".rollout-state.")
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(text)
                os.replace(temp, self.path)
            except OSError as exc:
                if not self._warned:
                    log.warning("cannot save rollout state to %s: %s", self.path, exc)
                    self._warned = True


def _plan(values: Any) -> RolloutPlan | None:
    if values is None:
        return None
    if not isinstance(values, dict):
        raise ValueError("a plan must be an object")
    return plan_from_mapping(values)
