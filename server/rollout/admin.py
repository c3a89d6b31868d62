"""The rollout's control verbs (start, status, promote, abort, clear) over plain dicts: what
the HTTP admin endpoints and `naiad rollout` speak. No transport types here."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from naiad.errors import InvalidArgument
from naiad.rollout.book import RolloutBook
from naiad.rollout.plan import RolloutMode, Side, plan_from_mapping, plan_to_mapping
from naiad.rollout.router import Router

DEFAULT_MAX_ERROR_RATE = 0.05
"""The error-rate gate of a rollout started through the API without one (null: none)."""
ReadyVersions = Callable[[str], list[int]]
"""A model's serving versions, ascending (the repository's ready_versions)."""


class RolloutAdmin:
    """Starts and reads rollouts; `ready_versions` checks that both versions serve."""

    def __init__(self, book: RolloutBook, ready_versions: ReadyVersions) -> None:
        self._book = book
        self._ready_versions = ready_versions

    def start(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Starts a rollout of `name` from a plan mapping (see plan.plan_from_mapping); `to`
        names the candidate, `stable` defaults to what serves unversioned requests now, and
        the gates to DEFAULT_MAX_ERROR_RATE.
        A blue-green rollout switches at once. Raises InvalidArgument for a bad plan or a
        version that does not serve, NotFound for an unknown model."""
        values = dict(body)
        if "to" in values:
            values.setdefault("candidate", values.pop("to"))
        if "candidate" not in values:
            raise InvalidArgument("a rollout needs 'to': the candidate version")
        for role in ("stable", "candidate"):
            if isinstance(values.get(role), str) and values[role].isdigit():
                values[role] = int(values[role])  # a version as the v2 API spells it
        ready = self._ready_versions(name)
        if "stable" not in values:
            values["stable"] = self._current(name, ready, values["candidate"])
        gates = values.setdefault("gates", {})
        if isinstance(gates, dict):
            # Started by hand, a rollout is always watched for errors unless told otherwise.
            gates.setdefault("max_error_rate", DEFAULT_MAX_ERROR_RATE)
        if values.get("mode") == RolloutMode.BLUE_GREEN.value:
            values.setdefault("live", Side.CANDIDATE.value)
        plan = plan_from_mapping(values)
        for role, version in (("stable", plan.stable), ("candidate", plan.candidate)):
            if version not in ready:
                raise InvalidArgument(
                    f"model '{name}': the {role} version {version} does not serve (serving: "
                    f"{', '.join(map(str, ready)) or 'none'}); a version_policy that keeps both "
                    "loaded (all, specific, or latest with num_versions >= 2) is needed"
                )
        return describe(name, self._book.start(name, plan), self._book.source(name))

    def status(self, name: str) -> dict[str, Any]:
        router = self._book.router(name)
        if router is None:
            return {"model": name, "mode": None, "verdict": None}
        return describe(name, router, self._book.source(name))

    def statuses(self) -> list[dict[str, Any]]:
        return [self.status(name) for name in self._book.names()]

    def promote(self, name: str) -> dict[str, Any]:
        return describe(name, self._book.promote(name), self._book.source(name))

    def abort(self, name: str) -> dict[str, Any]:
        return describe(name, self._book.abort(name), self._book.source(name))

    def clear(self, name: str) -> dict[str, Any]:
        self._book.clear(name)
        return {"model": name, "mode": None, "verdict": None}

    def _current(self, name: str, ready: list[int], candidate: Any) -> int:
        router = self._book.router(name)
        settled = router.settled_version() if router is not None else None
        if settled is not None and settled in ready:
            return settled
        others = [v for v in ready if str(v) != str(candidate)]
        if not others:
            raise InvalidArgument(
                f"model '{name}': no version other than {candidate} serves to roll out from"
            )
        return others[-1]


def describe(name: str, router: Router, source: str) -> dict[str, Any]:
    """`naiad rollout status`: mode, weights, gates, counters and verdict, as JSON values."""
    plan = router.plan
    breach = router.rollback
    found: dict[str, Any] = {
        "model": name,
        "mode": plan.mode.value,
        "source": source,
        "stable": plan.stable,
        "candidate": plan.candidate,
        "verdict": router.verdict.value,
        "reason": router.reason,
        "weights": {str(v): round(w, 6) for v, w in router.weights().items()},
        "candidate_percent": router.candidate_percent,
        "gates": plan_to_mapping(plan)["gates"],
        "breach": None
        if breach is None
        else {
            "gate": breach.gate,
            "observed": _finite(breach.observed),
            "limit": breach.limit,
            "requests": breach.num_requests,
        },
        "arms": {str(v): arm.summary() for v, arm in sorted(router.arms.items())},
        "rollbacks": router.num_rollbacks,
        "plan": plan_to_mapping(plan),
        "events": [{"at": at, "what": what} for at, what in router.events],
    }
    if plan.mode is RolloutMode.SHADOW:
        found["shadow"] = {k: _finite(v) for k, v in router.shadow.summary().items()}
    return found


def _finite(value: float) -> float | str:
    # JSON has no infinity: an incomparable answer shows as the string "inf".
    return value if math.isfinite(value) else str(value)
