"""Plugs ensembles into the repository's model factory.

The repository starts every version through one factory. `EnsembleFactory` hands plain models
to the factory it wraps and builds an EnsembleModel for a config whose platform is "ensemble",
checked against the members serving at that moment. An ensemble calls its members through the
core engine, which is built on the repository, so the engine is bound after construction:

    ensembles = EnsembleFactory(load_served_model)
    repository = ModelRepository(path, factory=ensembles)
    engine = ensembles.bind(Engine(repository))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from naiad.config.problems import Problems
from naiad.config.settings import ModelSettings
from naiad.engine.protocol import InferenceEngine
from naiad.ensemble.config import ensemble_settings, is_ensemble
from naiad.ensemble.members import check_members
from naiad.ensemble.model import EnsembleModel
from naiad.errors import ModelLoadError
from naiad_protocol.model_config_pb2 import ModelConfig

E = TypeVar("E", bound=InferenceEngine)


class EnsembleFactory:
    """A model factory that also starts ensembles; call `bind` before the repository starts."""

    def __init__(self, factory: Callable[[ModelSettings, ModelConfig], Any]) -> None:
        self._factory = factory
        self._engine: InferenceEngine | None = None

    def bind(self, engine: E) -> E:
        """Makes `engine` (the core engine over this factory's repository) the one ensembles
        call their members through; returns it."""
        self._engine = engine
        return engine

    def __call__(self, settings: ModelSettings, config: ModelConfig) -> Any:
        if not is_ensemble(config):
            return self._factory(settings, config)
        if self._engine is None:
            raise ModelLoadError(
                f"model '{settings.name}': ensembles need the engine (EnsembleFactory.bind)"
            )
        problems = Problems(settings.name)
        _, graph = ensemble_settings(
            config, version=settings.version, files=None, problems=problems
        )
        check_members(settings, graph, self._engine, problems)
        problems.raise_if_any()
        return EnsembleModel(settings, config, graph, self._engine)
