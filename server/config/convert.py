"""The one conversion from a completed, validated ModelConfig to typed ModelSettings."""

from __future__ import annotations

from pathlib import Path

from naiad.config.problems import config_error
from naiad.config.settings import (
    Accelerator,
    BatchingPolicy,
    ExecutionOptions,
    InstanceGroup,
    InstanceKind,
    ModelSettings,
    QueuePolicy,
    TensorSpec,
    TimeoutAction,
    WarmupSample,
)
from naiad.datatypes import BY_CONFIG
from naiad.datatypes import DataType as NaiadDataType
from naiad_protocol.model_config_pb2 import (
    DataType,
    ModelConfig,
    ModelDynamicBatching,
    ModelInput,
    ModelOutput,
    ModelQueuePolicy,
    ModelWarmup,
)

# Triton's onnxruntime backend reads these `parameters` keys; naiad keeps their names.
INTRA_OP_THREADS = "intra_op_thread_count"
INTER_OP_THREADS = "inter_op_thread_count"
EXECUTION_MODE = "execution_mode"
FALLBACK_TO_CPU = "fallback_to_cpu"

_EXECUTION_MODES = {"0": False, "sequential": False, "1": True, "parallel": True}
_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def to_settings(config: ModelConfig, version: int, model_path: str) -> ModelSettings:
    """Settings for one version; `config` must be completed and validated already.

    Raises ModelLoadError for execution parameters that do not parse.
    """
    parameters = {key: value.string_value for key, value in config.parameters.items()}
    return ModelSettings(
        name=config.name,
        version=version,
        model_path=model_path,
        max_batch_size=config.max_batch_size,
        inputs=tuple(_tensor(config.name, t) for t in config.input),
        outputs=tuple(_tensor(config.name, t) for t in config.output),
        batching=_batching(config),
        instance_groups=tuple(
            InstanceGroup(name=g.name, count=g.count, kind=InstanceKind(g.kind), gpus=tuple(g.gpus))
            for g in config.instance_group
        ),
        execution=_execution(config, parameters),
        warmup=tuple(
            _warmup(config.name, w, _model_dir(model_path, version)) for w in config.model_warmup
        ),
        parameters=parameters,
    )


def _datatype(model: str, data_type: int) -> NaiadDataType:
    found = BY_CONFIG.get(DataType.Name(data_type))
    if found is None:
        raise config_error(model, f"data_type {DataType.Name(data_type)} is not supported")
    return found


def _tensor(model: str, tensor: ModelInput | ModelOutput) -> TensorSpec:
    return TensorSpec(
        name=tensor.name,
        datatype=_datatype(model, tensor.data_type),
        dims=tuple(tensor.dims),
        reshape=tuple(tensor.reshape.shape) if tensor.HasField("reshape") else None,
        optional=isinstance(tensor, ModelInput) and tensor.optional,
    )


def _batching(config: ModelConfig) -> BatchingPolicy:
    if config.WhichOneof("scheduling_choice") != "dynamic_batching":
        return BatchingPolicy(enabled=False)
    batching: ModelDynamicBatching = config.dynamic_batching
    default_policy = (
        _queue_policy(batching.default_queue_policy)
        if batching.HasField("default_queue_policy")
        else QueuePolicy()
    )
    return BatchingPolicy(
        enabled=True,
        max_queue_delay_us=batching.max_queue_delay_microseconds,
        preferred_batch_sizes=tuple(batching.preferred_batch_size),
        preserve_ordering=batching.preserve_ordering,
        priority_levels=max(batching.priority_levels, 1),
        default_priority_level=batching.default_priority_level or 1,
        default_queue_policy=default_policy,
        priority_queue_policies={
            int(level): _queue_policy(policy)
            for level, policy in batching.priority_queue_policy.items()
        },
    )


def _queue_policy(policy: ModelQueuePolicy) -> QueuePolicy:
    return QueuePolicy(
        timeout_action=TimeoutAction(policy.timeout_action),
        default_timeout_us=policy.default_timeout_microseconds,
        allow_timeout_override=policy.allow_timeout_override,
        max_queue_size=policy.max_queue_size,
    )


def _execution(config: ModelConfig, parameters: dict[str, str]) -> ExecutionOptions:
    model = config.name
    mode = parameters.get(EXECUTION_MODE, "0").strip().lower()
    if mode not in _EXECUTION_MODES:
        raise config_error(
            model, f"parameter {EXECUTION_MODE} must be 'sequential' (0) or 'parallel' (1)"
        )
    fallback = parameters.get(FALLBACK_TO_CPU, "true").strip().lower()
    if fallback not in _BOOLS:
        raise config_error(
            model, f"parameter {FALLBACK_TO_CPU} must be 'true' or 'false', not '{fallback}'"
        )
    optimization = config.optimization
    accelerators = optimization.execution_accelerators
    return ExecutionOptions(
        intra_op_threads=_count(model, parameters, INTRA_OP_THREADS),
        inter_op_threads=_count(model, parameters, INTER_OP_THREADS),
        parallel_execution=_EXECUTION_MODES[mode],
        graph_optimization_level=(
            optimization.graph.level if optimization.HasField("graph") else None
        ),
        gpu_accelerators=tuple(
            Accelerator(a.name, dict(a.parameters)) for a in accelerators.gpu_execution_accelerator
        ),
        cpu_accelerators=tuple(
            Accelerator(a.name, dict(a.parameters)) for a in accelerators.cpu_execution_accelerator
        ),
        fallback_to_cpu=_BOOLS[fallback],
    )


def _count(model: str, parameters: dict[str, str], key: str) -> int:
    text = parameters.get(key, "0").strip()
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise config_error(model, f"parameter {key} must be an integer >= 0, not '{text}'")
    return value


def _warmup(model: str, sample: ModelWarmup, model_dir: Path) -> WarmupSample:
    inputs: dict[str, tuple[str, tuple[int, ...], str, str]] = {}
    for name, data in sample.inputs.items():
        source = data.WhichOneof("input_data_type")
        wire = _datatype(model, data.data_type).wire
        if source == "input_data_file":
            # Triton's layout: warm-up data files live in <model>/warmup/.
            path = str(model_dir / "warmup" / data.input_data_file)
            inputs[name] = (wire, tuple(data.dims), "file", path)
        else:
            inputs[name] = (
                wire,
                tuple(data.dims),
                "random" if source == "random_data" else "zero",
                "",
            )
    return WarmupSample(
        name=sample.name, batch_size=sample.batch_size, inputs=inputs, count=max(sample.count, 1)
    )


def _model_dir(model_path: str, version: int) -> Path:
    path = Path(model_path)
    for parent in path.parents:
        if parent.name == str(version):
            return parent.parent
    return path.parent.parent
