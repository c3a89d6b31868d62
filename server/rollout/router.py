"""Picks the version an unversioned request meets, following one model's RolloutPlan.

Explicitly versioned requests never reach a Router (the layer passes them through). The plan
is held as one immutable value: `update` and `switch` replace it in a single assignment, so a
request sees the old plan or the new one, never a mix.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable

from naiad.engine.request import InferRequest
from naiad.rollout.health import Breach, CandidateHealth
from naiad.rollout.plan import RolloutMode, RolloutPlan, Side

AB_BUCKETS = 10_000
"""A/B keys hash into this many buckets: percentages resolve to 0.01 points."""


class Router:
    """Chooses stable or candidate for each unversioned request of one model.

    `rng` draws canary choices; inject a seeded random.Random for deterministic tests.
    A canary with steps raises its share by `step_percent` after every `step_every_requests`
    unversioned requests or `step_every_s` seconds (by `clock`, injectable) at the current
    share, up to 100 %.
    Once the candidate breaks one of the plan's gates the router is rolled back: every
    unversioned request meets the stable version until a new plan arrives (`update`).
    """

    def __init__(
        self,
        plan: RolloutPlan,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rng = rng or random.Random()
        self._clock = clock
        self._percent = plan.candidate_percent
        self._num_at_step = 0
        self._step_start_s = clock()
        self.num_rollbacks = 0
        """Rollbacks since this router was made, over every plan it held."""
        self._health = CandidateHealth(plan.gates)
        self._rollback: Breach | None = None
        self._plan = plan

    @property
    def plan(self) -> RolloutPlan:
        return self._plan

    @property
    def candidate_percent(self) -> float:
        """The canary's share now: the plan's, raised by the steps taken so far."""
        return self._percent

    @property
    def rollback(self) -> Breach | None:
        """Why the current plan was rolled back; None while it runs."""
        return self._rollback

    @property
    def health(self) -> CandidateHealth:
        return self._health

    def update(self, plan: RolloutPlan) -> None:
        """Replaces the plan (ending a rollback); requests chosen from now on follow it."""
        self._start(plan)

    def record(self, plan: RolloutPlan, failed: bool, latency_ms: float) -> Breach | None:
        """One outcome of a request sent to `plan`'s candidate; rolls back and returns the
        breach when it breaks a gate. Outcomes of a plan since replaced are ignored."""
        if plan is not self._plan:
            return None
        breach = self._health.record(failed, latency_ms)
        if breach is not None:
            self._rollback = breach
            self.num_rollbacks += 1
        return breach

    def _start(self, plan: RolloutPlan) -> None:
        # health first: a request that sees the new plan must also see its fresh health
        self._health = CandidateHealth(plan.gates)
        self._rollback = None
        self._percent = plan.candidate_percent
        self._num_at_step = 0
        self._step_start_s = self._clock()
        self._plan = plan

    def switch(self) -> RolloutPlan:
        """blue-green: makes the other side live, atomically; returns the new plan."""
        plan = self._plan.switched()
        self._start(plan)
        return plan

    def choose(self, request: InferRequest) -> int:
        """The version number `request` should meet."""
        plan = self._plan
        if self._rollback is not None:
            return plan.stable
        if plan.mode is RolloutMode.CANARY:
            to_candidate = self._rng.random() * 100.0 < self._stepped_percent(plan)
        elif plan.mode is RolloutMode.AB:
            to_candidate = _ab_candidate(plan, request)
        elif plan.mode is RolloutMode.BLUE_GREEN:
            to_candidate = plan.live is Side.CANDIDATE
        else:  # shadow: the stable version answers
            to_candidate = False
        return plan.candidate if to_candidate else plan.stable

    def _stepped_percent(self, plan: RolloutPlan) -> float:
        if plan.step_percent <= 0 or self._percent >= 100.0:
            return self._percent
        self._num_at_step += 1
        by_count = 0 < plan.step_every_requests < self._num_at_step
        by_time = plan.step_every_s > 0 and (
            self._clock() - self._step_start_s >= plan.step_every_s
        )
        if by_count or by_time:
            self._percent = min(100.0, self._percent + plan.step_percent)
            self._num_at_step = 1
            self._step_start_s = self._clock()
        return self._percent


def ab_bucket(key: str) -> int:
    """The key's bucket in 0..AB_BUCKETS-1; the same in every process and run."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % AB_BUCKETS


def _ab_candidate(plan: RolloutPlan, request: InferRequest) -> bool:
    value = request.parameters.get(plan.key)
    if value is None:
        return False  # no key, no arm: the stable version answers
    return ab_bucket(str(value)) < plan.candidate_percent * (AB_BUCKETS / 100.0)
