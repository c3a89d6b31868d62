"""The engine: what the transport calls. Resolves models and hands requests to them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import cast

from naiad.config.settings import ModelSettings
from naiad.engine.request import InferRequest, InferResponse
from naiad.engine.served_model import ServedModel
from naiad.errors import NaiadError
from naiad.native import Stats
from naiad.repository.manager import ModelRepository
from naiad_protocol import model_config_pb2


@dataclass(frozen=True)
class VersionStats:
    name: str
    version: int
    stats: Stats


class Engine:
    """Serves inference and model management over a ModelRepository of ServedModels."""

    def __init__(self, repository: ModelRepository) -> None:
        self.repository = repository
        self._ready = False

    def submit(self, request: InferRequest) -> asyncio.Future[InferResponse]:
        """Queues `request` on its model version. Raises NotFound/Unavailable/InvalidArgument."""
        return self._resolve(request.model_name, request.model_version)[1].submit(request)

    def model(self, name: str, version: str) -> tuple[ModelSettings, model_config_pb2.ModelConfig]:
        _, served, config = self._resolve(name, version)
        return served.settings, config

    def ready_versions(self, name: str) -> list[int]:
        return self.repository.ready_versions(name)

    def model_ready(self, name: str, version: str) -> bool:
        return self.repository.is_ready(name, version)

    def statistics(self, name: str, version: str) -> list[VersionStats]:
        """Every ready version when `name` is empty; a model's ready versions when `version` is."""
        if name and version:
            number, served, _ = self._resolve(name, version)
            return [VersionStats(name, number, served.stats())]
        if name:
            self.repository.resolve(name, "")  # NotFound for an unknown model
        found = []
        names = [name] if name else sorted({e.name for e in self.repository.index(ready_only=True)})
        for model in names:
            for number in self.repository.ready_versions(model):
                try:
                    _, served, _ = self._resolve(model, str(number))
                except NaiadError:
                    continue  # unloaded between the two calls
                found.append(VersionStats(model, number, served.stats()))
        return found

    async def load(self, name: str, config_json: str | None, files: dict[str, bytes]) -> None:
        await asyncio.to_thread(self.repository.load, name, config_json, files or None)

    async def unload(self, name: str) -> None:
        await asyncio.to_thread(self.repository.unload, name)

    def _resolve(
        self, name: str, version: str
    ) -> tuple[int, ServedModel, model_config_pb2.ModelConfig]:
        # The repository stores what load_served_model built: always a ServedModel.
        number, served, config = self.repository.resolve(name, version)
        return number, cast(ServedModel, served), config

    @property
    def ready(self) -> bool:
        return self._ready

    def set_ready(self, ready: bool) -> None:
        self._ready = ready
