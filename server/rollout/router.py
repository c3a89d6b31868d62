"""Picks the version an unversioned request meets, following one model's RolloutPlan.

Explicitly versioned requests never reach a Router (the layer passes them through). The plan
is held as one immutable value: `update` and `switch` replace it in a single assignment, so a
request sees the old plan or the new one, never a mix.

A router is a small state machine: RUNNING until the candidate breaks a gate (ROLLED_BACK),
an operator promotes it (PROMOTED) or aborts it (ABORTED). A finished rollout keeps routing
unversioned requests to the version it settled on, so a rolled-back candidate that is the
latest version gets no traffic until a new plan starts.
"""

from __future__ import annotations

import enum
import hashlib
import random
import time
from collections.abc import Callable
from typing import Any

from naiad.engine.request import InferRequest
from naiad.rollout.health import Breach, CandidateHealth
from naiad.rollout.plan import RolloutMode, RolloutPlan, Side
from naiad.rollout.stats import ArmStats, ShadowStats

AB_BUCKETS = 10_000
"""A/B keys hash into this many buckets: percentages resolve to 0.01 points."""
MAX_EVENTS = 32


class Verdict(enum.Enum):
    RUNNING = "running"
    ROLLED_BACK = "rolled_back"
    """The candidate broke a gate; stable answers; the candidate stays loaded."""
    PROMOTED = "promoted"
    """The candidate answers every unversioned request."""
    ABORTED = "aborted"
    """Ended by an operator; stable answers."""


class Router:
    """Chooses stable or candidate for each unversioned request of one model.

    A canary sends exactly its share to the candidate (a running sum, so 2,000 requests at
    25 % send 500), or, with `rng`, draws each choice at random. A canary with steps raises its
    share by `step_percent` after every `step_every_requests` unversioned requests or
    `step_every_s` seconds (by `clock`, injectable) at the current share, up to 100 %.
    Once the candidate breaks one of the plan's gates the router is rolled back: every
    unversioned request meets the stable version until a new plan arrives (`update`).
    Not thread-safe by design: its callers run on the event loop.
    """

    _plan: RolloutPlan
    _percent: float

    def __init__(
        self,
        plan: RolloutPlan,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rng = rng
        self._clock = clock
        self.num_rollbacks = 0
        """Rollbacks since this router was made, over every plan it held."""
        self.events: list[tuple[float, str]] = []
        """(time.time(), what happened), oldest first, the last MAX_EVENTS."""
        self.on_change: Callable[[Router], None] | None = None
        """Called after each event (a step, a rollback, a verdict): the book persists then."""
        self._start(plan)

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
    def verdict(self) -> Verdict:
        return self._verdict

    @property
    def health(self) -> CandidateHealth:
        return self._health

    def update(self, plan: RolloutPlan) -> None:
        """Replaces the plan (ending a rollback); requests chosen from now on follow it."""
        self._start(plan)

    def record(self, plan: RolloutPlan, failed: bool, latency_ms: float) -> Breach | None:
        """One outcome of a request sent to `plan`'s candidate; rolls back and returns the
        breach when it breaks a gate. Outcomes of a plan since replaced are ignored."""
        if plan is not self._plan or self._verdict is not Verdict.RUNNING:
            return None
        return self._rolled_back(self._health.record(failed, latency_ms))

    def record_divergence(self, plan: RolloutPlan, value: float) -> Breach | None:
        """One shadow comparison of `plan`'s candidate; rolls back on a divergence breach."""
        if plan is not self._plan or self._verdict is not Verdict.RUNNING:
            return None
        return self._rolled_back(self._health.record_divergence(value))

    def promote(self) -> None:
        """Ends the rollout with every unversioned request on the candidate."""
        self._finish(Verdict.PROMOTED, f"promoted version {self._plan.candidate}")

    def abort(self) -> None:
        """Ends the rollout with every unversioned request back on stable."""
        self._finish(Verdict.ABORTED, f"aborted: back to version {self._plan.stable}")

    def switch(self) -> RolloutPlan:
        """blue-green: makes the other side live, atomically; returns the new plan."""
        plan = self._plan.switched()
        self._start(plan)
        return plan

    def settled_version(self) -> int | None:
        """The version a finished rollout routes to; None while it runs."""
        if self._verdict is Verdict.RUNNING:
            return None
        return self._plan.candidate if self._verdict is Verdict.PROMOTED else self._plan.stable

    def choose(self, request: InferRequest) -> int:
        """The version number `request` should meet."""
        plan = self._plan
        if self._verdict is not Verdict.RUNNING:
            return plan.candidate if self._verdict is Verdict.PROMOTED else plan.stable
        if plan.mode is RolloutMode.CANARY:
            to_candidate = self._draw(self._stepped_percent(plan))
        elif plan.mode is RolloutMode.AB:
            to_candidate = _ab_candidate(plan, request)
        elif plan.mode is RolloutMode.BLUE_GREEN:
            to_candidate = plan.live is Side.CANDIDATE
        else:  # shadow: the stable version answers
            to_candidate = False
        return plan.candidate if to_candidate else plan.stable

    def shadows(self) -> bool:
        """Whether this (stable-answered) request is copied to the candidate: exactly the
        plan's sample share, while the shadow runs."""
        plan = self._plan
        if plan.mode is not RolloutMode.SHADOW or self._verdict is not Verdict.RUNNING:
            return False
        self._sample_sum += plan.sample_percent
        if self._sample_sum >= 100.0:
            self._sample_sum -= 100.0
            return True
        return False

    def arm(self, version: int) -> ArmStats:
        found = self.arms.get(version)
        if found is None:
            found = self.arms[version] = ArmStats()
        return found

    def weights(self) -> dict[int, float]:
        """The share (0..1) of unversioned requests each version is meant to get now."""
        plan = self._plan
        settled = self.settled_version()
        if settled is not None:
            return {settled: 1.0}
        if plan.mode is RolloutMode.CANARY:
            share = self._percent / 100.0
        elif plan.mode is RolloutMode.AB:
            share = plan.candidate_percent / 100.0
        elif plan.mode is RolloutMode.BLUE_GREEN:
            share = 1.0 if plan.live is Side.CANDIDATE else 0.0
        else:
            share = 0.0
        return {plan.stable: 1.0 - share, plan.candidate: share}

    def state(self) -> dict[str, Any]:
        """What survives a restart (with the plan): verdict, reason, canary progress."""
        return {
            "verdict": self._verdict.value,
            "reason": self._reason,
            "candidate_percent": self._percent,
            "step_elapsed_s": self._clock() - self._step_start_s,
            "num_at_step": self._num_at_step,
            "num_rollbacks": self.num_rollbacks,
            "events": [list(e) for e in self.events],
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continues from `state()` of a router that ran this same plan."""
        self._verdict = Verdict(state.get("verdict", "running"))
        self._reason = str(state.get("reason", ""))
        self._percent = float(state.get("candidate_percent", self._plan.candidate_percent))
        self._step_start_s = self._clock() - float(state.get("step_elapsed_s", 0.0))
        self._num_at_step = int(state.get("num_at_step", 0))
        self.num_rollbacks = int(state.get("num_rollbacks", 0))
        self.events = [(float(t), str(what)) for t, what in state.get("events", [])]

    @property
    def reason(self) -> str:
        return self._reason

    def _start(self, plan: RolloutPlan) -> None:
        # health first: a request that sees the new plan must also see its fresh health
        self._health = CandidateHealth(plan.gates)
        self._rollback: Breach | None = None
        self._verdict = Verdict.RUNNING
        self._reason = ""
        self._percent = plan.candidate_percent
        self._num_at_step = 0
        self._step_start_s = self._clock()
        self._share_sum = 0.0
        self._sample_sum = 0.0
        self.arms: dict[int, ArmStats] = {plan.stable: ArmStats(), plan.candidate: ArmStats()}
        self.shadow = ShadowStats()
        self._plan = plan
        self._event(f"started {plan.mode.value}: version {plan.stable} -> {plan.candidate}")

    def _rolled_back(self, breach: Breach | None) -> Breach | None:
        if breach is not None:
            self._rollback = breach
            self.num_rollbacks += 1
            self._finish(Verdict.ROLLED_BACK, f"rolled back: {breach}")
        return breach

    def _finish(self, verdict: Verdict, reason: str) -> None:
        self._verdict = verdict
        self._reason = reason
        self._event(reason)

    def _event(self, what: str) -> None:
        self.events.append((time.time(), what))
        del self.events[:-MAX_EVENTS]
        if self.on_change is not None:
            self.on_change(self)

    def _draw(self, percent: float) -> bool:
        if self._rng is not None:
            return self._rng.random() * 100.0 < percent
        self._share_sum += percent
        if self._share_sum >= 100.0:
            self._share_sum -= 100.0
            return True
        return False

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
            self._event(f"canary stepped to {self._percent:g} %")
        return self._percent


def routed(request: InferRequest, version: str) -> InferRequest:
    """`request` sent to `version`: a new request (the caller's stays as it was sent), built
    directly, since dataclasses.replace costs several times as much on this per-request path."""
    return InferRequest(
        request.model_name,
        version,
        request.id,
        request.inputs,
        request.requested_outputs,
        request.parameters,
    )


def ab_bucket(key: str) -> int:
    """The key's bucket in 0..AB_BUCKETS-1; the same in every process and run."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % AB_BUCKETS


def _ab_candidate(plan: RolloutPlan, request: InferRequest) -> bool:
    value = request.parameters.get(plan.key)
    if value is None:
        return False  # no key, no arm: the stable version answers
    return ab_bucket(str(value)) < plan.candidate_percent * (AB_BUCKETS / 100.0)
