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
        chosen = None
        for number in (router.choose(request), plan.stable):
            version = str(number)
            if self.inner.model_ready(request.model_name, version, context):
                request = routed(request, version)
                chosen = number
                break
        if chosen is None:
            return self.inner.submit(request, context)
        arm = router.arm(chosen)
        arm.num_requests += 1
        candidate = chosen == plan.candidate
        start_s = self._clock()
        try:
            future = self.inner.submit(request, context)
        except Exception as exc:
            if is_candidate_fault(exc):
                arm.record(True, 0.0)
                if candidate:
                    self._record(request.model_name, router, plan, True, 0.0)
            raise

        def observe(done: asyncio.Future[InferResponse]) -> None:
            if done.cancelled():
                return
            error = done.exception()
            failed = is_candidate_fault(error)
            if error is not None and not failed:
                return  # the caller's error (bad input, deadline): no one's health
            latency_s = self._clock() - start_s
            arm.record(failed, latency_s)
            if error is None and candidate and non_finite(done.result()):
                arm.num_non_finite += 1
                failed = plan.gates.reject_nan
            if candidate:
                self._record(request.model_name, router, plan, failed, latency_s * 1000.0)

        future.add_done_callback(observe)
        if (
            not candidate
            and router.shadows()
            and self.inner.model_ready(request.model_name, str(plan.candidate), context)
        ):
            self.shadows.fork(request, future, router)
        return future

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
