"""The rollout admin verbs, asked of the engine process: what a front end's HTTP admin routes
(transport/http/rollout_routes.py) call when the rollouts live in another process."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from naiad.frontends.control import ControlClient

VERBS = ("start", "status", "statuses", "promote", "abort", "clear")
"""RolloutAdmin's methods; every answer is plain JSON-ready data."""


class RemoteRolloutAdmin:
    """RolloutAdmin's surface over the control socket; each call blocks for one round trip
    (admin traffic, not the request path)."""

    def __init__(self, control: ControlClient) -> None:
        self._control = control

    def start(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self._control.call("rollout", "start", (name, dict(body)))
        return answer

    def status(self, name: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._control.call("rollout", "status", (name,))
        return answer

    def statuses(self) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = self._control.call("rollout", "statuses", ())
        return answer

    def promote(self, name: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._control.call("rollout", "promote", (name,))
        return answer

    def abort(self, name: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._control.call("rollout", "abort", (name,))
        return answer

    def clear(self, name: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._control.call("rollout", "clear", (name,))
        return answer
