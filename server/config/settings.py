"""Typed, validated settings derived once from a model's ModelConfig. Never mutated after load."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from naiad.datatypes import DataType


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output as clients see it."""

    name: str
    datatype: DataType
    dims: tuple[int, ...]
    """Shape without the batch dimension when the model batches; -1 marks a variable dimension."""
    reshape: tuple[int, ...] | None = None
    """Shape the model itself expects (config `reshape`), when it differs from `dims`."""
    optional: bool = False


class TimeoutAction(enum.Enum):
    REJECT = 0
    DELAY = 1


@dataclass(frozen=True)
class QueuePolicy:
    """How one priority level's queue treats waiting requests (config ModelQueuePolicy)."""

    timeout_action: TimeoutAction = TimeoutAction.REJECT
    default_timeout_us: int = 0
    """0 means requests wait without a queue timeout unless they set their own."""
    allow_timeout_override: bool = True
    """A request's `timeout` parameter may lower the default (or set one when there is none)."""
    max_queue_size: int = 0
    """0 means unbounded."""


@dataclass(frozen=True)
class BatchingPolicy:
    """The model's dynamic_batching block, or its absence (enabled=False: one request per batch)."""

    enabled: bool = False
    max_queue_delay_us: int = 0
    preferred_batch_sizes: tuple[int, ...] = ()
    preserve_ordering: bool = False
    priority_levels: int = 1
    """Levels are 1..priority_levels; 1 is served first."""
    default_priority_level: int = 1
    default_queue_policy: QueuePolicy = field(default_factory=QueuePolicy)
    priority_queue_policies: dict[int, QueuePolicy] = field(default_factory=dict)

    def queue_policy(self, level: int) -> QueuePolicy:
        return self.priority_queue_policies.get(level, self.default_queue_policy)


class InstanceKind(enum.Enum):
    AUTO = 0
    GPU = 1
    CPU = 2
    MODEL = 3


@dataclass(frozen=True)
class InstanceGroup:
    """count sessions of `kind`; for GPU, one group of `count` per listed device id."""

    name: str
    count: int = 1
    kind: InstanceKind = InstanceKind.AUTO
    gpus: tuple[int, ...] = ()


@dataclass(frozen=True)
class Accelerator:
    """An execution accelerator from config `optimization.execution_accelerators`."""

    name: str
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ExecutionOptions:
    """Session options for ONNX Runtime, from config `parameters` and `optimization`."""

    intra_op_threads: int = 0
    """0: chosen so that instances x threads fit the CPU budget."""
    inter_op_threads: int = 0
    parallel_execution: bool = False
    graph_optimization_level: int | None = None
    """config optimization.graph.level: -1 basic, 0/None default (all), 1 extended, 2 all."""
    gpu_accelerators: tuple[Accelerator, ...] = ()
    cpu_accelerators: tuple[Accelerator, ...] = ()
    fallback_to_cpu: bool = True
    """When a GPU provider cannot be used: True warns once and runs on CPU, False fails the load."""


@dataclass(frozen=True)
class WarmupSample:
    """One model_warmup entry: inputs given as zero, random or file data, run `count` times."""

    name: str
    batch_size: int
    inputs: dict[str, tuple[str, tuple[int, ...], str, str]]
    """input name -> (wire datatype, dims, source "zero"|"random"|"file", file path or "")."""
    count: int = 1


@dataclass(frozen=True)
class ModelSettings:
    """Everything the engine needs about one model version, validated against its ONNX file."""

    name: str
    version: int
    model_path: str
    max_batch_size: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    batching: BatchingPolicy
    instance_groups: tuple[InstanceGroup, ...]
    execution: ExecutionOptions
    warmup: tuple[WarmupSample, ...] = ()
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def batches(self) -> bool:
        return self.max_batch_size > 0

    def input(self, name: str) -> TensorSpec | None:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        return None

    def output(self, name: str) -> TensorSpec | None:
        for spec in self.outputs:
            if spec.name == name:
                return spec
        return None
