"""Reads a ModelConfig from config.pbtxt (protobuf text format) or from JSON (load requests)."""

from __future__ import annotations

from pathlib import Path

from google.protobuf import json_format, text_format

from naiad.errors import ModelLoadError
from naiad_protocol.model_config_pb2 import ModelConfig

CONFIG_FILENAME = "config.pbtxt"


def parse_config_text(text: str, *, model: str, source: str = CONFIG_FILENAME) -> ModelConfig:
    """Parses protobuf text format; ModelLoadError names the model, the source and the line."""
    config = ModelConfig()
    try:
        text_format.Parse(text, config)
    except (text_format.ParseError, ValueError) as exc:  # ValueError: an enum number too large
        raise ModelLoadError(f"model '{model}': cannot parse {source}: {exc}") from None
    return config


def parse_config_json(text: str, *, model: str) -> ModelConfig:
    """Parses the JSON ModelConfig a RepositoryModelLoad request carries in its `config`."""
    config = ModelConfig()
    try:
        json_format.Parse(text, config)
    except (json_format.ParseError, ValueError) as exc:
        raise ModelLoadError(
            f"model '{model}': cannot parse the 'config' parameter: {exc}"
        ) from None
    return config


def read_config_file(model_dir: Path, *, model: str) -> ModelConfig | None:
    """The model directory's config.pbtxt, or None when it has none."""
    path = model_dir / CONFIG_FILENAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"model '{model}': cannot read {path}: {exc}") from None
    return parse_config_text(text, model=model, source=str(path))
