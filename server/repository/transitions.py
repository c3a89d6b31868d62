"""The steps of loading, reloading and unloading one model, in an order that drops no request.

The caller holds the model's lock. Every state change is published as a new ModelView, so a
request sees either the old versions or the new ones, never a half-built mix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from naiad.errors import ModelLoadError
from naiad.repository.layout import Fingerprint, ModelDirectories, list_models
from naiad.repository.loader import LoadPlan, LoadSource, VersionLoader, stop_quietly
from naiad.repository.types import ModelFactory, ModelState
from naiad.repository.uploads import UploadLimits, remove_tree, write_uploaded_files
from naiad.repository.views import ModelView, VersionView

UNLOADED = "unloaded"
"""The reason RepositoryIndex gives for a version in state UNLOADED."""


class Transitions:
    """Loads and unloads one model at a time; `publish` and `remove` update the registry."""

    def __init__(
        self,
        factory: ModelFactory,
        roots: tuple[Path, ...],
        publish: Callable[[ModelView], None],
        remove: Callable[[str], None],
        *,
        gpu_available: bool,
        upload_limits: UploadLimits,
    ) -> None:
        self._loader = VersionLoader(factory, gpu_available=gpu_available)
        self._roots = roots
        self._upload_limits = upload_limits
        self._publish = publish
        self._remove = remove

    def load(
        self,
        name: str,
        old: ModelView | None,
        *,
        config_json: str | None = None,
        files: Mapping[str, bytes] | None = None,
        stamp: Fingerprint | None = None,
    ) -> None:
        """Loads `name` over `old` (its current view); raises ModelLoadError with the reason.

        `stamp` is the model directory's fingerprint, kept so that polling can tell changes.
        """
        directories = list_models(self._roots)
        if not files and name not in directories.found and name not in directories.duplicates:
            raise ModelLoadError(
                f"model '{name}': no model directory named '{name}' in the repository"
            )
        source: LoadSource | None = None
        try:
            source = self._source(name, directories, config_json, files)
            plan = self._loader.plan(source)
        except ModelLoadError as exc:
            if source is not None and source.temp_dir is not None:
                remove_tree(source.temp_dir)
            self._keep_or_fail(name, old, exc.message, stamp)
            raise
        self._swap(old, source, plan, stamp)

    def unload(self, view: ModelView | None, *, forget: bool) -> None:
        """Stops every serving version of `view`, after marking it UNLOADING.

        Afterwards the model stays listed with reason "unloaded", or, with `forget`, is removed.
        """
        if view is None:
            return
        serving = view.serving()
        if serving:
            self._publish(view.with_states([s.version for s in serving], ModelState.UNLOADING))
        for entry in serving:
            if entry.model is not None:
                stop_quietly(view.name, entry.version, entry.model)
        if forget:
            self._remove(view.name)
        else:
            versions = list(view.versions)
            self._publish(
                ModelView(view.name, reason=UNLOADED, state=ModelState.UNLOADED).with_states(
                    versions, ModelState.UNLOADED, UNLOADED
                )
            )
        if view.temp_dir is not None:
            remove_tree(view.temp_dir)

    def _source(
        self,
        name: str,
        directories: ModelDirectories,
        config_json: str | None,
        files: Mapping[str, bytes] | None,
    ) -> LoadSource:
        if files:
            temp_dir = write_uploaded_files(name, files, self._upload_limits)
            return LoadSource(name, temp_dir, config_json, temp_dir=temp_dir)
        if name in directories.duplicates:
            places = ", ".join(str(p) for p in directories.duplicates[name])
            raise ModelLoadError(f"model '{name}': found in more than one repository ({places})")
        return LoadSource(name, directories.found[name], config_json)

    def _keep_or_fail(
        self, name: str, old: ModelView | None, reason: str, stamp: Fingerprint | None
    ) -> None:
        if old is not None and old.serving():
            # A failed reload leaves the running versions alone (as Triton does).
            if stamp is not None:
                self._publish(replace(old, fingerprint=stamp))
            return
        self._publish(ModelView(name, reason=reason, fingerprint=stamp))
        if old is not None and old.temp_dir is not None:
            remove_tree(old.temp_dir)

    def _swap(
        self, old: ModelView | None, source: LoadSource, plan: LoadPlan, stamp: Fingerprint | None
    ) -> None:
        name, selection = source.name, plan.selection
        old_serving = old.serving() if old is not None else []
        if not old_serving:
            loading = ModelView(name, fingerprint=stamp).with_states(
                [*selection.selected, *selection.missing], ModelState.LOADING
            )
            self._publish(loading)
        started = {v: self._loader.start(plan, source, v) for v in selection.selected}
        started.update({v: VersionLoader.missing(source, v) for v in selection.missing})
        failed = {v: s.reason for v, s in sorted(started.items()) if not s.serving}
        if failed and old is not None and old_serving:
            _stop_all(name, list(started.values()))
            if source.temp_dir is not None:
                remove_tree(source.temp_dir)
            if stamp is not None:
                self._publish(replace(old, fingerprint=stamp))
            raise ModelLoadError(_failure(name, failed) + " (the loaded versions keep serving)")
        versions = dict(sorted(started.items()))
        temp_dir = source.temp_dir
        if temp_dir is not None and len(failed) == len(started):
            remove_tree(temp_dir)  # no version runs from these files
            temp_dir = None
        self._publish(ModelView(name, versions, fingerprint=stamp, temp_dir=temp_dir))
        _stop_all(name, old_serving)
        if old is not None and old.temp_dir is not None and old.temp_dir != source.temp_dir:
            remove_tree(old.temp_dir)
        if failed:
            raise ModelLoadError(_failure(name, failed))


def _stop_all(name: str, versions: list[VersionView]) -> None:
    for entry in versions:
        if entry.model is not None:
            stop_quietly(name, entry.version, entry.model)


def _failure(name: str, failed: dict[int, str]) -> str:
    reasons = set(failed.values())
    if len(reasons) == 1:
        return reasons.pop()
    prefix = f"model '{name}': "
    return prefix + "; ".join(f"version {v}: {r.removeprefix(prefix)}" for v, r in failed.items())
