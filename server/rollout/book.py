"""Every model's Router, where its plan came from, and the state that outlives the process.

Plans arrive two ways: a model's rollout.toml, read each time one of its versions loads
(`reading_plans`), and the admin API (`start`). A plan file applies when it is new or changed
since its last reading, so a reload of an unchanged model (a poll, a new version) leaves a
running or rolled-back rollout as it stands; a plan started through the API stays until a
changed plan file, another start, or `clear` replaces it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

from naiad.config.settings import ModelSettings
from naiad.errors import InvalidArgument, ModelLoadError, NotFound
from naiad.repository.types import ModelFactory, ServedModel
from naiad.rollout.plan import RolloutPlan, read_plan
from naiad.rollout.router import Router
from naiad.rollout.store import SavedRollout, StateStore
from naiad_protocol.model_config_pb2 import ModelConfig

FILE = "file"
API = "api"


class RolloutBook:
    """Every model's Router, by model name; thread-safe (loads run on loader threads).

    `store` (optional) persists each change and restores API plans at construction and file
    plans when the same plan is read again after a restart.
    """

    def __init__(
        self,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        store: StateStore | None = None,
    ) -> None:
        self._rng = rng
        self._clock = clock
        self._store = store
        self._lock = threading.RLock()
        self._routers: dict[str, Router] = {}
        self._sources: dict[str, str] = {}
        self._file_plans: dict[str, RolloutPlan] = {}
        saved_rollouts = store.load() if store is not None else {}
        for name, saved in saved_rollouts.items():
            if saved.file_plan is not None:
                self._file_plans[name] = saved.file_plan
            if saved.plan is not None and (saved.source == API or saved.file_plan == saved.plan):
                self._install(name, saved.plan, saved.source, restore=saved)

    def router(self, name: str) -> Router | None:
        return self._routers.get(name)

    def names(self) -> list[str]:
        return sorted(self._routers)

    def source(self, name: str) -> str:
        return self._sources.get(name, "")

    def set_plan(self, name: str, plan: RolloutPlan | None) -> None:
        """What `name`'s rollout.toml holds now (None: no file); see the module docstring."""
        with self._lock:
            previous = self._file_plans.get(name)
            if plan is None:
                self._file_plans.pop(name, None)
                if previous is not None and self._sources.get(name) == FILE:
                    self._routers.pop(name, None)
                    self._sources.pop(name, None)
                self._save()
                return
            if plan == previous and name in self._routers:
                return
            self._file_plans[name] = plan
            router = self._routers.get(name)
            if router is None or router.plan != plan:
                self._install(name, plan, FILE)
            self._save()

    def start(self, name: str, plan: RolloutPlan) -> Router:
        """Starts `plan` now (from its first step), replacing any rollout of `name`."""
        with self._lock:
            router = self._install(name, plan, API)
            self._save()
            return router

    def promote(self, name: str) -> Router:
        router = self._existing(name)
        router.promote()
        return router

    def abort(self, name: str) -> Router:
        router = self._existing(name)
        router.abort()
        return router

    def clear(self, name: str) -> None:
        """Forgets `name`'s rollout: unversioned requests meet the latest version again."""
        with self._lock:
            self._existing(name)
            self._routers.pop(name, None)
            self._sources.pop(name, None)
            self._save()

    def save(self) -> None:
        """Writes every router's state now (at shutdown, so canary progress is exact)."""
        with self._lock:
            self._save()

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

    def _existing(self, name: str) -> Router:
        router = self._routers.get(name)
        if router is None:
            raise NotFound(f"model '{name}' has no rollout")
        return router

    def _install(
        self, name: str, plan: RolloutPlan, source: str, restore: SavedRollout | None = None
    ) -> Router:
        router = Router(plan, self._rng, self._clock)
        if restore is not None:
            router.restore(restore.state)
        router.on_change = self._changed
        self._routers[name] = router
        self._sources[name] = source
        return router

    def _changed(self, router: Router) -> None:
        if router in self._routers.values():
            with self._lock:
                self._save()

    def _save(self) -> None:
        if self._store is None:
            return
        saved = {
            name: SavedRollout(
                self._sources[name], router.plan, router.state(), self._file_plans.get(name)
            )
            for name, router in self._routers.items()
        }
        for name, plan in self._file_plans.items():
            if name not in saved:
                saved[name] = SavedRollout(FILE, None, {}, plan)
        self._store.save(saved)


def _model_dir(settings: ModelSettings) -> Path:
    # model_path is <model dir>/<version>/<file>, the file possibly under subdirectories.
    path = Path(settings.model_path)
    for parent in path.parents:
        if parent.name == str(settings.version):
            return parent.parent
    return path.parent.parent
