"""Reads one model's config, picks its versions and starts each through the engine's factory.

Knows nothing of locks or of what is currently served; the manager decides what to publish.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from naiad.config.complete import complete_identity
from naiad.config.parse import CONFIG_FILENAME, parse_config_json, read_config_file
from naiad.config.paths import ModelFiles, escapes, escapes_message
from naiad.config.prepare import prepare_version
from naiad.config.validate import validate_identity
from naiad.ensemble.config import is_ensemble, prepare_ensemble
from naiad.errors import ModelLoadError, NaiadError
from naiad.repository.layout import VersionSelection, list_versions, model_file, select_versions
from naiad.repository.types import ModelFactory, ModelState, ServedModel
from naiad.repository.views import VersionView
from naiad_protocol.model_config_pb2 import ModelConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadSource:
    """Where a load takes a model from."""

    name: str
    model_dir: Path
    config_json: str | None = None
    """A load request's JSON config, which replaces config.pbtxt."""
    temp_dir: Path | None = None
    """Set when model_dir holds uploaded files that belong to this load."""

    @property
    def files(self) -> ModelFiles:
        """What the model may read: its repository, or only its uploaded files (no libraries)."""
        if self.temp_dir is not None:
            return ModelFiles(self.model_dir, self.temp_dir, native_code=False)
        return ModelFiles(self.model_dir, self.model_dir.parent)


@dataclass(frozen=True)
class LoadPlan:
    """A model's raw config (identity completed and checked) and the versions to start."""

    raw: ModelConfig
    selection: VersionSelection


class VersionLoader:
    """Turns a LoadSource into started versions; every failure becomes a reason, not a crash."""

    def __init__(self, factory: ModelFactory, *, gpu_available: bool) -> None:
        self._factory = factory
        self._gpu_available = gpu_available

    def plan(self, source: LoadSource) -> LoadPlan:
        """Reads and checks the model-level config; raises ModelLoadError for the whole model."""
        name = source.name
        files = source.files
        if escapes(source.model_dir, files.root):
            raise ModelLoadError(
                f"model '{name}': the model directory {escapes_message()}; naiad follows "
                "links only while they stay inside the repository"
            )
        if source.config_json is not None:
            given = parse_config_json(source.config_json, model=name)
        elif escapes(source.model_dir / CONFIG_FILENAME, files.root):
            raise ModelLoadError(f"model '{name}': {CONFIG_FILENAME} {escapes_message()}")
        else:
            given = read_config_file(source.model_dir, model=name)
        raw = complete_identity(given, name=name)
        validate_identity(raw)
        selection = select_versions(raw.version_policy, list_versions(source.model_dir))
        if not selection.selected and not selection.missing:
            raise ModelLoadError(
                f"model '{name}': no version under its version policy in {source.model_dir} "
                "(versions are integer-named directories)"
            )
        return LoadPlan(raw, selection)

    def start(self, plan: LoadPlan, source: LoadSource, version: int) -> VersionView:
        """Starts one version: READY with its model, or UNAVAILABLE with the reason."""
        name = source.name
        path = model_file(source.model_dir, version, plan.raw.default_model_filename)
        try:
            if is_ensemble(plan.raw):
                prepared = prepare_ensemble(
                    plan.raw, name=name, version=version, files=source.files
                )
            else:
                prepared = prepare_version(
                    plan.raw,
                    path,
                    name=name,
                    version=version,
                    gpu_available=self._gpu_available,
                    files=source.files,
                )
        except ModelLoadError as exc:
            return VersionView(version, ModelState.UNAVAILABLE, exc.message)
        try:
            model = self._factory(prepared.settings, prepared.config)
        except NaiadError as exc:
            return VersionView(version, ModelState.UNAVAILABLE, exc.message)
        except Exception as exc:  # the engine's failure must not take the repository down
            log.exception("model '%s' version %d failed to start", name, version)
            reason = f"model '{name}': version {version} failed to start: {exc!r}"
            return VersionView(version, ModelState.UNAVAILABLE, reason)
        try:
            effective = model.config
        except Exception as exc:
            stop_quietly(name, version, model)
            reason = f"model '{name}': version {version} has no config: {exc!r}"
            return VersionView(version, ModelState.UNAVAILABLE, reason)
        return VersionView(version, ModelState.READY, model=model, config=effective)

    @staticmethod
    def missing(source: LoadSource, version: int) -> VersionView:
        """The row of a version the policy names but the model directory lacks."""
        reason = (
            f"model '{source.name}': version {version} is in the version policy "
            f"but not in {source.model_dir}"
        )
        return VersionView(version, ModelState.UNAVAILABLE, reason)


def stop_quietly(name: str, version: int, model: ServedModel) -> None:
    """Stops a model; a failure is logged, since the caller is already moving on."""
    try:
        model.stop()
    except Exception:
        log.exception("model '%s' version %d failed to stop", name, version)
