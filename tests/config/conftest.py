"""Helpers for config tests: a model file, its signature, and config text to go with it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from naiad.config.complete import complete_config
from naiad.config.convert import build_settings
from naiad.config.parse import parse_config_text
from naiad.config.settings import ModelSettings
from naiad.config.signature import read_signature
from naiad_protocol.model_config_pb2 import ModelConfig

Complete = Callable[..., ModelConfig]
Build = Callable[..., ModelSettings]


@pytest.fixture
def complete(tmp_path: Path) -> Complete:
    """complete(builder, text=None, gpu_available=False) -> completed config of model 'm'.

    `builder(path)` writes the ONNX file; `text` is config.pbtxt (None: no config).
    """

    def run(
        builder: Callable[[Path], Path], text: str | None = None, gpu_available: bool = False
    ) -> ModelConfig:
        path = builder(tmp_path / "m" / "1" / "model.onnx")
        raw = parse_config_text(text, model="m") if text is not None else None
        return complete_config(
            raw, read_signature(path, model="m"), name="m", gpu_available=gpu_available
        )

    return run


@pytest.fixture
def build(tmp_path: Path, complete: Complete) -> Build:
    """build(builder, text=None) -> settings of model 'm' version 1 (or ModelLoadError)."""

    def run(builder: Callable[[Path], Path], text: str | None = None) -> ModelSettings:
        config = complete(builder, text)
        path = tmp_path / "m" / "1" / "model.onnx"
        return build_settings(
            config, read_signature(path, model="m"), version=1, model_path=str(path)
        )

    return run


@pytest.fixture
def check(complete: Complete, build: Build) -> Complete:
    """check(builder, text=None) -> the config, completed and checked (or ModelLoadError)."""

    def run(builder: Callable[[Path], Path], text: str | None = None) -> ModelConfig:
        build(builder, text)
        return complete(builder, text)

    return run
