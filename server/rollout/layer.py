"""The rollout as an engine layer: rewrites the version of unversioned requests per plan.

It sits innermost, right above the core Engine, so that the version it picks is what the
engine resolves; everything outside it (access log, tracing, authorization, rate limits) sees
the request as the caller sent it. Nothing but `submit` changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from naiad.engine.context import CallContext
from naiad.engine.layers import EngineLayer
from naiad.engine.protocol import InferenceEngine
from naiad.engine.request import InferRequest, InferResponse
from naiad.rollout.book import RolloutBook
from naiad.rollout.divergence import non_finite
from naiad.rollout.health import Breach, is_candidate_fault
from naiad.rollout.plan import RolloutPlan
from naiad.rollout.router import Router, routed
from naiad.rollout.shadow import ShadowRunner
from naiad.rollout.stats import ArmStats

log = logging.getLogger("naiad.rollout")

__all__ = ["RolloutBook", "RolloutLayer"]


class RolloutLayer(EngineLayer):
    """Sends each unversioned request where its model's plan says; explicit versions pass.

    A version the plan picks that does not serve right now (not loaded yet, unloading) is
    not forced: the stable version answers instead, or, when it does not serve either, the
    request stays unversioned and meets the latest ready version, as without a plan.

    Every routed answer is counted on its arm (requests, failures, latency); the candidate's
    outcomes (an answer with NaN or infinity is a failure when the gates reject them) feed
    the plan's gates, and a breach rolls the model back to stable (logged on naiad.rollout,
    counted on its Router); the candidate stays loaded. In shadow mode a sampled copy of each
    request runs on the candidate (shadow.py). `clock` (seconds) times requests; inject one
    in tests.
    """

    def __init__(
        self,
        inner: InferenceEngine,
        book: RolloutBook,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        super().__init__(inner)
        self.book = book
        self._clock = clock
        self.shadows = ShadowRunner(inner, clock, _log_rollback)

    def submit(self, request: InferRequest, context: CallContext) -> asyncio.Future[InferResponse]:
        if request.model_version != "":
            return self.inner.submit(request, context)
        router = self.book.router(request.model_name)
        if router is None:
            return self.inner.submit(request, context)
        plan = router.plan
        chosen = router.choose(request)
        # No readiness lookup on the way in: the engine refuses a version that does not
        # serve, and only a refusal asks whether that is why (then the next choice answers).
        future = self._routed(request, chosen, router, plan, context)
        if future is None and chosen != plan.stable:
            chosen = plan.stable
            future = self._routed(request, chosen, router, plan, context)
        if future is None:
            return self.inner.submit(request, context)
        if chosen != plan.candidate and router.shadows():
            self.shadows.fork(request, future, router)
        return future

    def _routed(
        self,
        request: InferRequest,
        number: int,
        router: Router,
        plan: RolloutPlan,
        context: CallContext,
    ) -> asyncio.Future[InferResponse] | None:
        """`request` submitted to version `number` and watched on its arm; None when that
        version does not serve now (nothing counted)."""
        version = str(number)
        copy = routed(request, version)
        start_s = self._clock()
        try:
            future = self.inner.submit(copy, context)
        except Exception as exc:
            if not self.inner.model_ready(request.model_name, version, context):
                return None
            arm = router.arm(number)
            arm.num_requests += 1
            if is_candidate_fault(exc):
                arm.record(True, 0.0)
                if number == plan.candidate:
                    self._record(request.model_name, router, plan, True, 0.0)
            raise
        arm = router.arm(number)
        arm.num_requests += 1
        if number == plan.candidate:
            future.add_done_callback(
                lambda done: self._observe_candidate(
                    done, request.model_name, router, plan, start_s
                )
            )
        else:
            future.add_done_callback(lambda done: self._observe(done, arm, start_s))
        return future

    def _observe(self, done: asyncio.Future[InferResponse], arm: ArmStats, start_s: float) -> None:
        if done.cancelled():
            return
        error = done.exception()
        failed = is_candidate_fault(error)
        if error is None or failed:  # else the caller's error (bad input, deadline)
            arm.record(failed, self._clock() - start_s)

    def _observe_candidate(
        self,
        done: asyncio.Future[InferResponse],
        name: str,
        router: Router,
        plan: RolloutPlan,
        start_s: float,
    ) -> None:
        if done.cancelled():
            return
        error = done.exception()
        failed = is_candidate_fault(error)
        if error is not None and not failed:
            return  # the caller's error (bad input, deadline): no one's health
        latency_s = self._clock() - start_s
        arm = router.arm(plan.candidate)
        arm.record(failed, latency_s)
        if error is None and non_finite(done.result()):
            arm.num_non_finite += 1
            failed = plan.gates.reject_nan
        self._record(name, router, plan, failed, latency_s * 1000.0)

    def _record(
        self, name: str, router: Router, plan: RolloutPlan, failed: bool, latency_ms: float
    ) -> None:
        breach = router.record(plan, failed, latency_ms)
        if breach is not None:
            _log_rollback(name, plan, breach)


def _log_rollback(name: str, plan: RolloutPlan, breach: Breach) -> None:
    log.warning(
        "rollout of model '%s' rolled back from version %d to %d: %s",
        name,
        plan.candidate,
        plan.stable,
        breach,
    )
