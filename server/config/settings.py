"""Typed settings built once from a model's ModelConfig (see convert.py). Never mutated after load.

One dataclass per concern. Every value here has been checked: code that receives settings
uses them as they are and never parses or validates config values again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from naiad.config.sequence_settings import SequencePolicy
from naiad.datatypes import DataType


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output as clients see it."""

    name: str
    """The tensor's name, unique among the model's inputs (or outputs)."""
    datatype: DataType
    """Its element type; the ONNX model declares the same."""
    dims: tuple[int, ...]
    """Shape without the batch dimension when the model batches; -1 marks a variable dimension."""
    reshape: tuple[int, ...] | None = None
    """Shape the model itself expects (config `reshape`), when it differs from `dims`."""
    optional: bool = False
    """An input an ONNX initializer backs: requests may leave it out."""
    labels: tuple[str, ...] = ()
    """An output's class labels, one per line of its label_filename (classification answers
    name them); empty when the config gives no label file."""


class TimeoutAction(enum.Enum):
    """What a queue does with a request whose queue timeout passed (ModelQueuePolicy)."""

    REJECT = 0
    DELAY = 1


@dataclass(frozen=True)
class QueuePolicy:
    """How one priority level's queue treats waiting requests (config ModelQueuePolicy)."""

    timeout_action: TimeoutAction = TimeoutAction.REJECT
    """REJECT answers a timed-out request with an error; DELAY keeps it, behind the others."""
    default_timeout_us: int = 0
    """0 means requests wait without a queue timeout unless they set their own."""
    allow_timeout_override: bool = True
    """A request's `timeout` parameter may lower the default (or set one when there is none)."""
    max_queue_size: int = 0
    """0 means unbounded."""


class DelayMode(enum.Enum):
    """How a version's batching delay is chosen within max_queue_delay_us (delay_tuner.py)."""

    FIXED = "fixed"
    """Always the configured delay, as Triton does."""
    ADAPTIVE = "adaptive"
    """The delay only while requests are expected to join a waiting batch; else none."""
    SLO = "slo"
    """The largest delay that keeps the measured p99 within target_p99_us."""


@dataclass(frozen=True)
class BatchingPolicy:
    """The model's dynamic_batching block, or its absence (enabled=False: one request per batch)."""

    enabled: bool = False
    """True when the config has dynamic_batching."""
    max_queue_delay_us: int = 0
    """How long the first request of a batch may wait for others to join it."""
    preferred_batch_sizes: tuple[int, ...] = ()
    """Sizes the scheduler sends as soon as it has them; each within 1..max_batch_size."""
    preserve_ordering: bool = False
    """Answers leave in the order requests arrived."""
    priority_levels: int = 1
    """Levels are 1..priority_levels; 1 is served first."""
    default_priority_level: int = 1
    """The level of a request that does not name one; within 1..priority_levels."""
    default_queue_policy: QueuePolicy = field(default_factory=QueuePolicy)
    """The policy of every level without its own."""
    priority_queue_policies: dict[int, QueuePolicy] = field(default_factory=dict)
    """Policies of single levels, by level."""
    delay_mode: DelayMode = DelayMode.ADAPTIVE
    """config parameter `queue_delay_mode`; `target_p99_ms` alone implies SLO."""
    target_p99_us: int = 0
    """SLO mode's latency target (config parameter `target_p99_ms`); 0 in the other modes."""

    def queue_policy(self, level: int) -> QueuePolicy:
        return self.priority_queue_policies.get(level, self.default_queue_policy)


class InstanceKind(enum.Enum):
    """Where an instance group asks to run (ModelInstanceGroup.Kind, same numbers)."""

    AUTO = 0
    GPU = 1
    CPU = 2
    MODEL = 3


@dataclass(frozen=True)
class InstanceGroup:
    """count sessions of `kind`; for GPU, one group of `count` per listed device id."""

    name: str
    """The group's name; instances are called '<name>_<index>'."""
    count: int = 1
    """Instances per device; >= 1."""
    kind: InstanceKind = InstanceKind.AUTO
    """Where the group asks to run; runtime/instances.py applies the fallback policy."""
    gpus: tuple[int, ...] = ()
    """GPU device ids (KIND_GPU only); empty: every visible GPU."""


class GraphOptimizationLevel(enum.IntEnum):
    """config optimization.graph.level as Triton's onnxruntime backend reads it."""

    BASIC = -1
    ALL = 0
    """Any level other than -1 and 1, and the default."""
    EXTENDED = 1


@dataclass(frozen=True)
class ExecutionOptions:
    """Session and provider options for ONNX Runtime, from config `parameters` and `optimization`.

    Provider options are ONNX Runtime's own names and values, converted from Triton's; the
    runtime only adds each instance's `device_id`.
    """

    intra_op_threads: int = 0
    """Parameter intra_op_thread_count; 0: chosen so that instances x threads fit the CPU budget."""
    inter_op_threads: int = 0
    """Parameter inter_op_thread_count; 0: one share of the budget in parallel mode, else ORT's."""
    parallel_execution: bool = False
    """Parameter execution_mode: False sequential (0), True parallel (1)."""
    thread_spinning: bool | None = None
    """Parameter thread_spinning: whether ONNX Runtime's pool threads spin between parallel
    sections instead of sleeping; None: only when the sessions leave cores to the rest of the
    process (runtime/threads.py)."""
    graph_optimization_level: GraphOptimizationLevel = GraphOptimizationLevel.ALL
    """config optimization.graph.level."""
    tensorrt_options: dict[str, str] | None = None
    """TensorRT provider options from a `tensorrt` gpu_execution_accelerator (precision_mode and
    Triton's names already converted to trt_* options); None: TensorRT not requested."""
    openvino_options: dict[str, str] | None = None
    """OpenVINO provider options from an `openvino` cpu_execution_accelerator; None: none asked."""
    cuda_options: dict[str, str] = field(default_factory=dict)
    """CUDA provider options: the CUDA keys of config `parameters`, then a `cuda` accelerator's."""
    fallback_to_cpu: bool = True
    """When a GPU provider cannot be used: True warns once and runs on CPU, False fails the load."""
    onnxruntime_extensions: bool = False
    """Parameter onnxruntime_extensions: register the custom operators of the installed
    onnxruntime-extensions package (tokenizers, string ops) in every session."""


class WarmupSource(enum.Enum):
    """Where a warm-up input's values come from (ModelWarmup.Input input_data_type)."""

    ZERO = "zero"
    """Zeros; empty strings for BYTES."""
    RANDOM = "random"
    """Seeded random values, so that runs repeat."""
    FILE = "file"
    """A file's raw bytes, as Triton's input_data_file (BYTES: length-prefixed elements)."""


@dataclass(frozen=True)
class WarmupInput:
    """One input of a warm-up sample."""

    datatype: DataType
    """The model input's datatype."""
    dims: tuple[int, ...]
    """Shape of one batch item; every dim fixed (>= 1), and it fits the input's reshape."""
    source: WarmupSource
    """Where the values come from."""
    path: Path | None = None
    """The data file for WarmupSource.FILE (<model dir>/warmup/<input_data_file>); else None."""


@dataclass(frozen=True)
class WarmupSample:
    """One model_warmup entry: its inputs run `count` times before the version is ready."""

    name: str
    """The entry's name, shown in logs and errors."""
    batch_size: int
    """Rows per run; within 1..max(max_batch_size, 1). Ignored when the model does not batch."""
    inputs: dict[str, WarmupInput]
    """Input name -> its data; every required model input is there."""
    count: int = 1
    """Runs of the sample; >= 1."""


@dataclass(frozen=True)
class ModelSettings:
    """Everything the engine needs about one model version, validated against its ONNX file."""

    name: str
    """The model's name (its directory's)."""
    version: int
    """The version this is."""
    model_path: str
    """The version's ONNX file."""
    max_batch_size: int
    """0: the model does not batch; else the largest batch (first dimension) it takes."""
    inputs: tuple[TensorSpec, ...]
    """Inputs in config order."""
    outputs: tuple[TensorSpec, ...]
    """Outputs in config order."""
    batching: BatchingPolicy
    """How requests are queued and batched."""
    instance_groups: tuple[InstanceGroup, ...]
    """Which sessions to create, as the config asks."""
    execution: ExecutionOptions
    """How each session runs."""
    warmup: tuple[WarmupSample, ...] = ()
    """Samples every instance runs before the version is ready."""
    platform: str = "onnxruntime_onnx"
    """What ModelMetadata reports: "onnxruntime_onnx", or "ensemble" (naiad.ensemble)."""
    response_cache: bool = False
    """Config response_cache.enable: answers may come from the server's response cache."""
    sequence: SequencePolicy | None = None
    """Config sequence_batching: a stateful model served by the sequence batcher; None: not."""

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
