"""Picks the version an unversioned request meets, following one model's RolloutPlan.

Explicitly versioned requests never reach a Router (the layer passes them through). The plan
is held as one immutable value: `update` and `switch` replace it in a single assignment, so a
request sees the old plan or the new one, never a mix.
"""

from __future__ import annotations

import hashlib
import random

from naiad.engine.request import InferRequest
from naiad.rollout.plan import RolloutMode, RolloutPlan, Side

AB_BUCKETS = 10_000
"""A/B keys hash into this many buckets: percentages resolve to 0.01 points."""


class Router:
    """Chooses stable or candidate for each unversioned request of one model.

    `rng` draws canary choices; inject a seeded random.Random for deterministic tests.
    """

    def __init__(self, plan: RolloutPlan, rng: random.Random | None = None) -> None:
        self._plan = plan
        self._rng = rng or random.Random()

    @property
    def plan(self) -> RolloutPlan:
        return self._plan

    def update(self, plan: RolloutPlan) -> None:
        """Replaces the plan; requests chosen from now on follow the new one."""
        self._plan = plan

    def switch(self) -> RolloutPlan:
        """blue-green: makes the other side live, atomically; returns the new plan."""
        plan = self._plan.switched()
        self._plan = plan
        return plan

    def choose(self, request: InferRequest) -> int:
        """The version number `request` should meet."""
        plan = self._plan
        if plan.mode is RolloutMode.CANARY:
            to_candidate = self._rng.random() * 100.0 < plan.candidate_percent
        elif plan.mode is RolloutMode.AB:
            to_candidate = _ab_candidate(plan, request)
        elif plan.mode is RolloutMode.BLUE_GREEN:
            to_candidate = plan.live is Side.CANDIDATE
        else:  # shadow: the stable version answers
            to_candidate = False
        return plan.candidate if to_candidate else plan.stable


def ab_bucket(key: str) -> int:
    """The key's bucket in 0..AB_BUCKETS-1; the same in every process and run."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % AB_BUCKETS


def _ab_candidate(plan: RolloutPlan, request: InferRequest) -> bool:
    value = request.parameters.get(plan.key)
    if value is None:
        return False  # no key, no arm: the stable version answers
    return ab_bucket(str(value)) < plan.candidate_percent * (AB_BUCKETS / 100.0)
