"""An ensemble's config to its settings: the tensors clients see, with no model file to read.

An ensemble declares its inputs and outputs in full (Triton requires it); their data types and
dims are checked here, its steps in graph.py. Against its members it is checked when it starts
(members.py), since only then are the members' own settings known.
"""

from __future__ import annotations

from naiad.config.complete import ENSEMBLE_PLATFORM
from naiad.config.labels import with_labels
from naiad.config.paths import ModelFiles
from naiad.config.prepare import PreparedVersion
from naiad.config.problems import Problems, show, type_name
from naiad.config.settings import BatchingPolicy, ExecutionOptions, ModelSettings, TensorSpec
from naiad.config.validate import check_identity
from naiad.datatypes import BY_CONFIG
from naiad.ensemble.graph import EnsembleGraph, parse_graph
from naiad_protocol.model_config_pb2 import ModelConfig, ModelInput, ModelOutput


def is_ensemble(config: ModelConfig | None) -> bool:
    return config is not None and config.platform == ENSEMBLE_PLATFORM


def prepare_ensemble(
    raw: ModelConfig, *, name: str, version: int, files: ModelFiles
) -> PreparedVersion:
    """The ensemble's settings and config for `version`; raises ModelLoadError naming every
    problem of its tensors and steps."""
    problems = Problems(name)
    settings, _ = ensemble_settings(raw, version=version, files=files, problems=problems)
    problems.raise_if_any()
    config = ModelConfig()
    config.CopyFrom(raw)
    return PreparedVersion(config, settings)


def ensemble_settings(
    config: ModelConfig, *, version: int, files: ModelFiles | None, problems: Problems
) -> tuple[ModelSettings, EnsembleGraph]:
    """Settings and graph of an ensemble config; what does not fit goes to `problems`."""
    check_identity(config, problems)
    if config.max_batch_size < 0:
        problems.add(f"max_batch_size must be >= 0, not {config.max_batch_size}")
    if config.instance_group:
        problems.add("an ensemble has no instance_group: its members run on their own instances")
    if config.model_warmup:
        problems.add("an ensemble has no model_warmup: its members warm up on their own")
    inputs = tuple(s for s in (_spec("input", t, problems) for t in config.input) if s)
    outputs = tuple(s for s in (_spec("output", t, problems) for t in config.output) if s)
    if not inputs:
        problems.add("an ensemble needs at least one input")
    if not outputs:
        problems.add("an ensemble needs at least one output")
    _unique("input", [t.name for t in config.input], problems)
    _unique("output", [t.name for t in config.output], problems)
    if files is not None:
        outputs = with_labels(config, outputs, files, problems)
    graph = parse_graph(config, problems)
    settings = ModelSettings(
        name=config.name,
        version=version,
        model_path="",
        max_batch_size=max(0, config.max_batch_size),
        inputs=inputs,
        outputs=outputs,
        batching=BatchingPolicy(),
        instance_groups=(),
        execution=ExecutionOptions(),
        platform=ENSEMBLE_PLATFORM,
    )
    return settings, graph


def _spec(kind: str, tensor: ModelInput | ModelOutput, problems: Problems) -> TensorSpec | None:
    where = f"ensemble {kind} '{tensor.name}'"
    name = type_name(tensor.data_type)
    datatype = BY_CONFIG.get(name)
    if datatype is None:
        problems.add(f"{where}: data_type {name} is not supported")
        return None
    if not tensor.dims:
        problems.add(f"{where} has no dims")
        return None
    if any(d == 0 or d < -1 for d in tensor.dims):
        problems.add(f"{where}: dims {show(tensor.dims)} must be positive or -1")
        return None
    if tensor.HasField("reshape"):
        problems.add(f"{where}: reshape is not supported on ensemble tensors")
        return None
    return TensorSpec(name=tensor.name, datatype=datatype, dims=tuple(tensor.dims))


def _unique(kind: str, names: list[str], problems: Problems) -> None:
    seen: set[str] = set()
    for name in names:
        if not name:
            problems.add(f"an ensemble {kind} has no name")
        elif name in seen:
            problems.add(f"ensemble {kind} '{name}' is listed twice")
        seen.add(name)
