"""Shadow copies: the candidate answers a copy of a stable-answered request, off the caller's
path, and the two answers are compared.

Copies are submitted on the next turn of the event loop, all of that turn's together, after
the callers' own requests are queued (so a cheap model's batch runs before the copies'),
through the engine below the rollout with its own context, and a copy's future is never the
caller's: nothing the candidate does (refuse, fail, hang, answer NaN) reaches the caller. At
most `max_in_flight` copies run at once; past that, requests are not copied (counted as
skipped), so a slow candidate cannot pile up memory. No readiness lookup is made per copy:
a candidate that does not serve refuses it, and such a copy counts as skipped, not failed.

Answered pairs wait up to `compare_delay_s` (or until `max_pending_pairs` wait) and are then
compared together (comparison.py), so the comparisons cost a few array operations per batch
of pairs rather than a dozen per request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from naiad.engine.context import CallContext
from naiad.engine.protocol import InferenceEngine
from naiad.engine.request import InferRequest, InferResponse
from naiad.rollout.comparison import compare_many
from naiad.rollout.divergence import non_finite
from naiad.rollout.health import Breach, is_candidate_fault
from naiad.rollout.plan import RolloutPlan
from naiad.rollout.router import Router, routed

log = logging.getLogger("naiad.rollout")

SHADOW_CONTEXT = CallContext("shadow")
MAX_SHADOWS_IN_FLIGHT = 256
COMPARE_DELAY_S = 0.005
MAX_PENDING_PAIRS = 128

Fork = tuple[InferRequest, "asyncio.Future[InferResponse]", Router, RolloutPlan]
Answered = tuple[InferResponse, InferResponse, Router, RolloutPlan, str]
"""(stable's answer, the candidate's, router, plan, model name), waiting to be compared."""


class ShadowRunner:
    """Forks copies for one engine stack; `on_breach` hears of a gate the candidate broke."""

    def __init__(
        self,
        inner: InferenceEngine,
        clock: Callable[[], float],
        on_breach: Callable[[str, RolloutPlan, Breach], None],
        max_in_flight: int = MAX_SHADOWS_IN_FLIGHT,
        compare_delay_s: float = COMPARE_DELAY_S,
        max_pending_pairs: int = MAX_PENDING_PAIRS,
    ) -> None:
        self._inner = inner
        self._clock = clock
        self._on_breach = on_breach
        self._max_in_flight = max_in_flight
        self._compare_delay_s = compare_delay_s
        self._max_pending_pairs = max_pending_pairs
        self._forks: list[Fork] = []
        self._answered: list[Answered] = []
        self._compare_timer: asyncio.TimerHandle | None = None
        self.num_in_flight = 0

    def fork(
        self, request: InferRequest, answer: asyncio.Future[InferResponse], router: Router
    ) -> None:
        """Copies `request` (already sent to stable, answered by `answer`) to the candidate."""
        plan = router.plan
        if self.num_in_flight >= self._max_in_flight:
            router.shadow.num_skipped += 1
            return
        self.num_in_flight += 1
        if not self._forks:
            asyncio.get_running_loop().call_soon(self._submit_forks)
        self._forks.append((routed(request, str(plan.candidate)), answer, router, plan))

    def compare_now(self) -> None:
        """Compares every answered pair waiting (the timer does it otherwise)."""
        if self._compare_timer is not None:
            self._compare_timer.cancel()
            self._compare_timer = None
        answered, self._answered = self._answered, []
        if not answered:
            return
        try:
            divergences = compare_many([(stable, candidate) for stable, candidate, *_ in answered])
        except Exception:  # a comparison bug must never surface anywhere else
            log.exception("shadow comparison failed")
            return
        for (_, _, router, plan, name), divergence in zip(answered, divergences, strict=True):
            router.shadow.record(divergence)
            breach = router.record_divergence(plan, divergence.metric(plan.gates.divergence_metric))
            if breach is not None:
                self._on_breach(name, plan, breach)

    def _submit_forks(self) -> None:
        forks, self._forks = self._forks, []
        for copy, answer, router, plan in forks:
            self._submit(copy, answer, router, plan)

    def _submit(
        self,
        copy: InferRequest,
        answer: asyncio.Future[InferResponse],
        router: Router,
        plan: RolloutPlan,
    ) -> None:
        stats = router.shadow
        start_s = self._clock()
        try:
            future = self._inner.submit(copy, SHADOW_CONTEXT)
        except Exception as exc:  # refused at once: the candidate's problem, not the caller's
            self.num_in_flight -= 1
            if not self._inner.model_ready(copy.model_name, copy.model_version, SHADOW_CONTEXT):
                stats.num_skipped += 1  # it does not serve (yet, or any more): nothing to judge
                return
            stats.num_failed += 1
            if is_candidate_fault(exc):
                self._record(copy.model_name, router, plan, True, start_s)
            return
        stats.num_forked += 1

        def candidate_done(done: asyncio.Future[InferResponse]) -> None:
            self.num_in_flight -= 1
            try:
                self._judge(copy.model_name, done, answer, router, plan, start_s)
            except Exception:  # a comparison bug must never surface anywhere else
                log.exception("shadow comparison of model '%s' failed", copy.model_name)

        future.add_done_callback(candidate_done)

    def _judge(
        self,
        name: str,
        done: asyncio.Future[InferResponse],
        answer: asyncio.Future[InferResponse],
        router: Router,
        plan: RolloutPlan,
        start_s: float,
    ) -> None:
        stats = router.shadow
        if done.cancelled():
            return
        error = done.exception()
        if error is not None:
            stats.num_failed += 1
            if is_candidate_fault(error):
                self._record(name, router, plan, True, start_s)
            return
        response = done.result()
        if plan.gates.reject_nan and non_finite(response):
            stats.num_failed += 1
            self._record(name, router, plan, True, start_s)
            return
        stats.latency_s.observe(self._clock() - start_s)
        self._record(name, router, plan, False, start_s)

        def stable_done(stable: asyncio.Future[InferResponse]) -> None:
            if stable.cancelled() or stable.exception() is not None:
                return  # nothing to compare with
            self._await_comparison((stable.result(), response, router, plan, name))

        if answer.done():
            stable_done(answer)
        else:
            answer.add_done_callback(stable_done)

    def _await_comparison(self, answered: Answered) -> None:
        self._answered.append(answered)
        if len(self._answered) >= self._max_pending_pairs:
            self.compare_now()
        elif self._compare_timer is None:
            loop = asyncio.get_running_loop()
            self._compare_timer = loop.call_later(self._compare_delay_s, self.compare_now)

    def _record(
        self, name: str, router: Router, plan: RolloutPlan, failed: bool, start_s: float
    ) -> None:
        breach = router.record(plan, failed, (self._clock() - start_s) * 1000.0)
        if breach is not None:
            self._on_breach(name, plan, breach)
