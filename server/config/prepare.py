"""From a model's raw config and one version's ONNX file to its completed config and settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from naiad.config.complete import complete_config
from naiad.config.convert import build_settings
from naiad.config.paths import ModelFiles, escapes, escapes_message
from naiad.config.settings import ModelSettings
from naiad.config.signature import read_signature
from naiad.errors import ModelLoadError
from naiad_protocol.model_config_pb2 import ModelConfig


@dataclass(frozen=True)
class PreparedVersion:
    """A version ready to hand to the engine: what clients see and what the engine runs."""

    config: ModelConfig
    """Completed config; shared, so treat it as read-only."""
    settings: ModelSettings


def prepare_version(
    raw: ModelConfig | None,
    model_file: Path,
    *,
    name: str,
    version: int,
    gpu_available: bool = False,
    files: ModelFiles | None = None,
) -> PreparedVersion:
    """Reads the signature of `model_file`, completes `raw` with it, checks and converts it.

    `raw` is config.pbtxt (or a load request's config) as written; None when there is none.
    `files`: where the model's files may be (None: found from `model_file`, in a repository).
    Raises ModelLoadError with the reasons when anything does not fit, before reading a model
    file that a symbolic link puts outside `files.root`.
    """
    if files is None:
        files = ModelFiles.of(model_file, version)
    if escapes(model_file, files.root):
        where = (
            model_file.relative_to(files.model_dir)
            if model_file.is_relative_to(files.model_dir)
            else model_file.name
        )
        raise ModelLoadError(f"model '{name}': model file '{where}' {escapes_message()}")
    signature = read_signature(model_file, model=name)
    config = complete_config(raw, signature, name=name, gpu_available=gpu_available)
    settings = build_settings(
        config, signature, version=version, model_path=str(model_file), files=files
    )
    return PreparedVersion(config, settings)
