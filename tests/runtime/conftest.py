"""Fixtures for runtime tests: ModelSettings for generated ONNX files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import onnx
import pytest

from naiad import datatypes
from naiad.config.settings import (
    BatchingPolicy,
    ExecutionOptions,
    InstanceGroup,
    ModelSettings,
    TensorSpec,
    WarmupSample,
)

SettingsFactory = Callable[..., ModelSettings]


def settings_for(
    model_path: Path,
    groups: tuple[InstanceGroup, ...] = (),
    execution: ExecutionOptions | None = None,
    max_batch_size: int = 8,
    warmup: tuple[WarmupSample, ...] = (),
    name: str = "m",
) -> ModelSettings:
    """Settings as the config layer would give them, read from the model's signature."""
    graph = onnx.load(str(model_path), load_external_data=False).graph

    def specs(values: list[onnx.ValueInfoProto]) -> tuple[TensorSpec, ...]:
        out = []
        for v in values:
            dims = [
                d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim
            ]
            if max_batch_size > 0:
                dims = dims[1:]
            dtype = datatypes.BY_ONNX[v.type.tensor_type.elem_type]
            out.append(TensorSpec(v.name, dtype, tuple(dims)))
        return tuple(out)

    return ModelSettings(
        name=name,
        version=1,
        model_path=str(model_path),
        max_batch_size=max_batch_size,
        inputs=specs(list(graph.input)),
        outputs=specs(list(graph.output)),
        batching=BatchingPolicy(),
        instance_groups=groups,
        execution=execution or ExecutionOptions(),
        warmup=warmup,
    )


@pytest.fixture(scope="session")
def make_settings() -> SettingsFactory:
    return settings_for
