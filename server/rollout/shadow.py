"""Shadow copies: the candidate answers a copy of a stable-answered request, off the caller's
path, and the two answers are compared.

The copy is submitted on the next turn of the event loop, after the caller's own request is
queued (so a cheap model's batch runs before the copy's), through the engine below the
rollout with its own context, and its future is never the caller's: nothing the candidate
does (refuse, fail, hang, answer NaN) reaches the caller. At most `max_in_flight` copies run
at once; past that, requests are not copied (counted as skipped), so a slow candidate cannot
pile up memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from naiad.engine.context import CallContext
from naiad.engine.protocol import InferenceEngine
from naiad.engine.request import InferRequest, InferResponse
from naiad.rollout.divergence import compare, non_finite
from naiad.rollout.health import Breach, is_candidate_fault
from naiad.rollout.plan import RolloutPlan
from naiad.rollout.router import Router, routed

log = logging.getLogger("naiad.rollout")

SHADOW_CONTEXT = CallContext("shadow")
MAX_SHADOWS_IN_FLIGHT = 256


class ShadowRunner:
    """Forks copies for one engine stack; `on_breach` hears of a gate the candidate broke."""

    def __init__(
        self,
        inner: InferenceEngine,
        clock: Callable[[], float],
        on_breach: Callable[[str, RolloutPlan, Breach], None],
        max_in_flight: int = MAX_SHADOWS_IN_FLIGHT,
    ) -> None:
        self._inner = inner
        self._clock = clock
        self._on_breach = on_breach
        self._max_in_flight = max_in_flight
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
        copy = routed(request, str(plan.candidate))
        asyncio.get_running_loop().call_soon(self._submit, copy, answer, router, plan)

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
            divergence = compare(stable.result(), response)
            stats.record(divergence)
            breach = router.record_divergence(plan, divergence.metric(plan.gates.divergence_metric))
            if breach is not None:
                self._on_breach(name, plan, breach)

        if answer.done():
            stable_done(answer)
        else:
            answer.add_done_callback(stable_done)

    def _record(
        self, name: str, router: Router, plan: RolloutPlan, failed: bool, start_s: float
    ) -> None:
        breach = router.record(plan, failed, (self._clock() - start_s) * 1000.0)
        if breach is not None:
            self._on_breach(name, plan, breach)
