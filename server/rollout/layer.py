"""The rollout as an engine layer: rewrites the version of unversioned requests per plan.

It sits innermost, right above the core Engine, so that the version it picks is what the
engine resolves; everything outside it (access log, tracing, authorization, rate limits) sees
the request as the caller sent it. Nothing but `submit` changes.
"""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import replace
from pathlib import Path

from naiad.config.settings import ModelSettings
from naiad.engine.context import CallContext
from naiad.engine.layers import EngineLayer
from naiad.engine.protocol import InferenceEngine
from naiad.engine.request import InferRequest, InferResponse
from naiad.errors import InvalidArgument, ModelLoadError
from naiad.repository.types import ModelFactory, ServedModel
from naiad.rollout.plan import RolloutPlan, read_plan
from naiad.rollout.router import Router
from naiad_protocol.model_config_pb2 import ModelConfig


class RolloutBook:
    """Every model's Router, by model name; thread-safe (loads run on loader threads)."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
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
                self._routers[name] = Router(plan, self._rng)

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
    """

    def __init__(self, inner: InferenceEngine, book: RolloutBook) -> None:
        super().__init__(inner)
        self.book = book

    def submit(self, request: InferRequest, context: CallContext) -> asyncio.Future[InferResponse]:
        if request.model_version == "":
            router = self.book.router(request.model_name)
            if router is not None:
                for number in (router.choose(request), router.plan.stable):
                    version = str(number)
                    if self.inner.model_ready(request.model_name, version, context):
                        request = replace(request, model_version=version)
                        break
        return self.inner.submit(request, context)


def _model_dir(settings: ModelSettings) -> Path:
    # model_path is <model dir>/<version>/<file>, the file possibly under subdirectories.
    path = Path(settings.model_path)
    for parent in path.parents:
        if parent.name == str(settings.version):
            return parent.parent
    return path.parent.parent
