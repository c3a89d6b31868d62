"""ModelRepository: which model versions exist, which serve, and loading and unloading them.

Concurrency: each model has its own lock, held for the whole of a load or unload of that
model (the engine's factory and `stop()` run under it), so one slow model never blocks
another. The registry lock is held only to swap in a new immutable Snapshot; `resolve()`
takes no lock at all.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from naiad.ensemble.order import load_waves, members_of
from naiad.errors import InvalidArgument, ModelLoadError, NotFound, Unavailable
from naiad.repository.layout import fingerprint, list_models, model_name_problem
from naiad.repository.poller import Poller
from naiad.repository.transitions import Transitions
from naiad.repository.types import (
    ControlMode,
    IndexEntry,
    ModelFactory,
    ModelState,
    ServedModel,
)
from naiad.repository.uploads import MAX_UPLOAD_BYTES, MAX_UPLOAD_FILES, UploadLimits
from naiad.repository.views import ModelView, Snapshot
from naiad_protocol.model_config_pb2 import ModelConfig

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
DEFAULT_POLL_INTERVAL_S = 15.0
"""Triton's --repository-poll-secs default."""


class ModelRepository:
    """The registry of models and versions, loaded through the engine's `factory`.

    All methods are synchronous and thread-safe. `load`, `unload`, `start` and `stop` may block
    for as long as models take to start or drain (call them off the event loop); `resolve`,
    `is_ready`, `ready_versions`, `serving_as_expected` and `index(scan=False)` return at once,
    reading only the current snapshot; `index()` also lists the repository's directories.
    """

    def __init__(
        self,
        paths: PathLike | Sequence[PathLike],
        factory: ModelFactory,
        *,
        control_mode: ControlMode | str = ControlMode.NONE,
        startup_models: Sequence[str] = (),
        poll_interval_s: float | None = DEFAULT_POLL_INTERVAL_S,
        gpu_available: bool = False,
        max_parallel_loads: int = 4,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        max_upload_files: int = MAX_UPLOAD_FILES,
    ) -> None:
        """`startup_models` (explicit mode only): names to load at start, "*" for all.

        `poll_interval_s` (poll mode only): None polls only when `poll_once()` is called.
        `max_upload_bytes` and `max_upload_files`: the most one load request may upload, in
        total content bytes and in files; a request over either is refused before anything
        is written. Raises InvalidArgument when a repository path is not a directory.
        """
        roots = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
        self._roots = tuple(Path(p) for p in roots)
        for root in self._roots:
            if not root.is_dir():
                raise InvalidArgument(f"model repository '{root}' is not a directory")
        self._mode = ControlMode(control_mode)
        self._startup_models = tuple(startup_models)
        self._max_parallel_loads = max(1, max_parallel_loads)
        self._lock = threading.Lock()
        self._snapshot = Snapshot()
        self._model_locks: dict[str, threading.Lock] = {}
        self._sync_lock = threading.Lock()
        self._closed = False
        self._transitions = Transitions(
            factory,
            self._roots,
            self._publish,
            self._remove,
            gpu_available=gpu_available,
            upload_limits=UploadLimits(max_upload_bytes, max_upload_files),
        )
        self._poller: Poller | None = None
        if self._mode is ControlMode.POLL and poll_interval_s is not None:
            self._poller = Poller(poll_interval_s, self._sync)

    @property
    def control_mode(self) -> ControlMode:
        return self._mode

    # Lifecycle

    def start(self) -> None:
        """Initial load per control mode; a broken model ends UNAVAILABLE, it does not raise.

        Raises ModelLoadError when a startup model (explicit mode) has no model directory.
        """
        if self._mode is ControlMode.EXPLICIT:
            names = self._startup_names()
            for wave in load_waves(names, list_models(self._roots).found):
                self._in_parallel(self._load_logged, wave)
        else:
            self._sync()
        if self._poller is not None:
            self._poller.start()

    def stop(self) -> None:
        """Stops polling and unloads every model, waiting for their in-flight requests."""
        with self._lock:
            self._closed = True
            # Every name that was ever locked: a load still running publishes after we look.
            names = sorted(set(self._model_locks) | set(self._snapshot.models))
        if self._poller is not None:
            self._poller.stop()
        # Ensembles first, so that their accepted requests finish while their members serve.
        waves = load_waves(names, list_models(self._roots).found)
        for name in [name for wave in reversed(waves) for name in wave]:
            with self._model_lock(name):
                self._transitions.unload(self._snapshot.models.get(name), forget=False)

    # Requests (RepositoryModelLoad / RepositoryModelUnload)

    def load(
        self,
        name: str,
        config_json: str | None = None,
        files: dict[str, bytes] | None = None,
    ) -> None:
        """Loads `name`, or reloads it: new versions start, are swapped in, then old ones stop.

        `config_json` replaces config.pbtxt and is checked exactly as config.pbtxt is; `files`
        ({"file:<version>/<name>": bytes}) are written to a fresh directory the model is
        loaded from (needs `config_json`). Raises Unavailable outside explicit mode,
        InvalidArgument for a name that cannot name a model directory, ModelLoadError with
        the reason on failure (a reload that fails leaves the old versions serving).

        An ensemble's members that do not serve yet are loaded first, as Triton does, so that
        loading the ensemble alone brings up its whole pipeline.
        """
        self._check_control()
        _check_name(name)
        if files and config_json is None:
            raise ModelLoadError(
                f"model '{name}': loading model files needs the 'config' parameter"
            )
        self._load_members(name, config_json, chain=(name,))
        with self._model_lock(name):
            self._check_open()
            old = self._snapshot.models.get(name)
            self._transitions.load(name, old, config_json=config_json, files=files)

    def _load_members(self, name: str, config_json: str | None, chain: tuple[str, ...]) -> None:
        """Loads the members of ensemble `name` that do not serve, theirs first; an ensemble
        that uses itself through `chain` is left to fail its own checks."""
        directories = list_models(self._roots).found
        for member in members_of(name, directories.get(name), config_json):
            view = self._snapshot.models.get(member)
            if member in chain or member not in directories or (view and view.serving()):
                continue  # a missing member fails the ensemble's load with its name
            self._load_members(member, None, (*chain, member))
            with self._model_lock(member):
                self._check_open()
                self._transitions.load(member, self._snapshot.models.get(member))

    def unload(self, name: str) -> None:
        """Stops serving `name`: UNLOADING, wait for in-flight requests, then UNAVAILABLE.

        Raises InvalidArgument for a name that cannot name a model, NotFound for an unknown one.
        """
        self._check_control()
        _check_name(name)
        with self._model_lock(name):
            view = self._snapshot.models.get(name)
            if view is None and name not in self._model_names():
                raise NotFound(f"Request for unknown model: '{name}' is not found")
            self._transitions.unload(view, forget=False)

    def poll_once(self) -> None:
        """Poll mode: loads new and changed models and unloads removed ones, now."""
        if self._mode is not ControlMode.POLL:
            raise Unavailable("the model repository is not in poll mode")
        self._sync()

    # Queries

    def resolve(self, name: str, version: str = "") -> tuple[int, ServedModel, ModelConfig]:
        """The serving version `version` ("" = highest ready) of `name`, with its config.

        Raises NotFound for an unknown model or version, Unavailable when it does not serve.
        """
        view = self._snapshot.models.get(name)
        if view is None:
            raise NotFound(f"Request for unknown model: '{name}' is not found")
        if version == "":
            found = view.latest_ready
            if found is None:
                raise Unavailable(f"Request for unknown model: '{name}' has no available versions")
        else:
            number = _version_number(version)
            found = view.versions.get(number) if number is not None else None
            if found is None:
                raise NotFound(
                    f"Request for unknown model: '{name}' version {version} is not found"
                )
        if found.model is None or found.config is None or found.state is not ModelState.READY:
            raise Unavailable(
                f"Request for unknown model: '{name}' version {version} is not at ready state"
            )
        return found.version, found.model, found.config

    def is_ready(self, name: str, version: str = "") -> bool:
        view = self._snapshot.models.get(name)
        if view is None:
            return False
        if version == "":
            return view.latest_ready is not None
        number = _version_number(version)
        found = view.versions.get(number) if number is not None else None
        return found is not None and found.serving

    def ready_versions(self, name: str) -> list[int]:
        """The versions of `name` that serve, ascending. Raises NotFound for an unknown model."""
        view = self._snapshot.models.get(name)
        if view is None:
            raise NotFound(f"Request for unknown model: '{name}' is not found")
        return sorted(v.version for v in view.serving())

    def index(self, ready_only: bool = False, *, scan: bool = True) -> list[IndexEntry]:
        """Every model known, one row per known version, sorted by name and version.

        `scan` also lists the repository's directories, so that models never loaded appear
        (version "", state None): file system work, for RepositoryIndex. Without it, only the
        models loaded or tried, from the current snapshot, at once.
        """
        models = self._snapshot.models
        names = set(models) | (self._model_names() if scan else set())
        entries: list[IndexEntry] = []
        for name in sorted(names):
            view = models.get(name)
            if view is None:
                entries.append(IndexEntry(name, "", None))
            elif not view.versions:
                entries.append(IndexEntry(name, "", view.state, view.reason))
            else:
                for number in sorted(view.versions):
                    v = view.versions[number]
                    entries.append(IndexEntry(name, str(number), v.state, v.reason))
        if ready_only:
            entries = [e for e in entries if e.state is ModelState.READY]
        return entries

    def serving_as_expected(self) -> bool:
        """Whether every model loaded or tried is READY, being unloaded or unloaded; models
        never asked to load do not count. No file system access."""
        return self._snapshot.as_expected

    def serving_models(self) -> list[str]:
        """Names of the models with at least one serving version, sorted."""
        return self._snapshot.serving_names

    # Internals

    def _sync(self) -> None:
        """Brings the served models in line with the repository (start in none/poll, polls)."""
        with self._sync_lock:
            directories = list_models(self._roots)
            names = sorted(set(directories.found) | set(directories.duplicates))
            removed = [n for n in self._snapshot.models if n not in names]

            def sync_one(name: str) -> None:
                with self._model_lock(name):
                    if self._closed:
                        return
                    old = self._snapshot.models.get(name)
                    path = directories.found.get(name)
                    stamp = fingerprint(path) if path is not None else ()
                    if old is not None and old.fingerprint == stamp:
                        return
                    try:
                        self._transitions.load(name, old, stamp=stamp)
                    except ModelLoadError as exc:
                        log.warning("%s", exc.message)

            def remove_one(name: str) -> None:
                with self._model_lock(name):
                    self._transitions.unload(self._snapshot.models.get(name), forget=True)

            self._in_parallel(remove_one, removed)
            for wave in load_waves(names, directories.found):
                self._in_parallel(sync_one, wave)

    def _load_logged(self, name: str) -> None:
        with self._model_lock(name):
            if self._closed:
                return
            try:
                self._transitions.load(name, self._snapshot.models.get(name))
            except ModelLoadError as exc:
                log.warning("%s", exc.message)

    def _startup_names(self) -> list[str]:
        available = self._model_names()
        names: set[str] = set()
        for name in self._startup_models:
            if name == "*":
                names |= available
            elif name in available:
                names.add(name)
            else:
                raise ModelLoadError(f"startup model '{name}' is not in the model repository")
        return sorted(names)

    def _model_names(self) -> set[str]:
        directories = list_models(self._roots)
        return set(directories.found) | set(directories.duplicates)

    def _in_parallel(self, work: Callable[[str], None], names: Sequence[str]) -> None:
        if len(names) <= 1 or self._max_parallel_loads == 1:
            for name in names:
                work(name)
            return
        workers = min(self._max_parallel_loads, len(names))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="naiad-load") as pool:
            for future in [pool.submit(work, name) for name in names]:
                future.result()

    def _check_control(self) -> None:
        if self._mode is ControlMode.NONE:
            raise Unavailable(
                "explicit model load / unload is not allowed: explicit model control is not "
                "enabled (model control mode is 'none')"
            )
        if self._mode is ControlMode.POLL:
            raise Unavailable("explicit model load / unload is not allowed if polling is enabled")

    def _check_open(self) -> None:
        if self._closed:
            raise Unavailable("the model repository is stopped")

    def _model_lock(self, name: str) -> threading.Lock:
        with self._lock:
            return self._model_locks.setdefault(name, threading.Lock())

    def _publish(self, view: ModelView) -> None:
        with self._lock:
            self._snapshot = self._snapshot.with_model(view)

    def _remove(self, name: str) -> None:
        with self._lock:
            self._snapshot = self._snapshot.without(name)


def _check_name(name: str) -> None:
    problem = model_name_problem(name)
    if problem is not None:
        raise InvalidArgument(problem)


def _version_number(version: str) -> int | None:
    return int(version) if version.isascii() and version.isdigit() else None
