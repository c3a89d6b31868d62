"""A fake engine factory that records starts and stops and can be made slow or failing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import modelgen

from naiad.config.settings import ModelSettings
from naiad.repository.manager import ModelRepository
from naiad_protocol.model_config_pb2 import ModelConfig

WAIT_S = 10.0
"""Upper bound for a test waiting on another thread; never reached when the code is right."""


class FakeModel:
    """A served version; `config` is the given config marked as effective."""

    def __init__(self, factory: FakeFactory, settings: ModelSettings, config: ModelConfig) -> None:
        self.factory = factory
        self.settings = settings
        self.config = ModelConfig()
        self.config.CopyFrom(config)
        self.config.parameters["effective"].string_value = "yes"
        self.stopped = False

    @property
    def key(self) -> tuple[str, int]:
        return self.settings.name, self.settings.version

    def stop(self) -> None:
        assert not self.stopped, "stopped twice"
        self.factory.events.append(("stop", *self.key, id(self)))
        gate = self.factory.stop_gates.get(self.settings.name)
        if gate is not None:
            self.factory.stopping.set()
            assert gate.wait(WAIT_S)
        self.stopped = True


class FakeFactory:
    """Callable(settings, config) -> FakeModel, recording ("start"|"stop", name, version, id)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, int, int]] = []
        self.models: list[FakeModel] = []
        self.failures: dict[tuple[str, int] | str, str] = {}
        """(name, version) or name -> message of the exception the factory raises."""
        self.start_gates: dict[str, threading.Event] = {}
        self.stop_gates: dict[str, threading.Event] = {}
        self.starting = threading.Event()
        self.stopping = threading.Event()

    def __call__(self, settings: ModelSettings, config: ModelConfig) -> FakeModel:
        key = (settings.name, settings.version)
        gate = self.start_gates.get(settings.name)
        if gate is not None:
            self.starting.set()
            assert gate.wait(WAIT_S)
        failure = self.failures.get(key) or self.failures.get(settings.name)
        if failure is not None:
            raise RuntimeError(failure)
        model = FakeModel(self, settings, config)
        self.events.append(("start", *key, id(model)))
        self.models.append(model)
        return model

    def running(self) -> set[tuple[str, int]]:
        return {m.key for m in self.models if not m.stopped}


def fp32(path: Path) -> Path:
    return modelgen.identity(path, "FP32", [4])


MakeRepo = Callable[..., ModelRepository]
