"""The core engine: the InferenceEngine at the bottom of every stack, over the model repository.

Runs without any front end: tests, batch jobs and shadow copies build one from a repository
and call it directly.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar, cast

from naiad.engine.classification import check_classification, classified
from naiad.engine.context import CallContext
from naiad.engine.protocol import ModelDescription, VersionStats
from naiad.engine.request import InferRequest, InferResponse
from naiad.engine.served_model import ServedModel
from naiad.engine.streaming import StreamsThroughSubmit
from naiad.errors import DeadlineExceeded, NaiadError, Unavailable
from naiad.repository.manager import ModelRepository
from naiad.repository.types import IndexEntry
from naiad_protocol.model_config_pb2 import ModelConfig

M = TypeVar("M")


class Engine(StreamsThroughSubmit):
    """Serves inference and model management over a ModelRepository of ServedModels.

    Readiness: not ready until `accept(True)`. Strict (the default): then ready while every
    model that should be loaded serves, i.e. every known version is READY, except those
    unloaded on request and those being unloaded; a model that is loading or failed makes the
    server not ready. Not strict: ready once accepting. Read from the repository's current
    snapshot: no file system access.
    """

    def __init__(self, repository: ModelRepository, *, strict_readiness: bool = True) -> None:
        self._repository = repository
        self._strict = strict_readiness
        self._accepting = False

    def accept(self, accepting: bool) -> None:
        """Marks the server as taking traffic (after start-up) or not (when shutting down)."""
        self._accepting = accepting

    def submit(self, request: InferRequest, context: CallContext) -> asyncio.Future[InferResponse]:
        if context.deadline_s is not None and context.expired():
            raise DeadlineExceeded(f"request '{request.id}' arrived after its deadline")
        served = self._served(request.model_name, request.model_version)[1]
        wanted = check_classification(request, served.settings) if request.classification else {}
        try:
            future = served.submit(request)
        except Unavailable:
            if not served.stopping:
                raise
            # A version change published its successor just before stopping this one; the
            # request resolved the old snapshot in between. It goes to the successor, so that
            # swapping versions drops nothing (an unload or a removed version still refuses).
            successor = self._served(request.model_name, request.model_version)[1]
            if successor is served:
                raise
            served = successor
            future = served.submit(request)
        return classified(future, wanted, served.settings) if wanted else future

    def describe(self, name: str, version: str, context: CallContext) -> ModelDescription:
        served = self._served(name, version)[1]
        return ModelDescription(served.settings, tuple(self._repository.ready_versions(name)))

    def config(self, name: str, version: str, context: CallContext) -> ModelConfig:
        return self._repository.resolve(name, version)[2]

    def statistics(self, name: str, version: str, context: CallContext) -> list[VersionStats]:
        if name and version:
            number, served = self._served(name, version)
            return [VersionStats(name, number, served.stats())]
        if name:
            self._repository.resolve(name, "")  # NotFound for an unknown model
        found = []
        names = [name] if name else self._repository.serving_models()
        for model in names:
            for number in self._repository.ready_versions(model):
                try:
                    _, served = self._served(model, str(number))
                except NaiadError:
                    continue  # unloaded between the two calls
                found.append(VersionStats(model, number, served.stats()))
        return found

    def model_ready(self, name: str, version: str, context: CallContext) -> bool:
        if not self._repository.is_ready(name, version):
            return False
        try:
            served = self._served(name, version)[1]
        except NaiadError:
            return False  # unloaded since
        return served.ready()

    def server_ready(self) -> bool:
        if not self._accepting:
            return False
        return not self._strict or self._repository.serving_as_expected()

    async def index(self, ready_only: bool, context: CallContext) -> list[IndexEntry]:
        # Lists the repository's directories: file system work, kept off the event loop.
        return await asyncio.to_thread(self._repository.index, ready_only)

    async def load(
        self, name: str, config_json: str | None, files: dict[str, bytes], context: CallContext
    ) -> None:
        await asyncio.to_thread(self._repository.load, name, config_json, files or None)

    async def unload(self, name: str, context: CallContext) -> None:
        await asyncio.to_thread(self._repository.unload, name)

    def _served(self, name: str, version: str) -> tuple[int, ServedModel]:
        # The repository stores what load_served_model built: always a ServedModel.
        number, served, _ = self._repository.resolve(name, version)
        return number, cast(ServedModel, served)
