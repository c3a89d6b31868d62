"""Checks of the config's scheduling parts: dynamic batching, queue policies, instances, warm-up."""

from __future__ import annotations

from naiad.config.problems import config_error
from naiad_protocol.model_config_pb2 import (
    DataType,
    ModelConfig,
    ModelDynamicBatching,
    ModelInstanceGroup,
    ModelQueuePolicy,
)

# Durations travel to the native scheduler as signed 64-bit microseconds.
_MAX_US = 2**63 - 1


def check_scheduling(config: ModelConfig) -> None:
    """Raises ModelLoadError for inconsistent batching, queue, instance or warm-up settings."""
    if config.HasField("dynamic_batching"):
        _check_dynamic_batching(config.name, config.max_batch_size, config.dynamic_batching)
    for group in config.instance_group:
        _check_instance_group(config.name, group)
    _check_warmup(config)


def _check_dynamic_batching(
    model: str, max_batch_size: int, batching: ModelDynamicBatching
) -> None:
    for size in batching.preferred_batch_size:
        if size < 1 or size > max_batch_size:
            raise config_error(
                model,
                f"preferred_batch_size {size} must be between 1 and "
                f"max_batch_size ({max_batch_size})",
            )
    if batching.max_queue_delay_microseconds > _MAX_US:
        raise config_error(model, "max_queue_delay_microseconds is too large")
    levels = batching.priority_levels
    if levels == 0:
        if batching.default_priority_level != 0:
            raise config_error(model, "default_priority_level is set but priority_levels is 0")
        if batching.priority_queue_policy:
            raise config_error(model, "priority_queue_policy is set but priority_levels is 0")
    elif not 1 <= batching.default_priority_level <= levels:
        raise config_error(
            model,
            f"default_priority_level {batching.default_priority_level} must be between 1 "
            f"and priority_levels ({levels})",
        )
    for level, policy in batching.priority_queue_policy.items():
        if not 1 <= level <= levels:
            raise config_error(
                model,
                f"priority_queue_policy for level {level} is outside 1..priority_levels ({levels})",
            )
        _check_queue_policy(model, f"priority_queue_policy {level}", policy)
    if batching.HasField("default_queue_policy"):
        _check_queue_policy(model, "default_queue_policy", batching.default_queue_policy)


def _check_queue_policy(model: str, where: str, policy: ModelQueuePolicy) -> None:
    if policy.timeout_action not in ModelQueuePolicy.TimeoutAction.values():
        raise config_error(model, f"{where}: unknown timeout_action {policy.timeout_action}")
    if policy.default_timeout_microseconds > _MAX_US:
        raise config_error(model, f"{where}: default_timeout_microseconds is too large")


def _check_instance_group(model: str, group: ModelInstanceGroup) -> None:
    where = f"instance_group '{group.name}'"
    if group.count < 1:
        raise config_error(model, f"{where}: count must be >= 1, not {group.count}")
    if group.kind not in ModelInstanceGroup.Kind.values():
        raise config_error(model, f"{where}: unknown kind {group.kind}")
    if any(gpu < 0 for gpu in group.gpus):
        raise config_error(model, f"{where}: gpus must be device ids >= 0")
    if group.gpus and group.kind != ModelInstanceGroup.KIND_GPU:
        kind = ModelInstanceGroup.Kind.Name(group.kind)
        raise config_error(model, f"{where}: lists gpus but its kind is {kind}")


def _check_warmup(config: ModelConfig) -> None:
    model = config.name
    inputs = {t.name: t for t in config.input}
    for sample in config.model_warmup:
        where = f"model_warmup '{sample.name}'"
        if not sample.name:
            raise config_error(model, "a model_warmup entry has no name")
        limit = max(config.max_batch_size, 1)
        if not 1 <= sample.batch_size <= limit:
            raise config_error(
                model, f"{where}: batch_size {sample.batch_size} must be between 1 and {limit}"
            )
        for name, data in sample.inputs.items():
            tensor = inputs.get(name)
            if tensor is None:
                raise config_error(model, f"{where}: '{name}' is not an input of the model")
            if data.data_type != tensor.data_type:
                raise config_error(
                    model,
                    f"{where}: input '{name}' has data_type {DataType.Name(data.data_type)}, "
                    f"the model input is {DataType.Name(tensor.data_type)}",
                )
            if data.WhichOneof("input_data_type") is None:
                raise config_error(
                    model,
                    f"{where}: input '{name}' needs zero_data, random_data or input_data_file",
                )
            if any(d < 1 for d in data.dims):
                raise config_error(model, f"{where}: input '{name}' dims must be positive")
        missing = [n for n, t in inputs.items() if not t.optional and n not in sample.inputs]
        if missing:
            raise config_error(model, f"{where}: gives no data for input(s) {', '.join(missing)}")
