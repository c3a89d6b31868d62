"""The rollout as an engine layer: rewrites the version of unversioned requests per plan.

It sits innermost, right above the core Engine, so that the version it picks is what the
engine resolves; everything outside it (access log, tracing, authorization, rate limits) sees
the request as the caller sent it. Nothing but `submit` changes.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from naiad.config.settings import ModelSettings
from naiad.engine.context import CallContext
from naiad.engine.layers import EngineLayer
from naiad.engine.protocol import InferenceEngine
from naiad.engine.request import InferRequest, InferResponse
from naiad.errors import InvalidArgument, ModelLoadError
from naiad.repository.types import ModelFactory, ServedModel
from naiad.rollout.health import is_candidate_fault
from naiad.rollout.plan import RolloutPlan, read_plan
from naiad.rollout.router import Router
from naiad_protocol.model_config_pb2 import ModelConfig

log = logging.getLogger("naiad.rollout")


class RolloutBook:
    """Every model's Router, by model name; thread-safe (loads run on loader threads)."""

    def __init__(
        self, rng: random.Random | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rng = rng or random.Random()
        self._clock = clock
        self._lock = threading.Lock()
        self._routers: dict[str, Router] = {}

    def router(self, name: str) -> Router | None:
        return self._routers.get(name)

    def set_plan(self, name: str, plan: RolloutPlan | None) -> None:
        """Starts, changes or (None) ends the rollout of `name`."""
        with self._lock:
            if plan is None:
                self._routers.pop(name, None)
            elif (router := self._routers.get(name)) is not None:
                router.update(plan)
            else:
                self._routers[name] = Router(plan, self._rng, self._clock)

    def reading_plans(self, factory: ModelFactory) -> ModelFactory:
        """`factory`, reading the model's rollout.toml first each time a version loads.

        A plan file that does not parse fails the version's load with the reason.
        """

        def load(settings: ModelSettings, config: ModelConfig) -> ServedModel:
            try:
                plan = read_plan(_model_dir(settings))
            except InvalidArgument as exc:
                raise ModelLoadError(f"model '{settings.name}': {exc.message}") from None
            self.set_plan(settings.name, plan)
            return factory(settings, config)

        return load


class RolloutLayer(EngineLayer):
    """Sends each unversioned request where its model's plan says; explicit versions pass.

    A version the plan picks that does not serve right now (not loaded yet, unloading) is
    not forced: the stable version answers instead, or, when it does not serve either, the
    request stays unversioned and meets the latest ready version, as without a plan.

    The outcomes of requests sent to the candidate feed the plan's gates; a breach rolls
    the model back to stable (logged on naiad.rollout, counted on its Router); the candidate
    stays loaded. `clock` (seconds) times those requests; inject one in tests.
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

    def submit(self, request: InferRequest, context: CallContext) -> asyncio.Future[InferResponse]:
        if request.model_version != "":
            return self.inner.submit(request, context)
        router = self.book.router(request.model_name)
        if router is None:
            return self.inner.submit(request, context)
        plan = router.plan
        for number in (router.choose(request), plan.stable):
            version = str(number)
            if self.inner.model_ready(request.model_name, version, context):
                request = replace(request, model_version=version)
                break
        if request.model_version != str(plan.candidate) or not router.health.watching:
            return self.inner.submit(request, context)
        start_s = self._clock()
        try:
            future = self.inner.submit(request, context)
        except Exception as exc:
            if is_candidate_fault(exc):
                self._record(request.model_name, router, plan, True, start_s)
            raise

        def observe(done: asyncio.Future[InferResponse]) -> None:
            if not done.cancelled():
                failed = is_candidate_fault(done.exception())
                self._record(request.model_name, router, plan, failed, start_s)

        future.add_done_callback(observe)
        return future

    def _record(
        self, name: str, router: Router, plan: RolloutPlan, failed: bool, start_s: float
    ) -> None:
        latency_ms = (self._clock() - start_s) * 1000.0
        breach = router.record(plan, failed, latency_ms)
        if breach is not None:
            log.warning(
                "rollout of model '%s' rolled back from version %d to %d: %s",
                name,
                plan.candidate,
                plan.stable,
                breach,
            )


def _model_dir(settings: ModelSettings) -> Path:
    # model_path is <model dir>/<version>/<file>, the file possibly under subdirectories.
    path = Path(settings.model_path)
    for parent in path.parents:
        if parent.name == str(settings.version):
            return parent.parent
    return path.parent.parent
